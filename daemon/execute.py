"""Running one job: the task's steps around one constrained generation, fail-closed.

Used by the model worker process, by ``mustelid.testing`` and by ``mustelid eval``, so that all
three run exactly the same code path.
"""

from __future__ import annotations

import time
from typing import Any

from mustelid.tasks import Evidence, JobInput, PermanentError, Task, parse_output

REASK = (
    "That reply was rejected: {problem}. Reply again with one JSON object that fixes this, "
    "using only facts from the text above."
)


def run_job(task: Task, job: JobInput, ctx: Any) -> dict[str, Any]:
    """Prepare, generate, validate, check; one re-ask on a rejected answer; then give up.

    Returns ``{"data", "evidence", "stats"}``; raises a ``JobError`` subclass otherwise.
    """
    started = time.monotonic()
    if job.path is not None and job.mime not in task.accepts:
        # Sniffed from the bytes, not the name: a PDF, ZIP, ELF or EPS renamed .jpg stops here,
        # before any decoder sees it.
        raise PermanentError(
            "unsupported_type",
            f"{job.original_name or 'the file'} is {job.mime or 'of an unknown type'}; "
            f"task {task.name} accepts {', '.join(task.accepts)}",
        )
    evidence: Evidence = task.prepare(job, ctx)
    prepared = time.monotonic()
    stats: dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0, "generations": 0}
    if not task.uses_model:
        result = task.Output.model_validate(task.compute(job, evidence, ctx).model_dump())
        problems = task.check(result, evidence)
        if problems:
            raise PermanentError("check_failed", "; ".join(problems))
        stats["duration_s"] = round(time.monotonic() - started, 3)
        return {"data": result.model_dump(mode="json"), "evidence": evidence.data,
                "stats": stats}
    messages = task.messages(job, evidence, ctx)
    schema = task.schema(evidence)
    problem = ""
    for attempt in range(2):
        gen = ctx.backend.generate(messages, schema, task.max_tokens)
        stats["prompt_tokens"] += gen.prompt_tokens
        stats["completion_tokens"] += gen.completion_tokens
        stats["generations"] += 1
        stats["model_id"] = gen.model_id
        try:
            result = parse_output(task.Output, gen)
            problems = task.check(result, evidence)
            if problems:
                raise PermanentError("check_failed", "; ".join(problems))
        except PermanentError as e:
            problem = f"{e.reason}: {e.message}"
            if attempt == 0 and e.reason != "truncated_output":
                messages = messages + [
                    {"role": "assistant", "content": gen.text},
                    {"role": "user", "content": REASK.format(problem=e.message)},
                ]
                continue
            raise PermanentError(e.reason, f"{e.message} (after {attempt + 1} tries)") from None
        stats["prepare_s"] = round(prepared - started, 3)
        stats["duration_s"] = round(time.monotonic() - started, 3)
        stats["reasked"] = attempt == 1
        if attempt == 1:
            stats["first_problem"] = problem
        return {
            "data": result.model_dump(mode="json"),
            "evidence": evidence.data,
            "stats": stats,
        }
    raise AssertionError("unreachable")
