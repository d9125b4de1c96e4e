"""The job ledger: at-least-once execution with leases.

States: queued -> running -> done | dead, with retry back to queued and ``waiting`` for jobs that
cannot run until something outside them changes (model missing, no memory, disk full).

- claim:    BEGIN IMMEDIATE, pick the oldest runnable row, mark it running with a lease
            (``claim_job``: one named job, for a command that runs its own job at once).
- complete: result rows + the task's own rows + ``done`` in ONE transaction, and only while the
            caller still owns the lease (a job whose lease was taken over never commits twice).
- fail:     transient -> queued after exponential backoff, until max_attempts -> dead;
            permanent -> dead at once; waiting -> waiting (not charged an attempt).
- recover:  at startup, rows left ``running`` by a crash go back to queued (the crashed attempt
            stays counted, so a file that kills the process every time ends dead, not in a loop).

All times come from an injectable clock so tests can expire leases and backoffs instantly.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from ulid import ULID

from mustelid.store.db import immediate
from mustelid.store.jobs import iso
from mustelid.store.reviews import Persist, ReviewLedger


class Ledger(ReviewLedger):
    """The job ledger (see the module docstring); review and reprocess writes come from
    ``ReviewLedger``, reads and shared bookkeeping from ``mustelid.store.jobs.Jobs``."""

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
            if row is None or not self._start(row[0], owner, lease_seconds, now):
                return None
        job = self.get(row[0])
        self._notify(job, "running")
        return job

    def claim_job(self, job_id: str, owner: str, lease_seconds: float) -> dict[str, Any] | None:
        """Claim exactly this job (queued or waiting, whatever its ``run_after``), or None.

        ``claim`` takes the next runnable job of any kind; a command that enqueues a job and runs
        it at once (``mustelid summary --now``) must run *its* job.
        """
        now = self.clock()
        with immediate(self.db):
            if not self._start(job_id, owner, lease_seconds, now):
                return None
        job = self.get(job_id)
        self._notify(job, "running")
        return job

    def _start(self, job_id: str, owner: str, lease_seconds: float, now: float) -> bool:
        """Inside an open transaction: mark a runnable job running under ``owner``'s lease,
        charging one attempt. False if it is not runnable (any more)."""
        cur = self.db.execute(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_owner = ?,"
            " lease_expires = ?, started_at = ?, updated_at = ?, finished_at = NULL"
            " WHERE id = ? AND state IN ('queued', 'waiting')",
            [owner, now + lease_seconds, iso(now), iso(now), job_id],
        )
        if cur.rowcount != 1:
            return False
        self._event(job_id, "running", owner)
        return True

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
        filed_as: str | None = None,
        persist: Persist | None = None,
    ) -> bool:
        """Commit the result, the task's rows and ``done`` together, if we still hold the lease.
        ``filed_as``: the task the result was filed as (``Task.filed_as``)."""
        now, stats = self.clock(), stats or {}
        with immediate(self.db):
            job = self._owned(job_id, owner)
            if job is None:
                return False
            self._add_result(job, data, evidence, now, model_id=stats.get("model_id"),
                             filed_as=filed_as)
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

    def horizon(self, lease_seconds: float) -> float:
        """How far ahead of now any ``run_after`` we write can be (backoff, waiting re-check, a
        ``run_now`` hold of one lease), plus a minute of slack. A ``run_after`` further ahead was
        written before the wall clock stepped back (NTP fixing a fast clock, a clock back from
        2200): honouring it would strand the job for the size of the step, so it counts as due."""
        return max(self.backoff_max_seconds, self.waiting_recheck_seconds, lease_seconds) + 60

    def backoff(self, attempts: int) -> float:
        return min(self.backoff_max_seconds, self.backoff_seconds * 2 ** max(0, attempts - 1))
