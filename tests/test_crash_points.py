"""kill -9 at named points (daemon/faults.py): the daemon SIGKILLs itself exactly where a crash
is most dangerous, then a clean restart must lose nothing and duplicate nothing.

Each case first checks that the crash happened where it was asked to (exit by SIGKILL, and the
database/archive in the half-done state that point implies), so a point that is never reached
fails the test instead of passing it vacuously. The backend is the fake one; the processes,
signals, SQLite file and archive are real.
"""

import os
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
    for temp in (p for p in _archived(fake_home) if p.name.startswith(".tmp-")):
        # As if the machine came back an hour later: a temp file that old is a crash's, and the
        # restart removes it (a younger one may belong to a `mustelid submit` still copying).
        os.utime(temp, (time.time() - 7200, time.time() - 7200))

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
    assert temps == [], temps


# -- faults inside the model worker: the daemon survives them, the job ends dead with a reason --


def test_a_worker_that_eats_memory_or_segfaults_dies_alone_and_the_job_is_dead_lettered(fake_home):
    from conftest import write_config
    from daemonproc import jobs_by_file, wait_for

    text = (fake_home / "config.toml").read_text()
    write_config(fake_home, text.replace("[jobs]\n", "[jobs]\nworker_memory_mb = 1024\n"))
    inbox = fake_home / "inbox"
    inbox.mkdir()
    words = {"eat.txt": "EATMEM until stopped", "segv.txt": "SEGV now", "ok.txt": "plain text"}
    dropped = []
    for name, body in words.items():
        (inbox / name).write_text(body)
        dropped.append(inbox / name)
    d = DaemonProcess(fake_home)
    try:
        jobs = wait_for(lambda: (j := jobs_by_file()) and len(j) == 3
                        and all(x["state"] in ("done", "dead") for x in j.values()) and j,
                        timeout=120, what="3 jobs to finish")
        errors = dict(query(fake_home, "SELECT f.original_name, j.last_error FROM jobs j"
                                       " JOIN files f ON f.sha256 = j.input_sha256"))
        eat, segv = jobs["eat.txt"], jobs["segv.txt"]
        # The cap ended it (MemoryError in the worker), not the 5 s job timeout.
        assert (eat["state"], eat["reason"], eat["attempts"]) == ("dead", "out_of_memory", 4), eat
        assert "1024 MiB" in errors["eat.txt"], errors
        assert (segv["state"], segv["reason"], segv["attempts"]) == ("dead", "worker_crashed", 4)
        assert f"signal {signal.SIGSEGV.value}" in errors["segv.txt"], errors
        assert jobs["ok.txt"]["state"] == "done"
        counts = assert_invariants(fake_home, dropped=dropped, daemon=d)   # same daemon PID
        print(f"\nEATMEM: dead out_of_memory after {eat['attempts']} attempts; SEGV: dead "
              f"worker_crashed after {segv['attempts']}; daemon PID {d.pid} unchanged; {counts}")
    finally:
        d.stop()
