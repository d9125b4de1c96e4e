"""Ledger semantics with an injectable clock: leases, backoff, dead-letter, idempotency."""

import pytest

from mustelid.store import Ledger, migrate, open_db


class Clock:
    def __init__(self, t=1_000_000.0):
        self.t = t

    def __call__(self):
        return self.t


@pytest.fixture
def ledger(tmp_path):
    db = open_db(tmp_path / "t.db")
    migrate(db)
    clock = Clock()
    lg = Ledger(db, clock=clock, backoff_seconds=10, backoff_max_seconds=100)
    lg.clock_obj = clock
    return lg


def test_pragmas_are_durable(ledger):
    db = ledger.db
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_idempotency_key_prevents_second_job(ledger):
    a, created_a = ledger.enqueue("echo", idempotency_key="k1")
    b, created_b = ledger.enqueue("echo", idempotency_key="k1")
    assert created_a and not created_b and a == b
    assert ledger.counts()["queued"] == 1


def test_claim_complete_is_one_transaction_and_needs_the_lease(ledger):
    job_id, _ = ledger.enqueue("echo", idempotency_key="k", input_sha256=None)
    job = ledger.claim("me", lease_seconds=30)
    assert job["id"] == job_id and job["state"] == "running" and job["attempts"] == 1
    assert ledger.claim("me", 30) is None
    # someone else cannot commit it
    assert ledger.complete(job_id, "intruder", {"x": 1}) is False
    assert ledger.complete(job_id, "me", {"x": 1}) is True
    assert ledger.get(job_id)["state"] == "done"
    assert ledger.result(job_id)["data"] == '{"x": 1}'
    # and never twice
    assert ledger.complete(job_id, "me", {"x": 2}) is False


def test_persist_failure_rolls_back_everything(ledger):
    job_id, _ = ledger.enqueue("echo", idempotency_key="k")
    ledger.claim("me", 30)

    def persist(db, job):
        db["echoes"].insert({"job_id": job["id"]})
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        ledger.complete(job_id, "me", {"x": 1}, persist=persist)
    assert ledger.get(job_id)["state"] == "running"
    assert ledger.result(job_id) is None
    assert not ledger.db["echoes"].exists() or ledger.db["echoes"].count == 0


def test_transient_failure_backs_off_exponentially_then_dies(ledger):
    clock = ledger.clock_obj
    job_id, _ = ledger.enqueue("echo", idempotency_key="k", max_attempts=3)
    delays = []
    for attempt in range(3):
        job = ledger.claim("me", 30)
        assert job is not None, f"attempt {attempt + 1} should be claimable"
        state = ledger.fail(job_id, "me", "transient", "worker_crashed", "boom")
        if state == "queued":
            run_after = ledger.get(job_id)["run_after"]
            delays.append(run_after - clock.t)
            assert ledger.claim("me", 30) is None  # not before the backoff
            clock.t = run_after
    assert delays == [10, 20]
    job = ledger.get(job_id)
    assert job["state"] == "dead" and job["reason"] == "worker_crashed"
    assert "gave up after 3 attempts" in job["last_error"]


def test_permanent_failure_dead_letters_at_once(ledger):
    job_id, _ = ledger.enqueue("echo", idempotency_key="k")
    ledger.claim("me", 30)
    assert ledger.fail(job_id, "me", "permanent", "unreadable_image", "truncated") == "dead"
    assert ledger.get(job_id)["attempts"] == 1


def test_waiting_does_not_charge_an_attempt_and_rechecks(ledger):
    clock = ledger.clock_obj
    job_id, _ = ledger.enqueue("echo", idempotency_key="k", max_attempts=1)
    for _ in range(3):
        ledger.claim("me", 30)
        assert ledger.fail(job_id, "me", "waiting", "model_missing", "pull it") == "waiting"
        assert ledger.claim("me", 30) is None
        clock.t += ledger.waiting_recheck_seconds
    job = ledger.get(job_id)
    assert job["attempts"] == 0 and job["state"] == "waiting"
    assert ledger.wake_waiting("model_missing") == 1


def test_recover_requeues_orphans_and_kills_poison(ledger):
    a, _ = ledger.enqueue("echo", idempotency_key="a", max_attempts=3)
    b, _ = ledger.enqueue("echo", idempotency_key="b", max_attempts=1)
    ledger.claim("dead-process", 30)
    ledger.claim("dead-process", 30)
    assert sorted(ledger.recover()) == sorted([a, b])
    assert ledger.get(a)["state"] == "queued" and ledger.get(a)["reason"] == "recovered"
    assert ledger.get(b)["state"] == "dead" and ledger.get(b)["reason"] == "crashed_repeatedly"


def test_release_does_not_charge_the_attempt(ledger):
    job_id, _ = ledger.enqueue("echo", idempotency_key="k")
    ledger.claim("me", 30)
    assert ledger.release(job_id, "me")
    job = ledger.get(job_id)
    assert job["state"] == "queued" and job["attempts"] == 0


def test_heartbeat_extends_only_own_lease(ledger):
    clock = ledger.clock_obj
    job_id, _ = ledger.enqueue("echo", idempotency_key="k")
    ledger.claim("me", 30)
    clock.t += 20
    assert ledger.heartbeat(job_id, "me", 30)
    assert ledger.get(job_id)["lease_expires"] == clock.t + 30
    assert not ledger.heartbeat(job_id, "other", 30)


def test_retry_resets_dead_job(ledger):
    job_id, _ = ledger.enqueue("echo", idempotency_key="k")
    ledger.claim("me", 30)
    ledger.fail(job_id, "me", "permanent", "x", "y")
    assert ledger.retry(job_id)
    job = ledger.get(job_id)
    assert job["state"] == "queued" and job["attempts"] == 0
    assert not ledger.retry(job_id)  # queued jobs are not "retried"


def test_claim_respects_priority_and_task_filter(ledger):
    low, _ = ledger.enqueue("echo", idempotency_key="low")
    high, _ = ledger.enqueue("other", idempotency_key="high", priority=5)
    assert ledger.claim("me", 30, tasks=["echo"])["id"] == low
    assert ledger.claim("me", 30)["id"] == high


def test_events_record_history(ledger):
    job_id, _ = ledger.enqueue("echo", idempotency_key="k")
    ledger.claim("me", 30)
    ledger.complete(job_id, "me", {})
    assert [e["event"] for e in ledger.events(job_id)] == ["queued", "running", "done"]


def test_concurrent_writer_waits_instead_of_failing(tmp_path):
    """A CLI enqueue while the daemon holds a write transaction must wait, not error."""
    import threading

    from mustelid.store.db import immediate

    path = tmp_path / "c.db"
    db1 = open_db(path)
    migrate(db1)
    done = []

    def other_writer():
        db2 = open_db(path)
        Ledger(db2).enqueue("echo", idempotency_key="from-cli")
        done.append(True)

    with immediate(db1):
        Ledger(db1).enqueue("echo", idempotency_key="from-daemon")
        t = threading.Thread(target=other_writer)
        t.start()
        t.join(0.3)
        assert not done  # blocked on our write lock...
    t.join(10)
    assert done  # ...and succeeded once we committed
    assert Ledger(db1).counts()["queued"] == 2


def test_a_new_database_gets_its_name_only_when_whole(tmp_path, monkeypatch):
    """The CLI started beside a daemon that is creating the database must never find the 0-byte
    file sqlite makes first: only a lost history leaves one, and open_store refuses it."""
    import os

    path = tmp_path / "data" / "mustelid.db"
    seen = []
    real_link = os.link

    def watching_link(src, dst, *a, **k):
        seen.append((os.path.getsize(src), os.path.exists(dst)))
        return real_link(src, dst, *a, **k)

    monkeypatch.setattr(os, "link", watching_link)
    db = open_db(path)
    assert seen and seen[0][0] > 0 and seen[0][1] is False, seen
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [p.name for p in path.parent.iterdir() if not p.name.startswith("mustelid.db")] == []
    db.close()
    open_db(path).close()              # an existing database is opened, not made again
    assert len(seen) == 1
