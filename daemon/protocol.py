"""What the model worker answers for one job: the reply that crosses the pipe to the daemon.

Three parties handle it and none imports another for its shape: the worker builds it
(``mustelid.worker.handle``), the supervisor makes one up when the worker dies or overruns
(``mustelid.supervisor``), and ``mustelid.commit.commit`` turns it into ledger rows. Replies are
plain dicts (they are pickled through a ``multiprocessing`` pipe); these types say which keys
each kind carries. The worker also adds ``op`` and its memory ``stats`` to every reply.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

# transient: retry with backoff, then dead; permanent: dead at once; waiting: re-check later,
# no attempt charged; review: a valid answer that failed the task's checks, for a person.
FailureKind = Literal["transient", "permanent", "waiting", "review"]


class Answer(TypedDict):
    """The task produced a schema-valid answer."""

    ok: Literal[True]
    data: dict[str, Any]           # the answer, JSON-ready (``Output.model_dump(mode="json")``)
    evidence: dict[str, Any]       # what ``prepare`` found (OCR lines, boxes, candidates ...)
    stats: dict[str, Any]          # tokens, generations, durations, ``model_id``


class HeldAnswer(TypedDict):
    """``Failure["review"]`` for ``kind == "review"``: what a person will accept or correct."""

    data: dict[str, Any]           # the model's answer, parsed and schema-valid
    raw: str                       # the model's last reply, verbatim
    problems: list[str]            # what the task's ``check`` found wrong
    evidence: dict[str, Any]
    stats: dict[str, Any]


class Failure(TypedDict):
    """No answer to store as a result: why, and what the ledger should do about it."""

    ok: Literal[False]
    kind: FailureKind
    reason: str                    # a machine-readable code: ``invalid_json``, ``worker_crashed``
    message: str
    review: NotRequired[HeldAnswer]
    stats: NotRequired[dict[str, Any]]


Reply = Answer | Failure


def failure(kind: FailureKind, reason: str, message: str) -> Failure:
    return {"ok": False, "kind": kind, "reason": reason, "message": message}
