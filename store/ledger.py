"""The job ledger: at-least-once execution with leases.

States: queued -> running -> done | dead, with retry back to queued and ``waiting`` for jobs that
cannot run until something outside them changes (model missing, no memory, disk full).

- claim:    BEGIN IMMEDIATE, pick the oldest runnable row, mark it running with a lease.
- complete: result rows + the task's own rows + ``done`` in ONE transaction, and only while the
            caller still owns the lease (a job whose lease was taken over never commits twice).
- fail:     transient -> queued after exponential backoff, until max_attempts -> dead;
            permanent -> dead at once; waiting -> waiting (not charged an attempt).
- recover:  at startup, rows left ``running`` by a crash go back to queued (the crashed attempt
            stays counted, so a file that kills the process every time ends dead, not in a loop).

All times come from an injectable clock so tests can expire leases and backoffs instantly.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any, Callable, Iterable

import sqlite_utils
from ulid import ULID

from mustelid.store.db import immediate

STATES = ("queued", "running", "done", "dead", "waiting", "needs_review")
RUNNABLE = ("queued", "waiting")

Clock = Callable[[], float]
EventSink = Callable[[dict[str, Any], str], None]


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="milliseconds")


class Ledger:
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

    # -- writing -----------------------------------------------------------------------------

    def enqueue(
        self,
        task: str,
        *,
        idempotency_key: str,
        task_version: str = "1",
        input_sha256: str | None = None,
        params: dict[str, Any] | None = None,
        max_attempts: int = 4,
        priority: int = 0,
        model_id: str | None = None,
        run_after: float | None = None,
    ) -> tuple[str, bool]:
        """Insert a job unless one with the same idempotency key exists.

        Returns ``(job_id, created)``. Safe to call inside an open transaction (it then joins it).
        """
        now = self.clock()
        row = {
            "id": str(ULID()),
            "task": task,
            "task_version": task_version,
            "input_sha256": input_sha256,
            "params": json.dumps(params or {}, sort_keys=True),
            "state": "queued",
            "priority": priority,
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_after": now if run_after is None else run_after,
            "idempotency_key": idempotency_key,
            "model_id": model_id,
            "created_at": iso(now),
            "updated_at": iso(now),
        }
        with self.db.atomic():
            return self._insert(row, idempotency_key)

    def _insert(self, row: dict[str, Any], idempotency_key: str) -> tuple[str, bool]:
        cur = self.db.execute(
            "INSERT OR IGNORE INTO jobs (id, task, task_version, input_sha256, params, state,"
            " priority, attempts, max_attempts, run_after, idempotency_key, model_id,"
            " created_at, updated_at) VALUES (:id, :task, :task_version, :input_sha256, :params,"
            " :state, :priority, :attempts, :max_attempts, :run_after, :idempotency_key,"
            " :model_id, :created_at, :updated_at)",
            row,
        )
        if cur.rowcount == 1:
            self._event(row["id"], "queued", "")
            return row["id"], True
        existing = self.db.execute(
            "SELECT id FROM jobs WHERE idempotency_key = ?", [idempotency_key]
        ).fetchone()
        return existing[0], False

    def claim(self, owner: str, lease_seconds: float, tasks: Iterable[str] | None = None):
        """Take the next runnable job, or None. ``tasks`` limits claims to tasks we can run."""
        now = self.clock()
        task_filter, args = "", [now, now + self.horizon(lease_seconds)]
        if tasks is not None:
            names = list(tasks)
            if not names:
                return None
            task_filter = f" AND task IN ({','.join('?' * len(names))})"
            args += names
        with immediate(self.db):
            row = self.db.execute(
                "SELECT id FROM jobs WHERE state IN ('queued', 'waiting')"
                " AND (run_after <= ? OR run_after > ?)"
                f"{task_filter} ORDER BY priority DESC, run_after, id LIMIT 1",
                args,
            ).fetchone()
            if row is None:
                return None
            self.db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?,"
                " lease_expires = ?, started_at = ?, updated_at = ?, finished_at = NULL"
                " WHERE id = ?",
                [owner, now + lease_seconds, iso(now), iso(now), row[0]],
            )
            self._event(row[0], "running", owner)
        job = self.get(row[0])
        self._notify(job, "running")
        return job

    def heartbeat(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend the lease; False means we no longer own the job and must not commit it."""
        cur = self.db.execute(
            "UPDATE jobs SET lease_expires = ? WHERE id = ? AND lease_owner = ?"
            " AND state = 'running'",
            [self.clock() + lease_seconds, job_id, owner],
        )
        return cur.rowcount == 1

    def complete(
        self,
        job_id: str,
        owner: str,
        data: dict[str, Any],
        *,
        evidence: dict[str, Any] | None = None,
        stats: dict[str, Any] | None = None,
        persist: Callable[[sqlite_utils.Database, dict[str, Any]], None] | None = None,
    ) -> bool:
        """Commit the result, the task's rows and ``done`` together, if we still hold the lease."""
        now, stats = self.clock(), stats or {}
        with immediate(self.db):
            job = self._owned(job_id, owner)
            if job is None:
                return False
            version = self.db.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM results WHERE task = ?"
                " AND input_sha256 IS ?",
                [job["task"], job["input_sha256"]],
            ).fetchone()[0] if job["input_sha256"] else 1
            self.db.execute(
                "INSERT INTO results (job_id, task, input_sha256, version, data, evidence,"
                " model_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    job_id, job["task"], job["input_sha256"], version,
                    json.dumps(data, sort_keys=True), json.dumps(evidence or {}),
                    stats.get("model_id"), iso(now),
                ],
            )
            if persist is not None:
                persist(self.db, job)
            self.db.execute(
                "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires = NULL,"
                " reason = NULL, last_error = NULL, model_id = COALESCE(?, model_id),"
                " prompt_tokens = ?, completion_tokens = ?, duration_s = ?, finished_at = ?,"
                " updated_at = ? WHERE id = ?",
                [
                    stats.get("model_id"), stats.get("prompt_tokens"),
                    stats.get("completion_tokens"), stats.get("duration_s"),
                    iso(now), iso(now), job_id,
                ],
            )
            self._event(job_id, "done", "")
        self._notify(self.get(job_id), "done")
        return True

    def fail(self, job_id: str, owner: str, kind: str, reason: str, message: str = "") -> str | None:
        """Record a failed attempt. ``kind`` is transient | permanent | waiting.

        Returns the new state, or None if we no longer own the job.
        """
        now = self.clock()
        with immediate(self.db):
            job = self._owned(job_id, owner)
            if job is None:
                return None
            if kind == "waiting":
                state, run_after, attempts = "waiting", now + self.waiting_recheck_seconds, -1
            elif kind == "transient" and job["attempts"] < job["max_attempts"]:
                state, run_after, attempts = "queued", now + self.backoff(job["attempts"]), 0
            else:
                state, run_after, attempts = "dead", now, 0
                if kind == "transient":
                    message = f"gave up after {job['attempts']} attempts: {message}"
            self.db.execute(
                "UPDATE jobs SET state = ?, run_after = ?, attempts = attempts + ?,"
                " lease_owner = NULL, lease_expires = NULL, reason = ?, last_error = ?,"
                " updated_at = ?, finished_at = ? WHERE id = ?",
                [state, run_after, attempts, reason, message[:2000], iso(now),
                 iso(now) if state == "dead" else None, job_id],
            )
            event = "retry" if state == "queued" else state
            self._event(job_id, event, f"{reason}: {message}"[:2000])
        self._notify(self.get(job_id), event)
        return state

    def release(self, job_id: str, owner: str, why: str = "shutdown") -> bool:
        """Put a running job back without charging the attempt (graceful shutdown)."""
        now = self.clock()
        with immediate(self.db):
            if self._owned(job_id, owner) is None:
                return False
            self.db.execute(
                "UPDATE jobs SET state = 'queued', attempts = MAX(attempts - 1, 0),"
                " lease_owner = NULL, lease_expires = NULL, run_after = ?, updated_at = ?"
                " WHERE id = ?",
                [now, iso(now), job_id],
            )
            self._event(job_id, "queued", f"released: {why}")
        self._notify(self.get(job_id), "queued")
        return True

    def recover(self) -> list[str]:
        """Requeue jobs left ``running`` by a process that died. Call while holding the daemon
        lock, so every running row is known to be orphaned."""
        now = self.clock()
        with immediate(self.db):
            rows = self.db.execute(
                "SELECT id, attempts, max_attempts FROM jobs WHERE state = 'running'"
            ).fetchall()
            for job_id, attempts, max_attempts in rows:
                if attempts >= max_attempts:
                    state, reason = "dead", "crashed_repeatedly"
                    msg = f"the process died during each of {attempts} attempts"
                else:
                    state, reason, msg = "queued", "recovered", "the process died mid-job"
                self.db.execute(
                    "UPDATE jobs SET state = ?, lease_owner = NULL, lease_expires = NULL,"
                    " run_after = ?, reason = ?, last_error = ?, updated_at = ? WHERE id = ?",
                    [state, now, reason, msg, iso(now), job_id],
                )
                self._event(job_id, "recovered" if state == "queued" else "dead", msg)
        return [r[0] for r in rows]

    def retry(self, job_id: str) -> bool:
        """A person asks for another go: a dead or waiting job returns to the queue, fresh."""
        now = self.clock()
        with immediate(self.db):
            cur = self.db.execute(
                "UPDATE jobs SET state = 'queued', attempts = 0, run_after = ?, updated_at = ?,"
                " finished_at = NULL WHERE id = ? AND state IN ('dead', 'waiting')",
                [now, iso(now), job_id],
            )
            if cur.rowcount:
                self._event(job_id, "queued", "retry requested")
        return cur.rowcount == 1

    def wake_waiting(self, reason: str | None = None) -> int:
        """Make waiting jobs runnable now (the model was pulled, memory freed, disk freed)."""
        now = self.clock()
        sql = "UPDATE jobs SET run_after = ? WHERE state = 'waiting'"
        args: list[Any] = [now]
        if reason:
            sql += " AND reason = ?"
            args.append(reason)
        return self.db.execute(sql, args).rowcount

    # -- review and reprocess (a person, or a newer plugin/model, has the last word) -------------

    def hold_for_review(self, job_id: str, owner: str, reason: str, message: str,
                        review: dict[str, Any]) -> bool:
        """A valid answer that failed the task's checks: keep it and wait for a person."""
        now = self.clock()
        with immediate(self.db):
            job = self._owned(job_id, owner)
            if job is None:
                return False
            stats = review.get("stats") or {}
            self.db.execute(
                "INSERT OR REPLACE INTO reviews (job_id, task, problems, raw, data, evidence,"
                " stats, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [job_id, job["task"], json.dumps(review.get("problems", [])),
                 review.get("raw", ""), json.dumps(review.get("data"), sort_keys=True),
                 json.dumps(review.get("evidence") or {}), json.dumps(stats), iso(now)],
            )
            self.db.execute(
                "UPDATE jobs SET state = 'needs_review', lease_owner = NULL, lease_expires = NULL,"
                " reason = ?, last_error = ?, model_id = COALESCE(?, model_id), prompt_tokens = ?,"
                " completion_tokens = ?, duration_s = ?, finished_at = ?, updated_at = ?"
                " WHERE id = ?",
                [reason, message[:2000], stats.get("model_id"), stats.get("prompt_tokens"),
                 stats.get("completion_tokens"), stats.get("duration_s"), iso(now), iso(now),
                 job_id],
            )
            self._event(job_id, "needs_review", f"{reason}: {message}"[:2000])
        self._notify(self.get(job_id), "needs_review")
        return True

    def resolve_review(
        self,
        job_id: str,
        data: dict[str, Any],
        *,
        corrections: list[dict[str, Any]],
        example_key: str | None = None,
        persist: Callable[[sqlite_utils.Database, dict[str, Any]], None] | None = None,
    ) -> bool:
        """A person accepted (``corrections`` empty) or corrected a held answer: result, the
        task's rows, the corrections and ``done`` in one transaction. False if not held."""
        now = self.clock()
        with immediate(self.db):
            job = self.get(job_id)
            review = list(self.db["reviews"].rows_where("job_id = ?", [job_id]))
            if job is None or job["state"] != "needs_review" or not review:
                return False
            self._add_result(job, data, json.loads(review[0]["evidence"] or "{}"), now)
            if persist is not None:
                persist(self.db, job)
            for c in corrections:
                self.db.execute(
                    "INSERT INTO corrections (job_id, task, example_key, field, model_value,"
                    " value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [job_id, job["task"], example_key, c["field"], json.dumps(c.get("was")),
                     json.dumps(c.get("value")), iso(now)],
                )
            resolution = "corrected" if corrections else "accepted"
            self.db.execute(
                "UPDATE reviews SET resolved_at = ?, resolution = ? WHERE job_id = ?",
                [iso(now), resolution, job_id],
            )
            self.db.execute(
                "UPDATE jobs SET state = 'done', reason = NULL, last_error = NULL,"
                " finished_at = ?, updated_at = ? WHERE id = ?", [iso(now), iso(now), job_id],
            )
            fields = ", ".join(c["field"] for c in corrections)
            self._event(job_id, "done", f"reviewed: {resolution}" + (f" {fields}" if fields else ""))
        self._notify(self.get(job_id), "done")
        return True

    def reject_review(self, job_id: str, message: str = "") -> bool:
        """A person says the held answer is wrong and not worth fixing: dead, answer kept."""
        now = self.clock()
        with immediate(self.db):
            cur = self.db.execute(
                "UPDATE jobs SET state = 'dead', reason = 'rejected_in_review', last_error = ?,"
                " finished_at = ?, updated_at = ? WHERE id = ? AND state = 'needs_review'",
                [message or "rejected by a person", iso(now), iso(now), job_id],
            )
            if cur.rowcount:
                self.db.execute(
                    "UPDATE reviews SET resolved_at = ?, resolution = 'rejected' WHERE job_id = ?",
                    [iso(now), job_id],
                )
                self._event(job_id, "dead", f"rejected_in_review: {message}"[:2000])
        if cur.rowcount:
            self._notify(self.get(job_id), "dead")
        return cur.rowcount == 1

    def start_reprocess(self, previous: dict[str, Any], owner: str, lease_seconds: float,
                        *, task_version: str, model_id: str | None) -> dict[str, Any]:
        """A new job for ``previous``'s input, created already running under ``owner`` (so a
        daemon cannot claim it first); ``complete`` then stores the next result version. Its
        key is the previous key plus a counter: each key still gets at most one result."""
        now = self.clock()
        base = previous["idempotency_key"].split("|reprocess:")[0]
        with immediate(self.db):
            n = self.db.execute(
                "SELECT COUNT(*) FROM jobs WHERE idempotency_key LIKE ?", [base + "|reprocess:%"]
            ).fetchone()[0]
            job_id = str(ULID())
            self.db.execute(
                "INSERT INTO jobs (id, task, task_version, input_sha256, params, state, priority,"
                " attempts, max_attempts, run_after, idempotency_key, model_id, reprocess_of,"
                " lease_owner, lease_expires, created_at, updated_at, started_at)"
                " VALUES (?, ?, ?, ?, ?, 'running', 0, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [job_id, previous["task"], task_version, previous["input_sha256"],
                 previous["params"] or "{}", previous["max_attempts"] or 1, now,
                 f"{base}|reprocess:{n + 1}", model_id, previous["id"], owner,
                 now + lease_seconds, iso(now), iso(now), iso(now)],
            )
            self._event(job_id, "running", f"reprocess of {previous['id']}")
        return self.get(job_id)

    def _add_result(self, job: dict[str, Any], data: dict[str, Any],
                    evidence: dict[str, Any], now: float, model_id: str | None = None) -> int:
        version = self.db.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM results WHERE task = ?"
            " AND input_sha256 IS ?", [job["task"], job["input_sha256"]],
        ).fetchone()[0] if job["input_sha256"] else 1
        self.db.execute(
            "INSERT INTO results (job_id, task, input_sha256, version, data, evidence,"
            " model_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [job["id"], job["task"], job["input_sha256"], version,
             json.dumps(data, sort_keys=True), json.dumps(evidence or {}),
             model_id or job.get("model_id"), iso(now)],
        )
        return version

    def horizon(self, lease_seconds: float) -> float:
        """How far ahead of now any ``run_after`` we write can be (backoff, waiting re-check, a
        ``run_now`` hold of one lease), plus a minute of slack. A ``run_after`` further ahead was
        written before the wall clock stepped back (NTP fixing a fast clock, a clock back from
        2200): honouring it would strand the job for the size of the step, so it counts as due."""
        return max(self.backoff_max_seconds, self.waiting_recheck_seconds, lease_seconds) + 60

    def backoff(self, attempts: int) -> float:
        return min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(0, attempts - 1))

    # -- reading -----------------------------------------------------------------------------

    def get(self, job_id: str) -> dict[str, Any] | None:
        rows = list(self.db["jobs"].rows_where("id = ?", [job_id]))
        return rows[0] if rows else None

    def find(self, prefix: str) -> dict[str, Any] | None:
        """A job by id or unique id prefix (ULIDs are long to type)."""
        rows = list(self.db["jobs"].rows_where("id LIKE ?", [prefix.upper() + "%"], limit=2))
        return rows[0] if len(rows) == 1 else None

    def list(self, state: str | None = None, task: str | None = None, limit: int = 50):
        where, args = [], []
        if state:
            where.append("state = ?")
            args.append(state)
        if task:
            where.append("task = ?")
            args.append(task)
        return list(
            self.db["jobs"].rows_where(
                " AND ".join(where) or None, args, order_by="id DESC", limit=limit
            )
        )

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATES}
        for state, n in self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            out[state] = n
        return out

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

    # -- internals ---------------------------------------------------------------------------

    def _owned(self, job_id: str, owner: str) -> dict[str, Any] | None:
        job = self.get(job_id)
        if job is None or job["state"] != "running" or job["lease_owner"] != owner:
            return None
        return job

    def _event(self, job_id: str, event: str, detail: str) -> None:
        self.db.execute(
            "INSERT INTO job_events (job_id, event, at, detail) VALUES (?, ?, ?, ?)",
            [job_id, event, iso(self.clock()), detail],
        )

    def _notify(self, job: dict[str, Any] | None, event: str) -> None:
        if self.on_event is not None and job is not None:
            self.on_event(job, event)
