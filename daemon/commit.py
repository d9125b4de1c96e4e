"""The one way a job's reply becomes ledger rows: ``commit(ledger, task, job, reply)``.

The daemon, ``mustelid summary --now`` (``scheduler.run_inline``), ``mustelid reprocess`` and
``mustelid.testing.TaskRunner.persist`` all commit through here, so an answer is stored, held
for review or failed the same way wherever it was produced:

- an answer is validated again on this side of the process boundary (a bad one is
  ``permanent``/``schema_violation``), then its result, the task's rows (``task.persist``) and
  ``done`` are written in one transaction, while the caller still holds the job's lease;
- a ``persist`` that raises is the plugin's fault: the transaction rolls back and the job is
  retried with backoff (``transient``/``persist_failed``), since a plugin bug may depend on the
  data or be fixed by an upgrade. A SQLite error that means the machine is in trouble (disk
  full, locked, I/O) is not the plugin's fault: it propagates, nothing was written, and the
  caller may commit the same reply again later (the daemon pauses and does);
- a valid answer that failed the task's checks is held for a person (``needs_review``);
- any other failure is recorded with the reply's ``kind``.

``job_input`` is the other end: what the worker is handed for a claimed job.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from typing import Any, Literal

from mustelid.faults import crash_point
from mustelid.protocol import Answer, Failure, Reply
from mustelid.store import Ledger
from mustelid.store import files as store_files
from mustelid.tasks import JobInput, Task

log = logging.getLogger("mustelid.commit")

# SQLite primary result codes that mean the machine, not the plugin, is in trouble (disk full,
# locked, I/O): those propagate and pause the daemon, keeping the reply to commit again later.
_ENVIRONMENTAL = {5, 6, 10, 13}   # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL


class PersistFailed(Exception):
    """A task's ``persist()`` raised: the task's fault, not the database's."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What committing a reply came to.

    ``kind``: ``done`` (an answer was stored), ``review`` (held for a person) or ``failed``.
    ``state``: the job's state afterwards (``done``, ``needs_review``, ``queued`` for a retry,
    ``dead``, ``waiting``), or None when the caller no longer held the lease (another process
    took the job over) and nothing was written. ``error``: the ``PersistFailed`` (its cause is
    the plugin's exception) when ``persist`` raised.
    """

    kind: Literal["done", "review", "failed"]
    state: str | None
    reason: str | None = None
    message: str = ""
    error: PersistFailed | None = None


def commit(ledger: Ledger, task: Task, job: dict[str, Any], reply: Reply) -> Outcome:
    """Commit ``reply`` for ``job`` (its ledger row, claimed: ``lease_owner`` is the caller)."""
    if reply.get("ok"):
        return _store(ledger, task, job, reply)
    if reply.get("kind") == "review":
        return _hold(ledger, job, reply)
    return _fail(ledger, job, reply.get("kind", "transient"), reply.get("reason", "unknown"),
                 reply.get("message", ""))


def _store(ledger: Ledger, task: Task, job: dict[str, Any], reply: Answer) -> Outcome:
    owner = job["lease_owner"]
    try:
        result = task.Output.model_validate(reply["data"])   # re-validate on our side
    except Exception as e:
        state = ledger.fail(job["id"], owner, "permanent", "schema_violation", str(e))
        return Outcome("failed", state, "schema_violation", str(e))
    crash_point("before_commit")  # the answer exists only in this process's memory
    try:
        done = ledger.complete(
            job["id"], owner, reply["data"], evidence=reply.get("evidence"),
            stats=reply.get("stats"), filed_as=task.filed_as(result),
            persist=lambda db, row: persist(task, db, row, result),
        )
    except PersistFailed as e:
        # The transaction rolled back: no result, the job is still ours.
        state = ledger.fail(job["id"], owner, "transient", "persist_failed", str(e))
        log.warning("job %s (%s) %s: persist failed: %s", job["id"], job["task"], state, e)
        return Outcome("failed", state, "persist_failed", str(e), error=e)
    return Outcome("done", "done" if done else None)


def _hold(ledger: Ledger, job: dict[str, Any], reply: Failure) -> Outcome:
    # Valid but failing the task's checks after the re-ask: a person decides, the raw answer is
    # kept (mustelid review).
    reason, message = reply.get("reason", "check_failed"), reply.get("message", "")
    held = ledger.hold_for_review(job["id"], job["lease_owner"], reason, message, reply["review"])
    log.warning("job %s (%s) needs review: %s", job["id"], job["task"], message)
    return Outcome("review", "needs_review" if held else None, reason, message)


def _fail(ledger: Ledger, job: dict[str, Any], kind: str, reason: str, message: str) -> Outcome:
    state = ledger.fail(job["id"], job["lease_owner"], kind, reason, message)
    log.warning("job %s (%s) %s: %s", job["id"], job["task"], state, reason)
    return Outcome("failed", state, reason, message)


def persist(task: Task, db: Any, row: dict[str, Any], result: Any) -> None:
    """``task.persist``, with what it raises sorted: ``PersistFailed`` for the plugin's faults,
    the SQLite error itself when the disk or the lock is at fault."""
    try:
        task.persist(db, row, result)
    except sqlite3.Error as e:
        if (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF in _ENVIRONMENTAL:
            raise
        raise PersistFailed(f"{type(e).__name__}: {e}") from e
    except Exception as e:
        raise PersistFailed(f"{type(e).__name__}: {e}") from e


def job_input(db: Any, job: dict[str, Any]) -> JobInput:
    """The ``JobInput`` for a claimed job's row: its params and its archived input file."""
    file = store_files.get_file(db, job["input_sha256"]) if job["input_sha256"] else None
    return JobInput(
        id=job["id"],
        task=job["task"],
        path=file["archived_path"] if file else None,
        params=json.loads(job["params"] or "{}"),
        original_name=file["original_name"] if file else None,
        mime=file["mime"] if file else None,
        seen_at=file["first_seen"] if file else None,
    )
