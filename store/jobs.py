"""The ledger's shared ground: its clock and event sink, reading jobs, and the bookkeeping every
write does (ownership check, result row, event row, notification).

``mustelid.store.ledger.Ledger`` (claims, leases, completion) and
``mustelid.store.reviews.ReviewLedger`` (review and reprocess) build on ``Jobs``.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, Callable

import sqlite_utils

STATES = ("queued", "running", "done", "dead", "waiting", "needs_review")
RUNNABLE = ("queued", "waiting")

Clock = Callable[[], float]
EventSink = Callable[[dict[str, Any], str], None]


class UnknownJob(LookupError):
    pass


class AmbiguousJob(LookupError):
    pass


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds")


class Jobs:
    def __init__(
        self,
        db: sqlite_utils.Database,
        clock: Clock = time.time,
        on_event: EventSink | None = None,
        backoff_seconds: float = 5.0,
        backoff_max_seconds: float = 600.0,
        waiting_recheck_seconds: float = 30.0,
    ):
        self.db = db
        self.clock = clock
        self.on_event = on_event
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.waiting_recheck_seconds = waiting_recheck_seconds

    # -- reading -----------------------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any] | None:
        rows = list(self.db["jobs"].rows_where("id = ?", [job_id]))
        return rows[0] if rows else None

    def find(self, prefix: str) -> dict[str, Any] | None:
        """A job by id or unique id prefix (ULIDs are long to type)."""
        rows = list(self.db["jobs"].rows_where("id LIKE ?", [prefix.upper() + "%"], limit=2))
        return rows[0] if len(rows) == 1 else None

    def resolve(self, prefix: str) -> dict[str, Any]:
        """The job a full id or a unique id prefix names; ``UnknownJob`` or ``AmbiguousJob``
        (with a one-line message naming a few of the candidates) otherwise."""
        text = prefix.strip().upper()
        job = self.get(text) if text else None
        if job is not None:
            return job
        rows = [r[0] for r in self.db.execute(
            "SELECT id FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT 4",
            [text, text + "\U0010ffff"])] if text else []
        if not rows:
            raise UnknownJob(f"no job {prefix!r}")
        if len(rows) > 1:
            more = ", ..." if len(rows) > 3 else ""
            raise AmbiguousJob(f"job prefix {prefix!r} is ambiguous: "
                               f"{', '.join(rows[:3])}{more}; type more of the id")
        return self.get(rows[0])

    def short_ids(self, ids: list[str], minimum: int = 8) -> dict[str, str]:
        """Each id's shortest prefix (at least ``minimum`` characters) that no other job's id
        starts with, as git abbreviates commits: only the neighbours in id order can share a
        longer prefix, so two indexed look-ups per id suffice."""
        out = {}
        for job_id in ids:
            before = self.db.execute("SELECT MAX(id) FROM jobs WHERE id < ?",
                                     [job_id]).fetchone()[0]
            after = self.db.execute("SELECT MIN(id) FROM jobs WHERE id > ?",
                                    [job_id]).fetchone()[0]
            shared = max(_common_prefix(job_id, other) for other in (before, after))
            out[job_id] = job_id[:max(minimum, shared + 1)]
        return out

    def list(self, state: str | None = None, task: str | None = None, limit: int = 50,
             since: str | None = None, until: str | None = None):
        """Jobs newest first, each with ``chosen_task``: the task its newest result was filed
        as (a dispatcher such as the inbox router hands its answer on), or for an answer held for
        review the kind the router chose, else its own task.
        ``since``/``until``: ISO instants bounding ``created_at`` (``until`` exclusive)."""
        where, args = [], []
        for column, op, value in (("j.state", "=", state), ("j.task", "=", task),
                                  ("j.created_at", ">=", since), ("j.created_at", "<", until)):
            if value:
                where.append(f"{column} {op} ?")
                args.append(value)
        cursor = self.db.execute(
            # A held router answer names its choice in the reply's "kind" (not yet filed).
            "SELECT j.*, COALESCE((SELECT r.filed_as FROM results r WHERE r.job_id = j.id),"
            "   (SELECT json_extract(v.data, '$.kind') FROM reviews v WHERE v.job_id = j.id"
            "    AND j.state = 'needs_review' AND json_type(v.data, '$.arguments') = 'object'),"
            "   j.task) AS chosen_task"
            f" FROM jobs j {'WHERE ' + ' AND '.join(where) if where else ''}"
            " ORDER BY j.id DESC LIMIT ?", [*args, limit])
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATES}
        for state, n in self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            out[state] = n
        return out

    def waiting_reasons(self) -> dict[str, int]:
        """Why jobs are waiting: reason -> number of waiting jobs."""
        return dict(self.db.execute(
            "SELECT reason, COUNT(*) FROM jobs WHERE state = 'waiting' GROUP BY reason"
        ).fetchall())

    def count_due(self, until: float) -> int:
        """Queued jobs whose ``run_after`` is at or before ``until`` (epoch seconds)."""
        return self.db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND run_after <= ?", [until]
        ).fetchone()[0]

    def finished_since(self, since: float) -> list[str]:
        """``finished_at`` of the jobs that ended (done, dead, or held for review) at or after
        ``since`` (epoch seconds), oldest first: the recent rate in `mustelid status`."""
        return [r[0] for r in self.db.execute(
            "SELECT finished_at FROM jobs WHERE state IN ('done', 'dead', 'needs_review')"
            " AND finished_at >= ?"
            " ORDER BY finished_at", [iso(since)])]

    def events(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.db["job_events"].rows_where("job_id = ?", [job_id], order_by="id"))

    def result(self, job_id: str) -> dict[str, Any] | None:
        rows = list(self.db["results"].rows_where("job_id = ?", [job_id]))
        return rows[0] if rows else None

    def next_run_after(self) -> float | None:
        row = self.db.execute(
            "SELECT MIN(run_after) FROM jobs WHERE state IN ('queued', 'waiting')"
        ).fetchone()
        return row[0]

    # -- what every write shares ---------------------------------------------------------------

    def _owned(self, job_id: str, owner: str) -> dict[str, Any] | None:
        job = self.get(job_id)
        if job is None or job["state"] != "running" or job["lease_owner"] != owner:
            return None
        return job

    def _add_result(self, job: dict[str, Any], data: dict[str, Any],
                    evidence: dict[str, Any] | None, now: float, *, model_id: str | None,
                    filed_as: str | None) -> int:
        """The job's result row, as the next version for its input (1 for a job without one).

        ``filed_as``: the task the result was filed as (``Task.filed_as``). Kept only when that
        is another task (a dispatcher such as the inbox router hands its answer on): NULL means
        the job's own task, as in every row stored before the column existed.
        """
        if filed_as == job["task"]:
            filed_as = None
        version = self.db.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM results WHERE task = ?"
            " AND input_sha256 IS ?", [job["task"], job["input_sha256"]],
        ).fetchone()[0] if job["input_sha256"] else 1
        self.db.execute(
            "INSERT INTO results (job_id, task, input_sha256, version, data, evidence,"
            " model_id, created_at, filed_as) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [job["id"], job["task"], job["input_sha256"], version,
             json.dumps(data, sort_keys=True), json.dumps(evidence or {}), model_id, iso(now),
             filed_as],
        )
        return version

    def _event(self, job_id: str, event: str, detail: str) -> None:
        self.db.execute(
            "INSERT INTO job_events (job_id, event, at, detail) VALUES (?, ?, ?, ?)",
            [job_id, event, iso(self.clock()), detail],
        )

    def _notify(self, job: dict[str, Any] | None, event: str) -> None:
        if self.on_event is not None and job is not None:
            self.on_event(job, event)


def _common_prefix(a: str, b: str | None) -> int:
    if not b:
        return 0
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
