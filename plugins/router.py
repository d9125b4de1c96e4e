"""Task ``auto``: function calling for files dropped in the inbox root.

One schema-constrained call in which the model *chooses the function* and fills its arguments.
The schema is a union (``anyOf``) with one branch per installed task that takes this file —
``{"kind": {"const": task.name}, "name": {"const": task.function}, "arguments": <that task's
schema for this file>}`` — plus ``{"kind": "other", "name": "ignore", "arguments": {"reason"}}``.
The branches come from ``ctx.host.tasks`` at run time, so a third-party task joins the choice by
being installed.

Why ``kind`` comes first: measured on the 0.5B default model, asked to pick a *function*
(``record_expense`` / ``describe_screenshot``...) it chose the first one listed for almost any
image (every screenshot showing an amount became an expense); asked "which kind of image is it?"
with the tasks' names (``receipts`` / ``screenshots`` / ``todos`` / ``other``) it told them apart.
So the model names the kind, the grammar then forces that kind's function name, and the
arguments follow in the same generation.

Each candidate's per-file schema needs its evidence, so ``prepare`` runs every candidate's own
``prepare`` (OCR is cached per path in the worker) and ``schema``. A candidate that refuses the
file (``PermanentError``, e.g. ``not_a_receipt``) or breaks is dropped from the union; if every
candidate refused, the job ends ``dead`` with reason ``no_task_applies`` without a model call.

After generation the chosen task's ``Output`` validates the arguments and its ``check`` runs
against its own evidence; ``persist`` delegates to the chosen task, so an expense chosen here
lands in ``expenses`` exactly as if the file had been routed to ``receipts``.

The stored result is ``{"kind", "name", "arguments", "task"}``: what the model chose, the
arguments as the chosen task validated and checked them, and ``task`` (filled by code: the task
the file was given to, ``null`` when ignored). The model's raw arguments, the chosen task's
evidence and the candidates dropped before the call are in the job's evidence.

``ignore`` is an answer, not a failure: the job ends ``done`` with the result
``{"kind": "other", "name": "ignore", "arguments": {"reason": ...}}`` and no task rows, so the
decision and its reason stay visible (``mustelid show``, ``mustelid search``) while ``mustelid
jobs --state dead`` keeps listing only what went wrong.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mustelid import Evidence, JobInput, PermanentError, Task, hookimpl
from mustelid.ocr import OcrLine, reading_order
from mustelid.tasks import JobError, _short_validation_error

log = logging.getLogger(__name__)

NAME = "auto"
IGNORE = "ignore"        # the function that files nothing
OTHER = "other"          # its kind
# The router's prompt shows the OCR text once for all candidates, as numbered lines: ~11 tokens
# a line, so 48 lines are ~530 tokens (~2 s of prefill at ~250 tok/s). Longer texts show their
# head (titles, a shop's name) and tail (a receipt's totals); the middle matters least.
MAX_LINES_SHOWN = 48
LINE_CHARS = 90
MAX_HINT_CHARS = 600
ENVELOPE_TOKENS = 32     # {"kind": "...", "name": "...", "arguments": ...}


class Ignore(BaseModel):
    """The arguments of ``ignore``: a short reason, bounded so a small model cannot ramble."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=60)


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
class Candidate:
    task: Task
    evidence: Evidence
    schema: dict[str, Any]


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
    # A cap, not a cost: every branch is bounded and stops far earlier. A candidate that needs
    # more than this (minus the envelope) is not offered rather than cut off.
    max_tokens = 1024

    def __init__(self) -> None:
        self._host: Any = None

    def bind(self, host: Any) -> None:
        """Tell the router which host's tasks ``persist`` delegates to (daemon ``startup``)."""
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

    def prepare(self, job: JobInput, ctx: Any) -> RouterEvidence:
        if not job.path:
            raise PermanentError("no_input", "the router needs an image file")
        self._host = ctx.host        # the host that holds this router; persist delegates to it
        image = ctx.load_image(job.path)        # raises PermanentError("unreadable_image")
        width, height = image.size
        lines = reading_order([OcrLine(_fold(l.text), l.box, l.score)
                               for l in ctx.ocr(job.path) if _fold(l.text)])
        text = "\n".join(l.text for l in lines)
        candidates, dropped = self._prepare_candidates(job, ctx)
        if not candidates:
            detail = "; ".join(f"{k}: {v}" for k, v in dropped.items()) or "no task is installed"
            raise PermanentError("no_task_applies", f"no task accepts this file ({detail})")
        _drop_unenforceable(candidates, dropped, ctx)
        if not candidates:
            detail = "; ".join(f"{k}: {v}" for k, v in dropped.items())
            raise PermanentError("grammar_unavailable", detail)
        return RouterEvidence(
            text=text,
            variables={
                "file": job.original_name or "(unnamed)",
                "image": f"{width}x{height} {job.mime or 'image'}",
                "lines": _numbered(lines) or "(no text found)",
                "kinds": _menu(candidates),
            },
            data={"candidates": {name: c.task.function for name, c in candidates.items()},
                  "dropped": dropped},
            candidates=candidates,
        )

    def _prepare_candidates(self, job: JobInput, ctx: Any
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
                                     f"ignore: {_short_validation_error(e)}") from None
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
                                 f"{result.name}: {_short_validation_error(e)}") from None
        evidence.data["chosen"] = {"kind": task.name, "function": result.name}
        evidence.data["raw_arguments"] = copy.deepcopy(result.arguments)
        problems = task.check(arguments, candidate.evidence)   # may raise, e.g. not_a_receipt
        if problems:
            return [f"{result.name}: {p}" for p in problems]
        # Store the arguments as the chosen task validated and checked them (a check may fill
        # code-derived fields, like receipts' provenance), with the chosen task's evidence.
        result.task = task.name
        result.arguments = arguments.model_dump(mode="json")
        evidence.data["task_evidence"] = candidate.evidence.data
        return []

    # -- daemon side ----------------------------------------------------------------------------

    def persist(self, db: Any, job: dict[str, Any], result: RoutedCall) -> None:
        if result.name == IGNORE or not result.task:
            return                                  # ignored: the result row is the record
        task = self._tasks().get(result.task)
        if task is None:
            # Uninstalled between the worker's answer and this commit: fail the transaction
            # rather than store a result whose rows were never written.
            raise PermanentError("unknown_task", f"task {result.task!r} is no longer installed")
        task.persist(db, job, task.Output.model_validate(result.arguments))

    def _tasks(self) -> dict[str, Task]:
        if self._host is None:
            # Not started by a daemon (a script, an eval): load the plugins the config names.
            from mustelid.config import load_config
            from mustelid.host import Host

            log.info("router: no host bound; loading plugins to persist")
            self._host = Host(load_config().plugins_path)
        return self._host.tasks


# ---------------------------------------------------------------------------------------------
# The union schema


def union_schema(candidates: dict[str, Candidate]) -> dict[str, Any]:
    """``anyOf`` of ``{"kind": task name, "name": function, "arguments": schema}`` per candidate,
    then ``{"kind": "other", "name": "ignore", ...}``.

    Branch schemas must have no ``$ref`` left (see ``inline_refs``): llama-cpp-python's converter
    names a referenced rule after the ref's last segment only, so two tasks each defining
    ``$defs/Item`` would silently share one rule.
    """
    branches = [_branch(name, c.task.function, c.schema) for name, c in candidates.items()]
    branches.append(_branch(OTHER, IGNORE, inline_refs(Ignore.model_json_schema())))
    return {"anyOf": branches}


def _branch(kind: str, function: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"kind": {"const": kind}, "name": {"const": function},
                       "arguments": arguments},
        "required": ["kind", "name", "arguments"],
        "additionalProperties": False,
    }


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace every local ``#/$defs/...`` reference with a copy of its target.

    Raises ``PermanentError("grammar_unavailable")`` for recursive or non-local references: a
    grammar for those would need named rules, which is exactly what cannot be shared safely.
    """
    root = copy.deepcopy(schema)

    def resolve(ref: str) -> Any:
        if not ref.startswith("#/"):
            raise PermanentError("grammar_unavailable", f"unsupported $ref {ref!r}")
        node: Any = root
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                raise PermanentError("grammar_unavailable", f"dangling $ref {ref!r}")
            node = node[part]
        return node

    def visit(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [visit(v, seen) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise PermanentError("grammar_unavailable", f"recursive $ref {ref!r}")
            target = visit(resolve(ref), seen + (ref,))
            siblings = {k: visit(v, seen) for k, v in node.items() if k != "$ref"}
            return {**target, **siblings}
        return {k: visit(v, seen) for k, v in node.items()
                if k not in ("$defs", "definitions")}

    return visit(root, ())


def _drop_unenforceable(candidates: dict[str, Candidate], dropped: dict[str, str],
                        ctx: Any) -> None:
    """One task whose schema cannot become a grammar (a ``\\.`` in a pattern...) must not sink
    the whole union: backends that can check a schema ahead (the llama.cpp backend's
    ``grammar_for``, which caches what it builds) drop that candidate instead."""
    check = getattr(ctx.backend, "grammar_for", None)
    if check is None:
        return
    for name in list(candidates):
        try:
            check(union_schema({name: candidates[name]}))
        except PermanentError as e:
            candidates.pop(name)
            dropped[name] = f"{e.reason}: {e.message}"[:300]


# ---------------------------------------------------------------------------------------------
# The prompt


def _menu(candidates: dict[str, Candidate]) -> str:
    """``- name: description`` per kind, each followed by its task's router hint, then other."""
    lines = []
    for name, c in candidates.items():
        lines.append(f"- {name}: {c.task.description}")
        try:
            hint = c.task.router_hint(c.evidence)
        except Exception as e:
            log.warning("router: %s.router_hint failed: %r", name, e)
            hint = ""
        lines += [f"  {line.strip()}" for line in _clip(hint, MAX_HINT_CHARS).splitlines()
                  if line.strip()]
    lines.append(f"- {OTHER}: none of these.")
    return "\n".join(lines)


def _fold(text: str) -> str:
    # NFKC folds full-width punctuation from CJK-capable OCR models; whitespace runs become one.
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _numbered(lines: list[OcrLine]) -> str:
    """``[n] text`` per OCR line in ``mustelid.ocr.reading_order``, 1-based: a task whose
    arguments point at line numbers (screenshots) numbers its lines the same way. A long text
    shows its first and last lines with the numbers kept, so they stay meaningful."""
    numbered = [f"[{n}] {l.text[:LINE_CHARS]}" for n, l in enumerate(lines, 1)]
    if len(numbered) > MAX_LINES_SHOWN:
        head = MAX_LINES_SHOWN * 3 // 5
        numbered = numbered[:head] + ["[...]"] + numbered[head - MAX_LINES_SHOWN:]
    return "\n".join(numbered)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit("\n", 1)[0] + "\n[...]"


# ---------------------------------------------------------------------------------------------
# Registration


@hookimpl
def register_tasks(register):
    register(Router())


@hookimpl
def startup(daemon):
    router = daemon.host.tasks.get(NAME)
    if isinstance(router, Router):
        router.bind(daemon.host)
