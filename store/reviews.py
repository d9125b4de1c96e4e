"""Review and reprocess: a person, or a newer plugin or model, has the last word.

``ReviewLedger`` holds the writes (each changes a job's state in the same transaction, so they
are ``Ledger`` methods); the functions below are the reads the CLI and tasks need: held answers,
corrections, result versions.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import sqlite_utils
from ulid import ULID

from mustelid.store.db import immediate
from mustelid.store.jobs import Jobs, iso

Persist = Callable[[sqlite_utils.Database, dict[str, Any]], None]


class ReviewLedger(Jobs):
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
        filed_as: str | None = None,
        persist: Persist | None = None,
    ) -> bool:
        """A person accepted (``corrections`` empty) or corrected a held answer: result, the
        task's rows, the corrections and ``done`` in one transaction. False if not held."""
        now = self.clock()
        with immediate(self.db):
            job = self.get(job_id)
            held = get(self.db, job_id)
            if job is None or job["state"] != "needs_review" or held is None:
                return False
            self._add_result(job, data, held["evidence"], now, model_id=job.get("model_id"),
                             filed_as=filed_as)
            if persist is not None:
                persist(self.db, job)
            self._record_corrections(job, corrections, example_key, now)
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

    def _record_corrections(self, job: dict[str, Any], corrections: list[dict[str, Any]],
                            example_key: str | None, now: float) -> None:
        for c in corrections:
            self.db.execute(
                "INSERT INTO corrections (job_id, task, example_key, field, model_value,"
                " value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [job["id"], job["task"], example_key, c["field"], json.dumps(c.get("was")),
                 json.dumps(c.get("value")), iso(now)],
            )

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


# -- reading --------------------------------------------------------------------------------------


def pending(db: sqlite_utils.Database, task: str | None = None, limit: int = 100) -> list[dict]:
    """Jobs waiting for a person, most doubtful first: answers that failed their checks, then
    by the confidence their task measured (lowest first), then oldest first; with their
    problems and the model's answer."""
    where, args = "j.state = 'needs_review'", []
    if task:
        where += " AND j.task = ?"
        args.append(task)
    rows = db.execute(
        "SELECT j.id, j.task, j.input_sha256, j.reason, r.problems, r.data, r.created_at,"
        " json_extract(r.stats, '$.confidence') AS confidence"
        f" FROM jobs j JOIN reviews r ON r.job_id = j.id WHERE {where}"
        " ORDER BY confidence IS NOT NULL, confidence, r.created_at, j.id LIMIT ?",
        [*args, limit],
    ).fetchall()
    return [{"job_id": r[0], "task": r[1], "input_sha256": r[2], "reason": r[3],
             "problems": json.loads(r[4] or "[]"), "data": json.loads(r[5] or "null"),
             "held_at": r[6], "confidence": r[7]} for r in rows]


def get(db: sqlite_utils.Database, job_id: str) -> dict[str, Any] | None:
    rows = list(db["reviews"].rows_where("job_id = ?", [job_id]))
    if not rows:
        return None
    row = rows[0]
    for key in ("problems", "data", "evidence", "stats"):
        row[key] = json.loads(row[key] or "null")
    return row


def examples(db: sqlite_utils.Database, task: str, keys: list[str],
             limit: int = 1) -> list[dict[str, Any]]:
    """The newest results a person corrected whose ``example_key`` is one of ``keys``: the
    final data, the fields changed, and the evidence the model had (so a task can show why)."""
    keys = [k for k in keys if k]
    if not keys or not db["corrections"].exists():
        return []
    marks = ",".join("?" * len(keys))
    job_ids = [r[0] for r in db.execute(
        f"SELECT job_id FROM corrections WHERE task = ? AND example_key IN ({marks})"
        " GROUP BY job_id ORDER BY MAX(id) DESC LIMIT ?", [task, *keys, limit],
    ).fetchall()]
    out = []
    for job_id in job_ids:
        result = db.execute("SELECT data, evidence FROM results WHERE job_id = ?",
                            [job_id]).fetchone()
        if result is None:
            continue
        fields = [r[0] for r in db.execute(
            "SELECT field FROM corrections WHERE job_id = ? ORDER BY id", [job_id])]
        out.append({"job_id": job_id, "data": json.loads(result[0]),
                    "evidence": json.loads(result[1] or "{}"), "corrected": fields})
    return out


def versions(db: sqlite_utils.Database, task: str, input_sha256: str) -> list[dict[str, Any]]:
    """Every stored result for one input and task, oldest version first."""
    rows = db.execute(
        "SELECT r.version, r.job_id, r.data, r.model_id, r.created_at, j.task_version"
        " FROM results r JOIN jobs j ON j.id = r.job_id WHERE r.task = ? AND r.input_sha256 = ?"
        " ORDER BY r.version", [task, input_sha256],
    ).fetchall()
    return [{"version": r[0], "job_id": r[1], "data": json.loads(r[2]), "model_id": r[3],
             "created_at": r[4], "task_version": r[5]} for r in rows]


def latest(db: sqlite_utils.Database, task: str, since: str | None = None) -> list[dict]:
    """The newest result of each input of ``task`` (optionally first seen on or after
    ``since``), with the job that produced it."""
    args: list[Any] = [task]
    extra = ""
    if since:
        extra = " AND f.first_seen >= ?"
        args.append(since)
    rows = db.execute(
        "SELECT r.job_id, r.input_sha256, r.version, r.data FROM results r"
        " JOIN files f ON f.sha256 = r.input_sha256"
        " WHERE r.task = ? AND r.version = (SELECT MAX(version) FROM results r2"
        "  WHERE r2.task = r.task AND r2.input_sha256 = r.input_sha256)"
        f"{extra} ORDER BY r.id", args,
    ).fetchall()
    return [{"job_id": r[0], "input_sha256": r[1], "version": r[2], "data": json.loads(r[3])}
            for r in rows]


def latest_job_ids(db: sqlite_utils.Database, task: str) -> set[str]:
    """Job ids holding the newest result version of each input (listings show only these)."""
    return {r[0] for r in db.execute(
        "SELECT r.job_id FROM results r WHERE r.task = ? AND (r.input_sha256 IS NULL OR"
        " r.version = (SELECT MAX(version) FROM results r2 WHERE r2.task = r.task"
        " AND r2.input_sha256 = r.input_sha256))", [task])}


def newest_per_input(db: sqlite_utils.Database, table: str) -> set[str]:
    """Job ids of a task table's rows (``job_id``, ``file_sha256``) that hold the newest
    committed result for their input. Keyed on the table, not on ``results.task``: a row filed
    by a dispatching task (``Task.filed_as``) is as much the table's as one its own task wrote,
    and a later reprocess or correction of either supersedes it."""
    quoted = '"' + table.replace('"', '""') + '"'
    return {r[0] for r in db.execute(
        f"SELECT t.job_id FROM {quoted} t LEFT JOIN results r ON r.job_id = t.job_id"
        f" WHERE r.id IS NULL OR r.id = (SELECT MAX(r2.id) FROM {quoted} t2"
        " JOIN results r2 ON r2.job_id = t2.job_id WHERE t2.file_sha256 = t.file_sha256)")}


def versions_of(db: sqlite_utils.Database, table: str) -> dict[str, int]:
    """job id -> the version number of its result, for the jobs with rows in ``table``."""
    quoted = '"' + table.replace('"', '""') + '"'
    return {r[0]: r[1] for r in db.execute(
        f"SELECT r.job_id, r.version FROM results r JOIN {quoted} t ON t.job_id = r.job_id")}

