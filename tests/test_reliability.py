"""Never lose a job, never commit one twice: kill -9 the daemon at random moments.

Fast tier (CI): 200 jobs, 20 kills. Slow tier (`pytest -m slow`): 2,000 jobs, 200 kills.
The model backend is the fake one (tests/plugins/fakeplugin.py) so the counts are about the
ledger, not the model; the processes, signals and SQLite file are real.
"""

import json
import os
import random
import sqlite3
import time

import pytest
from daemonproc import DaemonProcess, cli

from mustelid.config import load_config


def seed_jobs(home, n):
    src = home / "src"
    src.mkdir()
    paths = []
    for i in range(n):
        p = src / f"note-{i:05d}.txt"
        p.write_text(f"PAUSE note number {i}")
        paths.append(str(p))
    for start in range(0, n, 500):
        cli("submit", *paths[start:start + 500], timeout=300)


def invariants(home, n):
    db = sqlite3.connect(load_config().db_path)
    q = lambda sql: db.execute(sql).fetchall()
    states = dict(q("SELECT state, COUNT(*) FROM jobs GROUP BY state"))
    assert q("PRAGMA integrity_check") == [("ok",)]
    assert states.get("running", 0) == 0, states
    assert sum(states.values()) == n, states                     # none lost
    assert states.get("done", 0) == n, states                    # all finished
    # at most one result per idempotency key, and exactly one per done job
    dupes = q("SELECT j.idempotency_key, COUNT(*) FROM results r JOIN jobs j ON j.id = r.job_id"
              " GROUP BY j.idempotency_key HAVING COUNT(*) > 1")
    assert dupes == []
    assert q("SELECT COUNT(*) FROM results")[0][0] == n
    assert q("SELECT COUNT(*) FROM echoes")[0][0] == n           # the task's own rows too
    assert q("SELECT COUNT(DISTINCT job_id) FROM echoes")[0][0] == n
    for (data,) in q("SELECT data FROM results"):                # every result re-validates
        assert json.loads(data)["text"].startswith("PAUSE note number")
    recovered = q("SELECT COUNT(*) FROM job_events WHERE event = 'recovered'")[0][0]
    return recovered


def kill_loop(home, n_jobs, kills, seed):
    rng = random.Random(seed)
    seed_jobs(home, n_jobs)
    for _ in range(kills):
        d = DaemonProcess(home)
        time.sleep(rng.uniform(0.3, 2.5))
        d.kill9()
    cli("run", "--once", timeout=900)
    return invariants(home, n_jobs)


def test_kill9_at_random_moments_loses_nothing_and_duplicates_nothing(fake_home):
    recovered = kill_loop(fake_home, n_jobs=200, kills=20, seed=1)
    print(f"\n200 jobs, 20 kill -9: 0 lost, 0 duplicate results, {recovered} re-executions")


@pytest.mark.slow
def test_kill9_full_count(fake_home):
    recovered = kill_loop(fake_home, n_jobs=2000, kills=200, seed=2)
    print(f"\n2000 jobs, 200 kill -9: 0 lost, 0 duplicate results, {recovered} re-executions")
