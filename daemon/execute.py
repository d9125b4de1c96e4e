"""Running one job: the task's steps around one constrained generation, fail-closed.

Used by the model worker process, by ``mustelid.testing`` and by ``mustelid eval``, so that all
three run exactly the same code path.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from pydantic import BaseModel

from mustelid.tasks import (Delegation, Evidence, Generation, JobInput, PermanentError, Task,
                            capabilities, parse_output)

REASK = (
    "That reply was rejected: {problem}. Reply again with one JSON object that fixes this, "
    "using only facts from the text above."
)


class NeedsReview(PermanentError):
    """A well-formed answer that still fails the task's semantic checks after the re-ask.

    Not dead: the answer may be right where the checks are too strict (a total with an unusual
    label), or nearly right. The job waits in ``needs_review`` for a person, with the model's raw
    reply, its parsed fields and the problems kept (``mustelid review``). Subclassing
    ``PermanentError`` keeps callers that only know the older errors fail-closed.
    """

    def __init__(self, message: str, *, data: dict[str, Any], raw: str,
                 problems: list[str], evidence: dict[str, Any], stats: dict[str, Any],
                 reason: str = "check_failed"):
        super().__init__(reason, message)
        self.review = {"data": data, "raw": raw, "problems": problems,
                       "evidence": evidence, "stats": stats}


def run_job(task: Task, job: JobInput, ctx: Any) -> dict[str, Any]:
    """Prepare, generate, validate, check; one re-ask on a rejected answer; then give up.

    Returns ``{"data", "evidence", "stats"}``; raises a ``JobError`` subclass otherwise:
    ``NeedsReview`` when the answer is valid JSON of the right shape but still fails ``check``
    after the re-ask, ``PermanentError`` when it is not even that (fail-closed).
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
    _stage(ctx, "reading")
    evidence: Evidence = task.prepare(job, ctx)
    prepared = time.monotonic()
    stats: dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0, "generations": 0}
    if not task.uses_model:
        _stage(ctx, "computing")
        result = task.Output.model_validate(task.compute(job, evidence, ctx).model_dump())
        _stage(ctx, "checking")
        problems = task.check(result, evidence)
        if problems:
            raise PermanentError("check_failed", "; ".join(problems))
        stats["duration_s"] = round(time.monotonic() - started, 3)
        return _answer(result, evidence, stats)
    delegation = task.delegate(job, evidence, ctx)
    if delegation is None:
        result, reasked, problem = _answered(task, job, evidence, ctx, stats, started)
    else:
        result, reasked, problem = _delegated(task, delegation, job, evidence, ctx, stats,
                                              started)
    stats["prepare_s"] = round(prepared - started, 3)
    stats["duration_s"] = round(time.monotonic() - started, 3)
    stats["reasked"] = reasked
    if reasked:
        stats["first_problem"] = problem
    return _answer(result, evidence, stats)


def _delegated(task: Task, delegation: Delegation, job: JobInput, evidence: Evidence,
               ctx: Any, stats: dict[str, Any], started: float) -> tuple[BaseModel, bool, str]:
    """The delegate answers with its own prompt, schema, checks and review; ``task`` wraps the
    answer (also one held for review, so that approving it files it through ``task``)."""
    chosen = delegation.task
    stats["delegated_to"] = chosen.name
    try:
        result, reasked, problem = _answered(chosen, dataclasses.replace(job, task=chosen.name),
                                             delegation.evidence, ctx, stats, started)
    except NeedsReview as e:
        e.review["data"] = task.delegated(delegation, e.review["data"], evidence).model_dump(
            mode="json")
        e.review["evidence"] = _stored(evidence)
        raise
    return task.delegated(delegation, result.model_dump(mode="json"), evidence), reasked, problem


def _answered(task: Task, job: JobInput, evidence: Evidence, ctx: Any, stats: dict[str, Any],
              started: float) -> tuple[BaseModel, bool, str]:
    """``_generate`` on the evidence, or on each of its parts in turn, joined by the task. A
    part held for review holds the whole input, with what the parts before it found."""
    if not evidence.parts:
        return _generate(task, job, evidence, ctx, stats, started)
    results: list[BaseModel] = []
    reasked, problem = False, ""
    for part in evidence.parts:
        try:
            result, again, why = _generate(task, job, part, ctx, stats, started)
        except NeedsReview as e:
            held = task.Output.model_validate(e.review["data"])
            e.review["data"] = task.joined(results + [held], evidence).model_dump(mode="json")
            e.review["evidence"] = _stored(evidence)
            raise
        results.append(result)
        reasked, problem = reasked or again, problem or why
    stats["parts"] = len(results)
    return task.joined(results, evidence), reasked, problem


def _generate(task: Task, job: JobInput, evidence: Evidence, ctx: Any, stats: dict[str, Any],
              started: float) -> tuple[BaseModel, bool, str]:
    """The constrained generation and its checks, re-asking once. Returns the accepted result,
    whether it took the re-ask, and the first answer's problem."""
    _stage(ctx, "model")
    messages = task.messages(job, evidence, ctx)
    schema = task.schema(evidence)
    problem = first_problem = ""
    for attempt in range(2):
        _stage(ctx, "model (re-ask)" if attempt else "model")
        gen = _generate_once(task, ctx, messages, schema, evidence, stats)
        _stage(ctx, "checking")
        problems = []
        try:
            result = parse_output(task.Output, gen)
            problems = task.check(result, evidence)
            if problems:
                raise PermanentError("check_failed", "; ".join(problems))
        except PermanentError as e:
            problem = f"{e.reason}: {e.message}"
            if attempt == 1 and e.reason == "check_failed" and problems:
                stats["duration_s"] = round(time.monotonic() - started, 3)
                stats["first_problem"] = first_problem
                raise NeedsReview(
                    f"{e.message} (after 2 tries)", data=result.model_dump(mode="json"),
                    raw=gen.text, problems=problems, evidence=_stored(evidence), stats=stats,
                ) from None
            first_problem = problem
            if attempt == 0 and e.reason != "truncated_output":
                messages = messages + [
                    {"role": "assistant", "content": gen.text},
                    {"role": "user", "content": REASK.format(problem=e.message)},
                ]
                continue
            raise PermanentError(e.reason, f"{e.message} (after {attempt + 1} tries)") from None
        confidence = task.confidence(result)
        if confidence is not None:
            stats["confidence"] = confidence
        doubt = task.review_needed(result, evidence)
        if doubt:
            # Checked, but not sure enough to file unseen: a person confirms it. No re-ask:
            # asking again does not make a doubtful reading of the same text surer.
            stats["duration_s"] = round(time.monotonic() - started, 3)
            raise NeedsReview(doubt, data=result.model_dump(mode="json"), raw=gen.text,
                              problems=[doubt], evidence=_stored(evidence), stats=stats,
                              reason="low_confidence")
        return result, attempt == 1, problem
    raise AssertionError("unreachable")


def _generate_once(task: Task, ctx: Any, messages: list[dict[str, str]], schema: dict[str, Any],
                   evidence: Evidence, stats: dict[str, Any]) -> Generation:
    if evidence.images:
        # Only to a backend that says it can see: one that cannot refuses the job rather
        # than answer as if the image were not there.
        if not capabilities(ctx.backend).vision:
            raise PermanentError(
                "vision_unavailable", f"task {task.name!r} sent an image, and the configured "
                "backend cannot see images")
        gen = ctx.backend.generate(messages, schema, task.max_tokens, images=evidence.images)
    else:
        gen = ctx.backend.generate(messages, schema, task.max_tokens)
    stats["prompt_tokens"] += gen.prompt_tokens
    stats["completion_tokens"] += gen.completion_tokens
    stats["generations"] += 1
    stats["model_id"] = gen.model_id
    # How sure the model was of each value it chose (backends that decode by choices): the
    # task's check may keep it with the value, e.g. in provenance.
    evidence.data.pop("model_confidence", None)
    if gen.confidence:
        evidence.data["model_confidence"] = gen.confidence
    return gen


def _stage(ctx: Any, stage: str) -> None:
    """Tell the context what the job is doing (``WorkerContext.mark_stage``: the worker passes
    it on to ``mustelid status``); a context without it is simply not told."""
    mark = getattr(ctx, "mark_stage", None)
    if mark is not None:
        mark(stage)


def _answer(result: BaseModel, evidence: Evidence, stats: dict[str, Any]) -> dict[str, Any]:
    return {"data": result.model_dump(mode="json"), "evidence": _stored(evidence), "stats": stats}


def _stored(evidence: Evidence) -> dict[str, Any]:
    """The evidence kept with the result: the task's ``data`` and, as ``source_text``, the
    input's text (``Evidence.text``), which ``mustelid search`` indexes beside the answer."""
    if not evidence.text:
        return evidence.data
    return {**evidence.data, "source_text": evidence.text}
