"""Files seen in the inbox: content-addressed records, per-path scan state, refusals."""

from __future__ import annotations

import time
from typing import Any, Iterable

import sqlite_utils

from mustelid.store.db import immediate
from mustelid.store.jobs import iso
from mustelid.store.ledger import Ledger


def already_seen(db: sqlite_utils.Database, path: str, size: int, mtime_ns: int) -> bool:
    """True if this exact (path, size, mtime) was already ingested or refused: skip re-hashing."""
    row = db.execute(
        "SELECT 1 FROM inbox_files WHERE path = ? AND size = ? AND mtime_ns = ?",
        [path, size, mtime_ns],
    ).fetchone()
    return row is not None


def record_ingest(
    ledger: Ledger,
    *,
    sha256: str,
    size: int,
    mime: str | None,
    archived_path: str,
    original_path: str,
    original_name: str,
    mtime_ns: int,
    jobs: Iterable[dict[str, Any]],
) -> list[tuple[str, bool]]:
    """One transaction: the file, its inbox path, and its jobs (idempotent per key).

    Called only after the archive copy is fsynced, so a committed job always has its bytes.
    ``jobs`` are ``Ledger.enqueue`` keyword arguments.
    """
    db, now = ledger.db, iso(ledger.clock())
    with immediate(db):
        db.execute(
            "INSERT OR IGNORE INTO files (sha256, size, mime, archived_path, original_name,"
            " original_path, first_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [sha256, size, mime, archived_path, original_name, original_path, now],
        )
        _mark(db, original_path, size, mtime_ns, "ingested", None, None, sha256, now)
        return [ledger.enqueue(input_sha256=sha256, **job) for job in jobs]


def record_refusal(
    db: sqlite_utils.Database, path: str, size: int, mtime_ns: int, reason: str, message: str
) -> None:
    """The file stays where it is, untouched; we remember why we refused it (quarantine list)."""
    with immediate(db):
        _mark(db, path, size, mtime_ns, "refused", reason, message, None, iso(time.time()))


def forget_refusals(db: sqlite_utils.Database, reason: str, *, keep: set[str]) -> None:
    """Drop the refusals for ``reason`` whose path is not in ``keep``: the cause has gone (a
    folder that can be read again), so the entry would only mislead."""
    rows = db.execute("SELECT path FROM inbox_files WHERE state = 'refused' AND reason = ?",
                      [reason]).fetchall()
    gone = [path for (path,) in rows if path not in keep]
    if gone:
        with immediate(db):
            db.conn.executemany("DELETE FROM inbox_files WHERE path = ?", [(p,) for p in gone])


def mark_moved(db: sqlite_utils.Database, path: str) -> None:
    db.execute(
        "UPDATE inbox_files SET state = 'moved', updated_at = ? WHERE path = ?",
        [iso(time.time()), path],
    )


def _mark(db, path, size, mtime_ns, state, reason, message, sha256, now) -> None:
    db.execute(
        "INSERT INTO inbox_files (path, size, mtime_ns, sha256, state, reason, message,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET"
        " size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256,"
        " state = excluded.state, reason = excluded.reason, message = excluded.message,"
        " updated_at = excluded.updated_at",
        [path, size, mtime_ns, sha256, state, reason, message, now],
    )


def get_file(db: sqlite_utils.Database, sha256: str) -> dict[str, Any] | None:
    rows = list(db["files"].rows_where("sha256 = ?", [sha256]))
    return rows[0] if rows else None


def inbox_files(db: sqlite_utils.Database, *, refused_only: bool = False,
                limit: int = 100, since: str | None = None,
                until: str | None = None) -> list[dict[str, Any]]:
    """Inbox paths seen, most recently changed first (only the refused ones if asked);
    ``since``/``until``: ISO instants bounding ``updated_at`` (``until`` exclusive)."""
    where, args = ["state = 'refused'"] if refused_only else [], []
    for op, value in ((">=", since), ("<", until)):
        if value:
            where.append(f"updated_at {op} ?")
            args.append(value)
    return list(db["inbox_files"].rows_where(" AND ".join(where) or None, args,
                                             order_by="updated_at DESC", limit=limit))


def count_refused(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT COUNT(*) FROM inbox_files WHERE state = 'refused'").fetchone()[0]


def finished(db: sqlite_utils.Database, sha256: str | None = None) -> list[tuple[str, int, int]]:
    """(path, size, mtime_ns) of ingested inbox files whose jobs have all ended, at least one
    ``done`` (a file with only dead jobs stays where the user can see it); one file's bytes only
    if ``sha256`` is given. The runner moves these to the done folder."""
    one = " AND f.sha256 = ?" if sha256 else ""
    return db.execute(
        "SELECT f.path, f.size, f.mtime_ns FROM inbox_files f WHERE f.state = 'ingested'"
        f" AND f.sha256 IS NOT NULL{one}"
        " AND EXISTS (SELECT 1 FROM jobs j WHERE j.input_sha256 = f.sha256"
        " AND j.state = 'done') AND NOT EXISTS (SELECT 1 FROM jobs j"
        " WHERE j.input_sha256 = f.sha256 AND j.state NOT IN ('done', 'dead'))",
        [sha256] if sha256 else [],
    ).fetchall()


def set_state(db: sqlite_utils.Database, key: str, value: str) -> None:
    """Publish a daemon fact for `mustelid status`."""
    db.execute(
        "INSERT INTO daemon_state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key)"
        " DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        [key, value, iso(time.time())],
    )


def get_states(db: sqlite_utils.Database) -> dict[str, dict[str, str]]:
    if not db["daemon_state"].exists():
        return {}
    return {r["key"]: r for r in db["daemon_state"].rows}
