"""Schedule state (table ``schedule_state``): arming, moving the cursor, recording a fire.

The scheduler (``mustelid.scheduler``) decides *what* is due; this module only reads and writes
the rows. Times are ISO strings with their UTC offset, compared after parsing, never as text.
"""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils

from mustelid.store.db import immediate
from mustelid.store.jobs import iso
from mustelid.store.ledger import Ledger


def states(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """Every schedule's row, by name (an empty dict before the first fire or arming)."""
    if not db["schedule_state"].exists():
        return {}
    return {row["name"]: row for row in db["schedule_state"].rows}


def arm(db: sqlite_utils.Database, name: str, at: str) -> None:
    """First sight of a schedule: fires from ``at`` on count; earlier ones are not back-filled.
    A no-op if the schedule is already known (two processes may race to arm it)."""
    with immediate(db):
        db.execute(
            "INSERT OR IGNORE INTO schedule_state (name, cursor, armed_at, updated_at)"
            " VALUES (?, ?, ?, ?)",
            [name, at, at, iso(time.time())],
        )


def move_cursor(db: sqlite_utils.Database, name: str, at: str) -> None:
    """Set the cursor without firing (the wall clock went back past it)."""
    with immediate(db):
        db.execute(
            "UPDATE schedule_state SET cursor = ?, updated_at = ? WHERE name = ?",
            [at, iso(time.time()), name],
        )


def record_fire(
    ledger: Ledger, name: str, fire_at: str, key: str, job: dict[str, Any]
) -> tuple[str, bool]:
    """Enqueue the fire's job and advance the cursor in ONE transaction, so a crash between the
    two can neither lose the fire nor advance past it. ``job`` is ``Ledger.enqueue`` keyword
    arguments; an existing job with the same idempotency key is returned with ``created=False``.
    """
    db = ledger.db
    with immediate(db):
        job_id, created = ledger.enqueue(**job)
        db.execute(
            "INSERT INTO schedule_state (name, cursor, armed_at, last_fire, last_key,"
            " last_job_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE"
            " SET cursor = excluded.cursor, last_fire = excluded.last_fire,"
            " last_key = excluded.last_key, last_job_id = excluded.last_job_id,"
            " updated_at = excluded.updated_at",
            [name, fire_at, fire_at, fire_at, key, job_id, iso(ledger.clock())],
        )
    return job_id, created

