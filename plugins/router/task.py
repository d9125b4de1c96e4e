"""Task ``auto`` itself: prepare every candidate, check the chosen call, persist through it."""

from __future__ import annotations

import copy
import dataclasses
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mustelid import (Evidence, JobError, JobInput, OcrLine, PermanentError, Task, TaskContext,
                      reading_order, validation_error_summary)

from .prompt import fold, menu, numbered
from .union import IGNORE, OTHER, Candidate, Ignore, drop_unenforceable, inline_refs, union_schema

log = logging.getLogger("mustelid.plugins.router")

NAME = "auto"
ENVELOPE_TOKENS = 32     # {"kind": "...", "name": "...", "arguments": ...}


class Call(BaseModel):
    """What the model generates: the kind of file (a task name, or ``other``), that task's
    function name and its arguments (checked against the task's ``Output`` in ``check``)."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=64)
    name: str = Field(max_length=64)
    arguments: dict[str, Any]


class RoutedCall(Call):
    """The stored result. ``task`` is filled by ``check`` (never by the model) so that
    ``persist``, which runs in the daemon without the evidence, knows whom to delegate to."""

    task: str | None = None


@dataclasses.dataclass
class RouterEvidence(Evidence):
    """Evidence plus the live candidates (by task name); only ``data`` is stored."""

    candidates: dict[str, Candidate] = dataclasses.field(default_factory=dict)


class Router(Task):
    name = NAME
    function = "choose_function"
    description = "Choose what to do with a file dropped in the inbox, and do it."
    version = "1"
    input_kind = "image"
    Output = RoutedCall
    prompt = "router"
    routable = False
    accepts = Task.accepts + ("text/plain",)
    # A cap, not a cost: every branch is bounded and stops far earlier. A candidate that needs
    # more than this (minus the envelope) is not offered rather than cut off.
    max_tokens = 1024

    def __init__(self) -> None:
        self._host: Any = None

    def bind(self, host: Any) -> None:
        """Tell the router which host's tasks ``persist`` delegates to: the daemon's, at
        ``startup``; in a process that runs the job itself, ``prepare`` binds ``ctx.host``."""
        self._host = host

    # -- worker side ----------------------------------------------------------------------------

    def candidates_for(self, host: Any, mime: str | None) -> list[Task]:
        """Installed tasks the router may offer for a file of this type, by name (a stable
        order: position in the prompt sways a small model)."""
        out = []
        for task in sorted(host.tasks.values(), key=lambda t: t.name):
            if task is self or task.name == self.name or not getattr(task, "routable", True):
                continue
            if task.input_kind != "image" or not task.uses_model:
                continue
            if mime and mime not in task.accepts:
                continue
            out.append(task)
        return out

    def prepare(self, job: JobInput, ctx: TaskContext) -> RouterEvidence:
        if not job.path:
            raise PermanentError("no_input", "the router needs a file")
        self._host = ctx.host        # the host that holds this router; persist delegates to it
        if job.mime == "text/plain":
            # A note saved as text: its own lines, offered to the tasks that read text.
            lines = [OcrLine(fold(t), (0, 0, 0, 0), 1.0) for t in _text_lines(job.path)
                     if fold(t)]
            size = "text"
        else:
            image = ctx.load_image(job.path)        # raises PermanentError("unreadable_image")
            size = f"{image.size[0]}x{image.size[1]}"
            lines = reading_order([OcrLine(fold(l.text), l.box, l.score)
                                   for l in ctx.ocr(job.path) if fold(l.text)])
        text = "\n".join(l.text for l in lines)
        candidates, dropped = self._prepare_candidates(job, ctx)
        if not candidates:
            detail = "; ".join(f"{k}: {v}" for k, v in dropped.items()) or "no task is installed"
            raise PermanentError("no_task_applies", f"no task accepts this file ({detail})")
        drop_unenforceable(candidates, dropped, ctx)
        if not candidates:
            detail = "; ".join(f"{k}: {v}" for k, v in dropped.items())
            raise PermanentError("grammar_unavailable", detail)
        # A candidate that saw the picture (a vision model: mustelid.capabilities) wrote its
        # schema for a model that sees it; the one call that fills its arguments must see it too.
        images = next((c.evidence.images for c in candidates.values() if c.evidence.images), [])
        return RouterEvidence(
            text=text,
            images=list(images),
            variables={
                "file": job.original_name or "(unnamed)",
                "image": f"{size} {job.mime or 'image'}"
                + ("; the picture itself is attached" if images else ""),
                "lines": numbered(lines) or "(no text found)",
                "kinds": menu(candidates),
            },
            data={"candidates": {name: c.task.function for name, c in candidates.items()},
                  "dropped": dropped},
            candidates=candidates,
        )

    def _prepare_candidates(self, job: JobInput, ctx: TaskContext
                            ) -> tuple[dict[str, Candidate], dict[str, str]]:
        """Each candidate's own evidence and per-file schema, by task name; and the tasks left
        out, with why."""
        candidates: dict[str, Candidate] = {}
        dropped: dict[str, str] = {}
        for task in self.candidates_for(ctx.host, job.mime):
            taken = {OTHER, *candidates}, {IGNORE, *(c.task.function for c in candidates.values())}
            if task.name in taken[0] or task.function in taken[1]:
                dropped[task.name] = f"duplicate_name: {task.name!r}/{task.function!r} is taken"
                continue
            if task.max_tokens + ENVELOPE_TOKENS > self.max_tokens:
                dropped[task.name] = f"too_long: max_tokens {task.max_tokens} exceeds the router's"
                continue
            try:
                evidence = task.prepare(dataclasses.replace(job, task=task.name), ctx)
                schema = inline_refs(task.schema(evidence))
            except PermanentError as e:      # "not_a_receipt": this task does not apply
                dropped[task.name] = f"{e.reason}: {e.message}"
                continue
            except JobError:                 # waiting / transient: the whole job waits or retries
                raise
            except Exception as e:           # one broken plugin must not block the others
                log.warning("router: task %s failed to prepare: %r", task.name, e)
                dropped[task.name] = f"plugin_error: {type(e).__name__}: {e}"[:300]
                continue
            candidates[task.name] = Candidate(task, evidence, schema)
        return candidates, dropped

    def schema(self, evidence: RouterEvidence) -> dict[str, Any]:
        return union_schema(evidence.candidates)

    def check(self, result: RoutedCall, evidence: RouterEvidence) -> list[str]:
        # check can run twice (one re-ask): forget what the first answer chose.
        for key in ("chosen", "raw_arguments", "task_evidence"):
            evidence.data.pop(key, None)
        if result.kind == OTHER and result.name == IGNORE:
            try:
                Ignore.model_validate(result.arguments)
            except ValidationError as e:
                raise PermanentError("schema_violation",
                                     f"ignore: {validation_error_summary(e)}") from None
            result.task = None
            evidence.data["chosen"] = {"kind": OTHER, "function": IGNORE}
            return []
        candidate = evidence.candidates.get(result.kind)
        if candidate is None or candidate.task.function != result.name:
            # The grammar pairs each kind with its function; anything else did not come from it.
            raise PermanentError("schema_violation", f"{result.kind!r} / {result.name!r} is not "
                                 "one of the offered kinds and functions")
        task = candidate.task
        try:
            arguments = task.Output.model_validate(result.arguments)
        except ValidationError as e:
            raise PermanentError("schema_violation",
                                 f"{result.name}: {validation_error_summary(e)}") from None
        evidence.data["chosen"] = {"kind": task.name, "function": result.name}
        evidence.data["raw_arguments"] = copy.deepcopy(result.arguments)
        # How sure the model was of each argument (a choice-decoding backend reports it per
        # field path, "arguments.total"): the chosen task reads it as it would had the file
        # come to it directly, e.g. for receipts' confidence.
        sure = {path.split(".", 1)[1]: p
                for path, p in (evidence.data.get("model_confidence") or {}).items()
                if path.startswith("arguments.")}
        candidate.evidence.data.pop("model_confidence", None)
        if sure:
            candidate.evidence.data["model_confidence"] = sure
        problems = task.check(arguments, candidate.evidence)   # may raise, e.g. not_a_receipt
        if problems:
            return [f"{result.name}: {p}" for p in problems]
        # Store the arguments as the chosen task validated and checked them (a check may fill
        # code-derived fields, like receipts' provenance), with the chosen task's evidence.
        result.task = task.name
        result.arguments = arguments.model_dump(mode="json")
        evidence.data["task_evidence"] = candidate.evidence.data
        return []

    def confidence(self, result: RoutedCall) -> float | None:
        if result.name == IGNORE or not result.task or self._host is None:
            return None
        task = self._chosen_task(result.task)
        return task.confidence(task.Output.model_validate(result.arguments))

    def review_needed(self, result: RoutedCall, evidence: RouterEvidence) -> str | None:
        """The chosen task decides whether its answer is sure enough to file, as it would had
        the file been routed to it by folder."""
        candidate = evidence.candidates.get(result.task or "")
        if result.name == IGNORE or candidate is None:
            return None
        task = candidate.task
        return task.review_needed(task.Output.model_validate(result.arguments),
                                  candidate.evidence)

    # -- mustelid eval: did the file go to the task its labels belong to? ----------------------

    def eval_truth(self, labels: dict[str, Any]) -> dict[str, Any]:
        """Any task's labels: which task they belong to is decided in ``eval_score``, when the
        host whose tasks can read them is bound (``prepare`` binds it)."""
        return {"labels": labels} if labels else {}

    def eval_score(self, truth: dict[str, Any], data: dict[str, Any] | None, *,
                   reason: str | None = None, evidence: Any = None) -> tuple[dict, dict]:
        """``route``: the file went to the one installed task whose labels these are. Then the
        chosen task's own scores of the answer it got through the router (a wrong route scores
        as no answer), so a folder of receipts gives receipts' fields either way."""
        labels = truth["labels"]
        owners = [t for t in (self._host.tasks.values() if self._host else [])
                  if t.name != self.name and getattr(t, "routable", True) and t.eval_truth(labels)]
        expected = owners[0] if len(owners) == 1 else None
        got = (data or {}).get("task") or ((data or {}).get("name") if data else None)
        right = expected is not None and got == expected.name
        counters: dict[str, tuple[int, int]] = {"route": (int(right), 1)}
        detail: dict[str, dict[str, Any]] = {"route": {
            "expected": expected.name if expected else None, "got": got, "match": right,
            **({"why": f"routed to {got or reason or 'nothing'}, labels are "
                       f"{expected.name if expected else 'no single task'}'s"}
               if not right else {})}}
        if expected is not None:
            task_data = (data or {}).get("arguments") if right else None
            task_counters, task_detail = expected.eval_score(
                expected.eval_truth(labels), task_data, reason=reason,
                evidence=((evidence or {}).get("task_evidence") if right else None))
            counters.update(task_counters)
            detail.update(task_detail)
        return counters, detail

    # -- daemon side ----------------------------------------------------------------------------

    def persist(self, db: Any, job: dict[str, Any], result: RoutedCall) -> None:
        if result.name == IGNORE or not result.task:
            return                                  # ignored: the result row is the record
        task = self._chosen_task(result.task)
        task.persist(db, job, task.Output.model_validate(result.arguments))

    def filed_as(self, result: RoutedCall) -> str | None:
        return None if result.name == IGNORE else result.task

    def _chosen_task(self, name: str) -> Task:
        """The task ``persist`` delegates to, from the bound host (see ``bind``). Missing, the
        commit fails rather than store a result whose rows were never written."""
        if self._host is None:
            raise PermanentError("unknown_task", f"cannot file into task {name!r}: no host is "
                                 "bound (the daemon's startup or prepare binds one)")
        task = self._host.tasks.get(name)
        if task is None:        # uninstalled between the worker's answer and this commit
            raise PermanentError("unknown_task", f"task {name!r} is no longer installed")
        return task


def _text_lines(path: str, limit: int = 200_000) -> list[str]:
    """A text file's lines (UTF-8, or UTF-16 with a byte-order mark), its first ``limit``
    bytes: enough to choose a task; the chosen task reads the file itself."""
    with open(path, "rb") as f:
        data = f.read(limit)
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    return data.decode(encoding, errors="replace").splitlines()
