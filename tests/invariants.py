"""What must hold after any fault: one helper every reliability scenario ends with.

``assert_invariants(home, ...)`` checks, from the outside (the real SQLite file, the real archive,
the real CLI):

- every file that appeared in the inbox is archived with its jobs, or refused with a reason
  (``inbox_files.state = 'refused'``), or still pending while the daemon says why (it is paused,
  or the file is gone/ignored); junk and partial downloads leave no trace at all;
- at most one result per idempotency key, and one per done job;
- no job left ``running`` (when the daemon is stopped; with a live daemon, at most its own one);
- ``PRAGMA integrity_check`` is ok;
- every stored result re-validates against its task's ``Output`` model (through a real Host);
- the daemon's PID is unchanged (when a live daemon is passed: the fault was in a child);
- ``mustelid status`` answers within 1 s (timed in-process, after a warm-up call, so the bound
  is about the database and the lock, not interpreter start-up);
- nothing was written outside MUSTELID_HOME (``OutsideWrites``: a snapshot of a temp tree, with
  HOME and TMPDIR pointed into it by the ``outside`` fixture).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path


class OutsideWrites:
    """A snapshot of every entry under ``root`` except ``home`` (and ``allowed`` paths); ``check``
    fails on anything created, modified or deleted there since."""

    def __init__(self, root: Path, home: Path, allowed=()):
        self.root = Path(root)
        self.skip = [Path(home).resolve(), *(Path(a).resolve() for a in allowed)]
        self.before = self._walk()

    def allow(self, path: Path) -> None:
        self.skip.append(Path(path).resolve())

    def _skipped(self, path: Path) -> bool:
        return any(path == s or s in path.parents for s in self.skip)

    def _walk(self) -> dict[str, tuple]:
        out = {}
        for folder, dirs, files in os.walk(self.root):
            here = Path(folder).resolve()
            dirs[:] = [d for d in dirs if not self._skipped(here / d)]
            for name in files:
                p = here / name
                if self._skipped(p):
                    continue
                try:
                    st = os.lstat(p)
                except FileNotFoundError:
                    continue
                out[str(p)] = (st.st_size, st.st_mtime_ns, st.st_mode)
        return out

    def changes(self) -> list[str]:
        after = self._walk()
        changed = [f"created {p}" for p in after.keys() - self.before.keys()]
        changed += [f"deleted {p}" for p in self.before.keys() - after.keys()]
        changed += [f"modified {p}" for p in after.keys() & self.before.keys()
                    if after[p] != self.before[p]]
        return sorted(changed)

    def check(self) -> None:
        assert self.changes() == [], "written outside MUSTELID_HOME"


def watch_outside(fake_home, tmp_path, monkeypatch) -> OutsideWrites:
    """For an ``outside`` fixture: HOME and TMPDIR inside a watched temp tree, so a stray write
    to ~ or /tmp is caught. Call ``outside.allow(path)`` for folders the test itself writes to."""
    user = tmp_path / "user"
    (user / "tmp").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(user))
    monkeypatch.setenv("TMPDIR", str(user / "tmp"))
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(var, raising=False)
    return OutsideWrites(tmp_path, home=fake_home)


def db_path(home: Path) -> Path:
    return Path(home) / "data" / "mustelid.db"


def query(home: Path, sql: str, args=()) -> list[tuple]:
    db = sqlite3.connect(f"file:{db_path(home)}?mode=ro", uri=True, timeout=15)
    try:
        return db.execute(sql, list(args)).fetchall()
    finally:
        db.close()


def running(home: Path) -> int:
    """How many jobs are running, read straight from the database (no CLI start-up delay)."""
    try:
        return query(home, "SELECT COUNT(*) FROM jobs WHERE state = 'running'")[0][0]
    except sqlite3.Error:
        return 0


def status_in_process() -> tuple[float, dict]:
    """``mustelid status --json`` through the real CLI code, in this process; (seconds, output)."""
    from click.testing import CliRunner

    from mustelid.cli import _assembled

    runner = CliRunner()
    started = time.monotonic()
    result = runner.invoke(_assembled(), ["status", "--json"], catch_exceptions=False)
    took = time.monotonic() - started
    assert result.exit_code == 0, result.output
    return took, json.loads(result.stdout)


def _key(path: Path) -> str:
    """The inbox path as the daemon stores it (inbox folder resolved, file name as is)."""
    path = Path(path)
    return str(Path(os.path.realpath(path.parent)) / path.name)


def assert_invariants(
    home: Path,
    *,
    dropped=(),
    daemon=None,
    moved_to: Path | None = None,
    outside: OutsideWrites | None = None,
    pending_ok: bool = False,
    expect_jobs: bool = True,
) -> dict:
    """Check every invariant; returns a few counts for the report.

    ``dropped``: every path the test put in the inbox (junk included). ``daemon``: a live
    ``DaemonProcess`` whose PID must be the one ``status`` reports. ``pending_ok``: files may
    still be waiting, provided the daemon publishes why (paused) or the file is still tracked.
    """
    from mustelid.config import load_config

    home = Path(home)
    cfg = load_config()
    inbox = Path(os.path.realpath(cfg.inbox_dir))
    db = sqlite3.connect(f"file:{db_path(home)}?mode=ro", uri=True, timeout=15,
                         isolation_level=None)
    db.execute("BEGIN")                  # one snapshot: a live daemon may commit meanwhile
    try:
        return _check(home, cfg, inbox, db, dropped, daemon, moved_to, outside, pending_ok,
                      expect_jobs)
    finally:
        db.close()


def _check(home, cfg, inbox, db, dropped, daemon, moved_to, outside, pending_ok, expect_jobs):
    from mustelid.host import Host
    from mustelid.inbox import is_ignored

    q = lambda sql, *a: db.execute(sql, list(a)).fetchall()

    # -- the database itself ------------------------------------------------------------------
    assert q("PRAGMA integrity_check") == [("ok",)]
    running = q("SELECT id, lease_owner FROM jobs WHERE state = 'running'")
    if daemon is None or not daemon.alive():
        assert running == [], f"jobs left running: {running}"
    else:
        assert len(running) <= 1, running
        assert all(owner.endswith(f":{daemon.pid}") for _, owner in running), running
    dupes = q("SELECT j.idempotency_key, COUNT(*) FROM results r JOIN jobs j ON j.id = r.job_id"
              " GROUP BY j.idempotency_key HAVING COUNT(*) > 1")
    assert dupes == [], f"more than one result per idempotency key: {dupes}"
    assert q("SELECT COUNT(*) FROM jobs WHERE state = 'done'") == q(
        "SELECT COUNT(DISTINCT job_id) FROM results")
    host = Host(cfg.plugins_path)
    results = q("SELECT r.task, r.data FROM results r")
    for task, data in results:
        host.task(task).Output.model_validate(json.loads(data))

    # -- every file dropped: archived with jobs, refused with a reason, or pending with a why --
    rows = {p: (state, reason, sha) for p, state, reason, sha in
            q("SELECT path, state, reason, sha256 FROM inbox_files")}
    published = q("SELECT value FROM daemon_state WHERE key = 'daemon'")
    facts = json.loads(published[0][0]) if published else {}
    counts = {"archived": 0, "refused": 0, "ignored": 0, "vanished": 0, "pending": 0}
    for path in dropped:
        path = Path(path)
        key = _key(path)
        rel = Path(key).relative_to(inbox).as_posix() if Path(key).is_relative_to(inbox) else None
        if rel is not None and is_ignored(rel, cfg.inbox.ignore):
            assert key not in rows, f"junk was ingested: {key!r}"
            counts["ignored"] += 1
            continue
        row = rows.get(key)
        if row is None:
            if not os.path.lexists(path):
                counts["vanished"] += 1        # deleted before it was ever stable: nothing owed
                continue
            why = facts.get("paused") or (facts.get("tracking") and "still being written")
            assert pending_ok and why, f"{key!r} was neither ingested nor refused (no reason given)"
            counts["pending"] += 1
            continue
        state, reason, sha = row
        if state == "refused":
            assert reason, f"{key!r} refused without a reason"
            counts["refused"] += 1
            continue
        assert state in ("ingested", "moved"), (key, row)
        archived = q("SELECT archived_path FROM files WHERE sha256 = ?", sha)
        assert archived, f"{key!r} has no files row"
        data = Path(archived[0][0]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha, f"archive copy of {key!r} is damaged"
        if expect_jobs:
            assert q("SELECT COUNT(*) FROM jobs WHERE input_sha256 = ?", sha)[0][0] >= 1, key
        if state == "moved":
            assert moved_to is not None, f"{key!r} was moved but no done folder is configured"
            moved = {hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in Path(moved_to).rglob("*") if p.is_file()}
            assert sha in moved, f"{key!r} is marked moved but is not in {moved_to}"
        counts["archived"] += 1

    # -- the daemon: same PID (a fault in a child never takes it down); status answers fast ------
    status_in_process()                        # warm-up: imports, plugin loading
    took, status = status_in_process()
    assert took < 1.0, f"mustelid status took {took:.2f}s"
    if daemon is not None:
        assert daemon.alive(), "the daemon died"
        assert status["daemon"] == "running" and status["pid"] == daemon.pid, status
    if outside is not None:
        outside.check()
    counts["results"] = len(results)
    return counts
