"""kill -9 at named points (daemon/faults.py): the daemon SIGKILLs itself exactly where a crash
is most dangerous, then a clean restart must lose nothing and duplicate nothing.

Each case first checks that the crash happened where it was asked to (exit by SIGKILL, and the
database/archive in the half-done state that point implies), so a point that is never reached
fails the test instead of passing it vacuously. The backend is the fake one; the processes,
signals, SQLite file and archive are real.
"""

import signal
import sqlite3
import time

import pytest
from daemonproc import DaemonProcess, cli
from invariants import assert_invariants, db_path, query

from mustelid.faults import ENV, POINTS

N_FILES = 3


def _tables(home):
    try:
        return {r[0] for r in query(home, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error:
        return set()


def _archived(home):
    root = home / "data" / "archive"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _state_at_crash(point, home):
    """What the database and archive look like right after the kill at ``point``."""
    archived = _archived(home)
    published = [p for p in archived if not p.name.startswith(".tmp-")]
    temps = [p for p in archived if p.name.startswith(".tmp-")]
    if point in ("between_migrations", "migration_uncommitted"):
        tables = _tables(home)
        assert "echoes" not in tables, tables          # the plugin's set never ran
        if point == "migration_uncommitted":
            assert "jobs" not in tables, tables        # the core set was rolled back
        else:
            assert "jobs" in tables, tables            # the core set was committed
        assert archived == []
        return f"tables: {len(tables)}"
    if point == "after_hash":
        assert len(temps) == 1 and published == [], archived
        assert query(home, "SELECT COUNT(*) FROM files") == [(0,)]
        return "1 temp copy, 0 published, 0 rows"
    if point == "after_archive_copy":
        assert len(published) == 1, archived
        assert query(home, "SELECT COUNT(*) FROM files") == [(0,)]   # no row points at it yet
        return "1 published copy, 0 rows"
    states = dict(query(home, "SELECT state, COUNT(*) FROM jobs GROUP BY state"))
    assert states.get("running") == 1, states
    assert query(home, "SELECT COUNT(*) FROM results") == [(0,)]
    if point == "before_commit":   # the worker answered: the answer died with the daemon
        assert len(_generations(home)) == 1, _generations(home)
    return f"jobs {states}"


def _generations(home):
    log = home / "fake-generations.log"
    return log.read_text().split() if log.exists() else []


@pytest.mark.parametrize("point", POINTS)
def test_kill9_at_a_named_point_loses_nothing(point, fake_home, monkeypatch):
    inbox = fake_home / "inbox"
    inbox.mkdir()
    dropped = []
    for i in range(N_FILES):
        p = inbox / f"note-{i}.txt"
        p.write_text(f"crash point {point} note {i}")
        dropped.append(p)

    monkeypatch.setenv(ENV, point)
    d = DaemonProcess(fake_home)
    monkeypatch.delenv(ENV)               # the CLI calls and the restart run without it
    try:
        code = d.wait(60)
    finally:
        d.stop()
    assert code == -signal.SIGKILL, f"did not die at {point} (exit {code}):\n{d.output()}"
    seen = _state_at_crash(point, fake_home)

    started = time.monotonic()
    cli("run", "--once", timeout=120)
    took = time.monotonic() - started
    counts = assert_invariants(fake_home, dropped=dropped)
    assert counts["archived"] == N_FILES, counts
    states = dict(query(fake_home, "SELECT state, COUNT(*) FROM jobs GROUP BY state"))
    assert states == {"done": N_FILES}, states
    assert query(fake_home, "SELECT COUNT(*) FROM results") == [(N_FILES,)]
    assert query(fake_home, "SELECT COUNT(DISTINCT job_id) FROM echoes") == [(N_FILES,)]
    recovered = query(fake_home, "SELECT COUNT(*) FROM job_events WHERE event = 'recovered'")
    temps = [p for p in _archived(fake_home) if p.name.startswith(".tmp-")]
    print(f"\n{point}: died by SIGKILL ({seen}); restart finished in {took:.1f}s: "
          f"{counts['archived']} archived, {counts['results']} results, "
          f"{recovered[0][0]} recovered, {len(_generations(fake_home))} generations, "
          f"{len(temps)} temp file(s) left in the archive, 0 lost, 0 duplicated")
    assert db_path(fake_home).exists()
