"""Task ``auto`` itself: prepare every candidate, choose one, hand the file to it, persist
through it."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mustelid import (Delegation, Evidence, JobError, JobInput, OcrLine, PermanentError, Task,
                      TaskContext, capabilities, parse_output, reading_order,
                      validation_error_summary)

from .choice import NOT_MINE, Candidate, decided_by_evidence, fit
from .ignore import IGNORE, OTHER, Ignore, ignore_schema
from .prompt import fold, menu, numbered

log = logging.getLogger("mustelid.plugins.router")

NAME = "auto"
KIND_TOKENS = 16         # {"kind": "<one of the offered names>"}


class Call(BaseModel):
    """What the model generates: the kind of file (a task name, or ``other``), that task's
    function name and its arguments (checked against the task's ``Output`` in ``check``)."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=64)
    name: str = Field(max_length=64)
    arguments: dict[str, Any]


class Kind(BaseModel):
    """The model's answer to the router's question: which kind of file this is."""

    model_config = ConfigDict(extra="forbid")
    kind: str = Field(max_length=64)


class RoutedCall(Call):
    """The stored result. ``task`` is filled by code (``delegated``: the chosen task; ``check``:
    None for ``ignore``), never by the model, so that ``persist``, which runs in the daemon
    without the evidence, knows whom to delegate to."""

    task: str | None = None


@dataclasses.dataclass
class RouterEvidence(Evidence):
    """Evidence plus the live candidates (by task name); only ``data`` is stored."""

    candidates: dict[str, Candidate] = dataclasses.field(default_factory=dict)


class Router(Task):
    name = NAME
    function = "choose_function"
    description = "Choose what to do with a file dropped in the inbox, and do it."
    version = "2"            # 2: the chosen task answers with its own prompt (was one union call)
    input_kind = "image"
    Output = RoutedCall
    prompt = "router"
    routable = False
    accepts = Task.accepts + ("text/plain",)
    # The router's own call only ignores: {"kind": "other", "name": "ignore", "arguments":
    # {"reason": <60 characters at most>}}. The chosen task's call has the task's own budget.
    max_tokens = 96

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
        fits = {name: fit(c) for name, c in candidates.items()}
        for name in [n for n, f in fits.items() if f == NOT_MINE]:
            dropped[name] = "not_its_kind: the task read the file and says it is not its kind"
            del candidates[name], fits[name]
        if not candidates:
            detail = "; ".join(f"{k}: {v}" for k, v in dropped.items()) or "no task is installed"
            raise PermanentError("no_task_applies", f"no task accepts this file ({detail})")
        # A candidate that saw the picture (a vision model: mustelid.capabilities) wrote its
        # evidence for a model that sees it; the kind question shows the model the picture too.
        images = next((c.evidence.images for c in candidates.values() if c.evidence.images), [])
        route: dict[str, Any] = {"fits": {n: f for n, f in fits.items() if f is not None}}
        sure = decided_by_evidence(fits)
        if sure:
            route.update(kind=sure, by="evidence")
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
                  "dropped": dropped, "route": route},
            candidates=candidates,
        )

    def _prepare_candidates(self, job: JobInput, ctx: TaskContext
                            ) -> tuple[dict[str, Candidate], dict[str, str]]:
        """Each candidate's own evidence, by task name; and the tasks left out, with why."""
        candidates: dict[str, Candidate] = {}
        dropped: dict[str, str] = {}
        for task in self.candidates_for(ctx.host, job.mime):
            if task.name in {OTHER, *candidates}:
                dropped[task.name] = f"duplicate_name: {task.name!r} is taken"
                continue
            try:
                evidence = task.prepare(dataclasses.replace(job, task=task.name), ctx)
            except PermanentError as e:      # "not_a_receipt": this task does not apply
                dropped[task.name] = f"{e.reason}: {e.message}"
                continue
            except JobError:                 # waiting / transient: the whole job waits or retries
                raise
            except Exception as e:           # one broken plugin must not block the others
                log.warning("router: task %s failed to prepare: %r", task.name, e)
                dropped[task.name] = f"plugin_error: {type(e).__name__}: {e}"[:300]
                continue
            candidates[task.name] = Candidate(task, evidence)
        return candidates, dropped

    # -- choosing: the tasks' own evidence first, then a one-word question ----------------------

    def delegate(self, job: JobInput, evidence: RouterEvidence,
                 ctx: TaskContext) -> Delegation | None:
        """The task the file goes to: the one whose evidence is sure of it, else the kind the
        model names. It then answers with its own prompt, exactly as from its own folder.
        None (the model said ``other``): the router's own call files nothing, with a reason."""
        route = evidence.data["route"]
        if "kind" not in route:
            route.update(self._ask_kind(job, evidence, ctx), by="model")
        chosen = evidence.candidates.get(route["kind"])
        if chosen is None:
            return None
        return Delegation(chosen.task, chosen.evidence)

    def _ask_kind(self, job: JobInput, evidence: RouterEvidence,
                  ctx: TaskContext) -> dict[str, Any]:
        """One constrained choice among the candidates' names and ``other``: a handful of
        tokens after the router's prompt."""
        kinds = [*evidence.candidates, OTHER]
        schema = {"type": "object", "properties": {"kind": {"type": "string", "enum": kinds}},
                  "required": ["kind"], "additionalProperties": False}
        messages = self.messages(job, evidence, ctx)
        if evidence.images and capabilities(ctx.backend).vision:
            gen = ctx.backend.generate(messages, schema, KIND_TOKENS, images=evidence.images)
        else:
            gen = ctx.backend.generate(messages, schema, KIND_TOKENS)
        answer = parse_output(Kind, gen)
        if answer.kind not in kinds:
            raise PermanentError("schema_violation", f"{answer.kind!r} is not an offered kind")
        return {"kind": answer.kind, "p": (gen.confidence or {}).get("kind"),
                "prompt_tokens": gen.prompt_tokens, "seconds": round(gen.seconds, 3)}

    def delegated(self, delegation: Delegation, data: dict[str, Any],
                  evidence: RouterEvidence) -> RoutedCall:
        task = delegation.task
        evidence.data["chosen"] = {"kind": task.name, "function": task.function}
        evidence.data["task_evidence"] = delegation.evidence.data
        return RoutedCall(kind=task.name, name=task.function, arguments=data, task=task.name)

    # -- the router's own call: only when the model said ``other`` ------------------------------

    def schema(self, evidence: RouterEvidence) -> dict[str, Any]:
        return ignore_schema()

    def check(self, result: RoutedCall, evidence: RouterEvidence) -> list[str]:
        if result.kind != OTHER or result.name != IGNORE:
            raise PermanentError("schema_violation", f"{result.kind!r} / {result.name!r}: "
                                 "the router's own call only ignores")
        try:
            Ignore.model_validate(result.arguments)
        except ValidationError as e:
            raise PermanentError("schema_violation",
                                 f"ignore: {validation_error_summary(e)}") from None
        result.task = None
        evidence.data["chosen"] = {"kind": OTHER, "function": IGNORE}
        return []

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
