"""Rows a test writes straight into a task table need their parents since the foreign keys
(store migration m010, the plugins' own): a file for each ``file_sha256`` and a done job for
each ``job_id`` the rows name, made first, as ingest and the ledger would have."""

from __future__ import annotations

FIXED = "2026-01-01T00:00:00+00:00"


def add_parents(db, rows, task="fixture"):
    """Insert the missing parents of ``rows`` (dicts) and return ``rows``."""
    for row in rows:
        add_file(db, row.get("file_sha256"))
        if row.get("job_id"):
            db.execute(
                "INSERT OR IGNORE INTO jobs (id, task, state, idempotency_key, input_sha256,"
                " created_at, updated_at) VALUES (?, ?, 'done', ?, ?, ?, ?)",
                [row["job_id"], task, f"{task}:{row['job_id']}", row.get("file_sha256"),
                 FIXED, FIXED])
    return rows


def add_file(db, sha256, name=None):
    """A ``files`` row for ``sha256`` (an input a test names without ingesting it)."""
    if sha256:
        db.execute("INSERT OR IGNORE INTO files (sha256, original_name, first_seen)"
                   " VALUES (?, ?, ?)", [sha256, name, FIXED])
    return sha256
