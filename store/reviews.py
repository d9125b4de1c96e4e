"""Reading what review and reprocess wrote: held answers, corrections, result versions.

The writes live in ``Ledger`` (they change a job's state in the same transaction); these are the
reads the CLI and tasks need, kept here so SQL stays in store/.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils


def pending(db: sqlite_utils.Database, task: str | None = None, limit: int = 100) -> list[dict]:
    """Jobs waiting for a person, oldest first, with their problems and the model's answer."""
    where, args = "j.state = 'needs_review'", []
    if task:
        where += " AND j.task = ?"
        args.append(task)
    rows = db.execute(
        "SELECT j.id, j.task, j.input_sha256, j.reason, r.problems, r.data, r.created_at"
        f" FROM jobs j JOIN reviews r ON r.job_id = j.id WHERE {where}"
        " ORDER BY r.created_at, j.id LIMIT ?", [*args, limit],
    ).fetchall()
    return [{"job_id": r[0], "task": r[1], "input_sha256": r[2], "reason": r[3],
             "problems": json.loads(r[4] or "[]"), "data": json.loads(r[5] or "null"),
             "held_at": r[6]} for r in rows]


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
    committed result for their input. Keyed on the table, not on ``results.task``: an expense
    filed by the router (task ``auto``) is as much an expense as one from task ``receipts``, and
    a later reprocess or correction of either supersedes it."""
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


def result_versions(db: sqlite_utils.Database, task: str) -> dict[str, int]:
    """job id -> the version number of its result."""
    return {r[0]: r[1] for r in db.execute(
        "SELECT job_id, version FROM results WHERE task = ?", [task])}
