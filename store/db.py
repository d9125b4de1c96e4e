"""Opening the one SQLite file, with the durability settings the promise depends on."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Iterator

import sqlite_utils

BUSY_TIMEOUT_MS = 15_000


def open_db(path: Path | str) -> sqlite_utils.Database:
    """A sqlite-utils Database in WAL mode with ``synchronous=FULL``.

    FULL, not NORMAL: in WAL mode NORMAL loses acknowledged commits on power loss (NOTES.md
    measured 4,220 of 39,835), and we move or forget user files on the strength of a commit.
    busy_timeout lets the CLI and the daemon write at the same time without "database is locked".
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _create(path)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000)
    db = sqlite_utils.Database(conn)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        # enable_wal() must run outside a transaction (NOTES.md).
        db.enable_wal()
    db.execute("PRAGMA synchronous = FULL")
    db.execute("PRAGMA foreign_keys = ON")
    return db


def open_db_readonly(path: Path | str) -> sqlite_utils.Database:
    """The database for reading only (``mustelid mcp``): opened with SQLite's ``mode=ro``, so
    SQLite itself refuses every write on this connection, and a missing file is never created
    (``FileNotFoundError``). Readers never block the daemon's writer in WAL mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no database at {path}")
    # as_uri() percent-escapes what a URI would misread in a path ("?", "#", "%", spaces).
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                           timeout=BUSY_TIMEOUT_MS / 1000)
    return sqlite_utils.Database(conn)


def _create(path: Path) -> None:
    """Make a new database whole, then give it its name: a reader (the CLI started beside a
    daemon that is creating the file) must never see the 0-byte file sqlite makes first, which
    otherwise only a lost history leaves (home.open_store refuses it)."""
    temp = path.with_name(f".{path.name}.new-{os.getpid()}")
    temp.unlink(missing_ok=True)
    conn = sqlite3.connect(str(temp))
    try:
        conn.execute("PRAGMA journal_mode = WAL")     # writes the header: the file is a database
    finally:
        conn.close()
    fd = os.open(temp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)             # never replaces a database another process just made
    except FileExistsError:
        pass
    except OSError:                     # a filesystem without hard links
        if not path.exists():
            os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    if os.name == "posix":
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def immediate(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """A write transaction that takes the write lock up front.

    sqlite-utils opens deferred transactions; two writers that both read first and then upgrade
    can deadlock into SQLITE_BUSY. BEGIN IMMEDIATE makes the second writer wait on busy_timeout
    instead, which is what claiming a job needs.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    else:
        db.conn.execute("COMMIT")
