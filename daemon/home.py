"""Where a mustelid daemon keeps its state: the database it opens and the lock it holds.

Light on purpose: every CLI command opens the store and ``mustelid status`` asks whether a
daemon runs, without importing the daemon's loop (``mustelid.runner``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any, Callable

import filelock
import sqlite_utils

from mustelid.config import Config
from mustelid.host import Host
from mustelid.store import Ledger, migrate, open_db

log = logging.getLogger("mustelid.home")


class AlreadyRunning(Exception):
    pass


class StoreUnusable(Exception):
    """The database file is there but cannot be trusted: nothing may start over it."""


class InboxOverlap(Exception):
    """The inbox holds, or lies inside, what mustelid itself writes: it would feed on itself."""


def check_inbox(config: Config) -> None:
    """Refuse an inbox that contains, or is inside, the data dir or the models folder: the
    daemon would ingest its own database, archive and logs, and the files they grow into."""
    inbox = config.inbox_dir.expanduser().resolve()
    for what, folder in (("data folder", config.data_dir), ("models folder", config.models_dir)):
        own = Path(folder).expanduser().resolve()
        if inbox == own or inbox.is_relative_to(own) or own.is_relative_to(inbox):
            raise InboxOverlap(
                f"the inbox {inbox} {'is inside' if inbox.is_relative_to(own) else 'contains'} "
                f"mustelid's {what} {own}; choose an inbox folder of its own (inbox.path)")


def lock_path(config: Config) -> Path:
    return config.data_dir / "daemon.lock"


def daemon_running(config: Config) -> bool:
    """True if some process holds the daemon lock (works without talking to it)."""
    path = lock_path(config)
    if not path.exists():
        return False
    lock = filelock.FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return True
    lock.release()
    return False


def make_private(data_dir: Path) -> None:
    """The data folder is the user's alone: receipts, screens and notes are private (issue 13).

    The umask makes everything this process (and the model worker it starts) creates from now
    on 0600 / 0700, whatever the source file's mode: the database and its WAL, archive copies,
    migrations' files, summaries. The data folder itself is set to 0700, which also closes the
    files an older release left 0644 inside it; the database files are set to 0600.
    """
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True)
    for path, mode in [(data_dir, 0o700)] + [(data_dir / name, 0o600) for name in
                                              ("mustelid.db", "mustelid.db-wal", "mustelid.db-shm")]:
        try:
            os.chmod(path, mode)
        except FileNotFoundError:
            pass
        except OSError as e:
            # Not ours to change (another owner, an immutable or read-only file): opening the
            # database says what is wrong, if anything is.
            log.debug("cannot set %s to %o: %s", path, mode, e)


def database_error(path: Path, e: sqlite3.Error) -> str | None:
    """One line saying what to do for a database that is locked or cannot be written, or None
    for other errors."""
    text = str(e).lower()
    if "locked" in text or "busy" in text:
        return (f"the database {path} is locked by another program ({e}); close it (a DB "
                "browser?) and try again")
    if "readonly" in text or "read-only" in text:
        return (f"the database {path} cannot be written ({e}); give this user write access to "
                "it and its folder (or copy it somewhere writable and point MUSTELID_HOME there)")
    return None


def open_store(config: Config, host: Host,
               on_event: Callable[[dict[str, Any], str], None] | None = None,
               ) -> tuple[sqlite_utils.Database, Ledger]:
    """The database, migrated (the host's tables, then every plugin's), and its ledger.
    ``StoreUnusable`` (one line, what to do) for an empty, damaged or non-SQLite file."""
    path = config.db_path
    make_private(config.data_dir)
    if path.exists() and path.stat().st_size == 0:
        # sqlite would quietly make it a new, empty database: the history gone without a word.
        raise StoreUnusable(f"the database {path} is empty (0 bytes): its history is lost; "
                            "restore a backup there, or delete it to start a new database")
    try:
        db = open_db(path)
        migrate(db, host.migrations())
    except sqlite3.DatabaseError as e:
        if (unusable := database_error(path, e)) is not None:
            raise StoreUnusable(unusable) from None
        raise StoreUnusable(f"the database {path} cannot be used ({e}); restore a backup, or "
                            "move it aside to start a new one") from None
    ledger = Ledger(
        db,
        on_event=on_event,
        backoff_seconds=config.jobs.backoff_seconds,
        backoff_max_seconds=config.jobs.backoff_max_seconds,
    )
    return db, ledger
