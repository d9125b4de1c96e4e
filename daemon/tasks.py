"""The contracts between the host and its plugins: tasks, backends, and the errors they raise.

A *task* is a typed function the model calls: a name, a description, a pydantic model for its
arguments, a prompt, and four small steps. Where each step runs matters:

- ``prepare``  (model worker process) turns the job's input into evidence: OCR lines, image facts.
- ``messages`` (model worker) renders the prompt from that evidence.
- ``schema``   (model worker) the JSON schema the output is constrained to; per job if it wants.
- ``check``    (model worker) semantic checks the schema cannot express; returns problems.
- ``persist``  (daemon process, inside the transaction that marks the job done) writes the
  validated result into the task's own table through sqlite-utils.

A *backend* turns chat messages plus a JSON schema (and, if its ``capabilities`` say it can see,
images) into constrained text. Backends never see tasks.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any, Callable, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ValidationError

from mustelid.controls import strip_controls
from mustelid.prompts import prompt_package


class JobError(Exception):
    """Base of the errors a task or backend raises to steer the ledger.

    ``reason`` is a short machine-readable code stored on the job (``unreadable_image``,
    ``not_a_receipt``, ``schema_violation`` ...); the message is for people.
    """

    def __init__(self, reason: str, message: str = ""):
        super().__init__(message or reason)
        self.reason = reason
        self.message = message or reason


class PermanentError(JobError):
    """Retrying cannot help (corrupt image, not a receipt, output invalid after re-ask): dead-letter."""


class TransientError(JobError):
    """May succeed later (worker crashed, timed out, resource busy): retry with backoff."""


class WaitingError(JobError):
    """Cannot run until the user or the machine fixes something (model missing, memory, disk).

    The job is not charged an attempt; it waits in the ``waiting`` state with the reason shown.
    """


@dataclasses.dataclass
class JobInput:
    """What the worker knows about a job. ``path`` is the archived copy, never the inbox file."""

    id: str
    task: str
    path: str | None = None          # archived input file, for image/text tasks
    params: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. {"period": "2026-11-22"}
    original_name: str | None = None
    mime: str | None = None
    seen_at: str | None = None       # ISO timestamp the file was first seen (todo due dates etc.)


@dataclasses.dataclass
class Evidence:
    """What ``prepare`` found. ``variables`` fill the prompt; ``data`` is stored with the result.

    ``images`` (encoded image files or Pillow images) go to the model beside the prompt; only
    for a backend whose ``capabilities().vision`` is true: the host refuses the job otherwise
    (``vision_unavailable``), never dropping the image. They are not stored."""

    text: str = ""
    variables: dict[str, Any] = dataclasses.field(default_factory=dict)
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    images: list[Any] = dataclasses.field(default_factory=list)
    # Too long for one answer (a long note): each part is answered in turn, ``Task.joined``.
    parts: list["Evidence"] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Delegation:
    """A dispatching task's hand-over (``Task.delegate``): the task that answers, and the
    evidence its own ``prepare`` found for this file."""

    task: "Task"
    evidence: Evidence


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a loaded backend can take besides text. A backend declares them with a
    ``capabilities()`` method; one without it can take text only."""

    vision: bool = False         # generate(..., images=[...]) is understood, not ignored


def capabilities(backend: Any) -> Capabilities:
    """``backend``'s capabilities; text only for a backend that declares none."""
    method = getattr(backend, "capabilities", None)
    found = method() if callable(method) else None
    return found if isinstance(found, Capabilities) else Capabilities()


@dataclasses.dataclass
class Generation:
    """One constrained generation as a backend reports it."""

    text: str
    finish_reason: str               # "stop" is the only acceptable one; "length" = truncated JSON
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    model_id: str = ""
    # Per field path ("total", "items[0]"): the probability the model gave the value it chose,
    # among the values the schema allowed there; from backends that decode by choices, else {}.
    confidence: dict[str, float] = dataclasses.field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """A loaded model that can generate schema-constrained JSON.

    Implementations must be fail-closed: if the schema cannot be enforced they raise
    ``PermanentError("grammar_unavailable")`` instead of generating unconstrained text.

    Images: a backend that can see declares ``capabilities()`` with ``vision=True`` and takes
    ``generate(..., images=[...])`` (encoded files or Pillow images, already upright; the
    backend scales them to its model's input). The host passes ``images`` only to such a
    backend, and only when there are some; a backend that cannot see and is given images
    anyway must refuse (``PermanentError("vision_unavailable")``), never drop them.
    """

    model_id: str

    def generate(
        self, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int
    ) -> Generation: ...

    def close(self) -> None: ...


@runtime_checkable
class TaskContext(Protocol):
    """What a task's steps receive as ``ctx``: the host's services, loaded on first use.

    The model worker passes its ``WorkerContext``; ``mustelid.testing`` and ``mustelid eval``
    pass the same class, so a task sees one context wherever it runs.
    """

    config: Any               # the effective ``mustelid.config.Config`` (``ctx.config.plugin``)
    host: Any                 # the plugin host: ``ctx.host.tasks`` lists every installed task
    prompts: Any              # ``render(name, *, package=None, **variables) -> messages``

    @property
    def backend(self) -> Backend:
        """The configured model backend, loaded on first use."""
        ...

    def ocr(self, path: str) -> list[Any]:
        """The OCR lines (``mustelid.OcrLine``) of an image; cached for the current job. For a
        PDF, HEIC or TIFF: every page's, page after page (a PDF page's own text layer where it
        has one), boxed in the pixels of ``load_image``'s image."""
        ...

    def load_image(self, path: str) -> Any:
        """A decoded, EXIF-rotated Pillow image; ``PermanentError`` if it cannot be read. For a
        PDF, HEIC or TIFF: its pages one below the other (``mustelid.documents``)."""
        ...

    def read_db(self) -> Any:
        """A read-only sqlite-utils view of the database (tasks that summarise what is stored)."""
        ...

    def now(self) -> Any:
        """The current local time, timezone-aware."""
        ...


class Task:
    """Subclass this (class attributes + optional method overrides) and register it with
    ``register_tasks``. Everything a task needs from the host arrives as ``ctx``
    (see ``mustelid.worker.WorkerContext``)."""

    name: ClassVar[str]                      # short, stable: "receipts"
    function: ClassVar[str]                  # the function the model calls: "record_expense"
    description: ClassVar[str]               # one line the router shows the model
    version: ClassVar[str] = "1"             # bump when output changes: part of the idempotency key
    input_kind: ClassVar[str] = "image"      # image | text | period
    Output: ClassVar[type[BaseModel]]        # the function's arguments
    prompt: ClassVar[str] = ""               # template name (mustelid.prompts.find_prompt)
    prompt_package: ClassVar[str | None] = None  # ships prompts/<prompt>.txt (None: own package)
    bench_workload: ClassVar[bool] = False   # `mustelid bench` times it on receipt images (P4/P5)
    # `mustelid bench` P10: a folder of the bench's data (``--data``) holding real inputs of this
    # task, and the p50 seconds per input the task promises on them (None: reported, no target).
    bench_inputs: ClassVar[str | None] = None
    bench_p50_s: ClassVar[float | None] = None
    max_tokens: ClassVar[int] = 512
    accepts: ClassVar[tuple[str, ...]] = (          # sniffed types this task can read
        "image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff", "image/bmp",
        # Documents: ctx.load_image / ctx.ocr give their pages as one image (mustelid.documents)
        "image/heic", "application/pdf",
    )
    uses_model: ClassVar[bool] = True        # False: ``compute`` replaces the generation step
    routable: ClassVar[bool] = True          # offered to the inbox router (task ``auto``)

    def prepare(self, job: JobInput, ctx: TaskContext) -> Evidence:
        raise NotImplementedError

    def messages(self, job: JobInput, evidence: Evidence, ctx: TaskContext) -> list[dict[str, str]]:
        return ctx.prompts.render(self.prompt, package=prompt_package(self),
                                  **evidence.variables)

    def schema(self, evidence: Evidence) -> dict[str, Any]:
        return self.Output.model_json_schema()

    def check(self, result: BaseModel, evidence: Evidence) -> list[str]:
        return []

    def router_hint(self, evidence: Evidence) -> str:
        """A few short lines of this job's evidence that the inbox router prints under this
        task's name when it asks the model which kind of file it is (e.g. how many lines read
        like tasks). Keep it short: every line is prefilled whenever the model is asked."""
        return ""

    def router_fit(self, evidence: Evidence) -> float | None:
        """For the inbox router: how surely this file is this task's kind, 0..1, from what
        ``prepare`` found, before any model runs. Say 0.9 or more only when the evidence holds
        what defines the task's input and rarely occurs elsewhere (a receipt's total and
        payment lines; a note that calls itself a to-do list): when exactly one task says so,
        the router gives it the file without asking the model. Default None: no opinion."""
        return None

    def delegate(self, job: JobInput, evidence: Evidence, ctx: TaskContext) -> Delegation | None:
        """After ``prepare``, a task that dispatches (the inbox router) may hand the file to
        another task: ``run_job`` then runs that task's own prompt, schema, checks, re-ask and
        review on the delegation's evidence, exactly as if the file had been routed to it,
        and ``delegated`` turns its answer into this task's ``Output``. Default None: this
        task answers itself."""
        return None

    def delegated(self, delegation: Delegation, data: dict[str, Any],
                  evidence: Evidence) -> BaseModel:
        """This task's result for ``data``, the delegate's answer (checked, or held for review)
        as JSON; may note the hand-over in ``evidence.data``. Only for tasks that delegate."""
        raise NotImplementedError

    def eval_truth(self, labels: dict[str, Any]) -> dict[str, Any]:
        """``mustelid eval``: the expected value of each field this task can be judged on, from
        one labels file (``NNN.json`` beside ``NNN.jpg``). The default takes the labels that
        name the task's own fields; a task maps other dataset layouts here."""
        return {k: v for k, v in labels.items() if k in self.Output.model_fields}

    def eval_normalise(self, field: str, value: Any) -> Any:
        """``mustelid eval``: a field's value the way a person would judge it, so expected and
        produced values compare with ``==``. Default: text ignoring case and whitespace."""
        if value is None:
            return None
        return "".join(str(value).split()).casefold()

    def eval_score(self, truth: dict[str, Any], data: dict[str, Any] | None, *,
                   reason: str | None = None, evidence: dict[str, Any] | None = None
                   ) -> tuple[dict[str, tuple[int, int]], dict[str, dict[str, Any]]]:
        """``mustelid eval``: how one input did, as ``(counters, detail)``.

        ``truth`` is ``eval_truth``'s; ``data`` the stored result, or None when the input failed
        or was held for review (``reason`` then says why); ``evidence`` what ``prepare`` found,
        when it ran. ``counters`` is ``{metric: (hits, of)}``: the host sums each metric over
        the folder and reports hits / of. ``detail`` is what the input's report row shows,
        ``{name: {"expected", "got", "match", ...}}`` (an optional ``"why"`` is printed for a
        miss instead of expected and got). Default: each field of ``truth`` is one metric,
        compared with ``==`` after ``eval_normalise``."""
        detail = {}
        for name, expected in truth.items():
            got = data.get(name) if data else None
            want, have = self.eval_normalise(name, expected), self.eval_normalise(name, got)
            detail[name] = {"expected": expected, "got": got, "match": data is not None
                            and want == have, "expected_norm": want, "got_norm": have}
        return {name: (int(v["match"]), 1) for name, v in detail.items()}, detail

    def eval_summary(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """``mustelid eval``: figures of the task's own over a folder's report rows (each
        with ``outcome``, ``reason`` and the ``fields`` detail of ``eval_score``), added to
        the report and to each half of ``--split``. Default: none."""
        return {}

    def confidence(self, result: BaseModel) -> float | None:
        """How likely a checked result is right, 0..1, if the task measures it (stored with
        the job's stats, and the order ``mustelid review`` lists held answers in). Default
        None: not measured."""
        return None

    def review_needed(self, result: BaseModel, evidence: Evidence) -> str | None:
        """After the checks pass: why a person should confirm ``result`` before it is filed
        (the job then waits in ``needs_review``, reason ``low_confidence``), or None to file
        it. Default None."""
        return None

    def example_key(self, data: dict[str, Any]) -> str | None:
        """``mustelid review``: the key under which a person's correction of this result is kept
        for reuse as an example (receipts: the merchant), or None to keep none."""
        return None

    def joined(self, results: list[BaseModel], evidence: Evidence) -> BaseModel:
        """The result of an input ``prepare`` split (``evidence.parts``): its parts', in order."""
        raise NotImplementedError

    def compute(self, job: JobInput, evidence: Evidence, ctx: TaskContext) -> BaseModel:
        """For tasks with ``uses_model = False`` (e.g. a summary computed from the database):
        produce the result directly. It is validated and checked like a generated one."""
        raise NotImplementedError

    def persist(self, db: Any, job: dict[str, Any], result: BaseModel) -> None:
        """Write ``result`` into the task's own table. ``db`` is a sqlite-utils Database already
        inside the transaction that completes the job: do not commit."""

    def filed_as(self, result: BaseModel) -> str | None:
        """The task ``result`` is filed as: this task, unless it dispatches (the inbox router
        hands a receipt to ``receipts``: its ``persist`` delegates, and this names the task it
        delegated to; None when it files nothing). Stored with the result in the daemon process,
        so ``mustelid search --task receipts`` finds the receipt either way."""
        return self.name


def parse_output(task_output: type[BaseModel], gen: Generation) -> BaseModel:
    """Fail-closed parsing of a generation into the task's model.

    Truncation, invalid JSON, non-finite numbers and schema violations all raise
    ``PermanentError`` with a specific reason; nothing unvalidated gets through.
    """
    if gen.finish_reason != "stop":
        raise PermanentError(
            "truncated_output", f"generation ended with finish_reason={gen.finish_reason!r}"
        )
    try:
        raw = json.loads(gen.text, parse_constant=_reject_constant)
    except _NonFinite as e:
        raise PermanentError("non_finite_number", str(e)) from None
    except ValueError as e:
        raise PermanentError("invalid_json", f"model output is not JSON: {e}") from None
    except RecursionError:
        # Not a ValueError: uncaught, deeply nested output ([[[[...) looked like a plugin bug
        # and was retried as transient. It is bad output like any other.
        raise PermanentError("invalid_json", "model output is nested too deeply") from None
    _reject_non_finite(raw)
    try:
        return task_output.model_validate(strip_controls(raw))
    except ValidationError as e:
        raise PermanentError("schema_violation", validation_error_summary(e)) from None
    except RecursionError:
        raise PermanentError("schema_violation", "model output is nested too deeply") from None


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _NonFinite(f"model output contains the non-finite number {name}")


def _reject_non_finite(value: Any) -> None:
    # A grammar admits 7777777777777777.6E6666666666666666, which json parses to inf (NOTES.md).
    # Iterative: json.loads accepts nesting almost as deep as the recursion limit, so a
    # recursive walk from a deeper stack could still raise RecursionError.
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            raise PermanentError("non_finite_number", "model output contains a non-finite number")
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def validation_error_summary(e: ValidationError) -> str:
    """The first few problems of a pydantic ``ValidationError`` as one short line."""
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(x) for x in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


BackendFactory = Callable[[Any], Backend]


# The older private name, kept for third-party code that imported it.
_short_validation_error = validation_error_summary
