"""Signals and time: wall-clock steps, long SIGSTOPs, SIGTERM in the middle of a burst.

Wall-clock steps. libfaketime (Debian ``faketime``) was tried on the daemon and rejected: with
``DONT_FAKE_MONOTONIC=1`` every ``time.sleep`` fails with EINVAL, and without it the monotonic
clock jumps too (no real NTP step does that). So the real daemon gets a stepped wall clock
through the test plugin instead (``MUSTELID_TEST_CLOCK_FILE``): ``time.time``, the ledger's clock
and the scheduler's clock read an offset from a file; ``time.monotonic`` stays real. The same
steps are also run in-process on the ledger and scheduler with injected clocks.

SIGSTOP. A 10-minute stop is reached in seconds by a stop longer than the lease (1 s) and the
job timeout (5 s): of the daemon (nobody else may take its jobs; after SIGCONT it commits once)
and of the model worker (the daemon kills it at the timeout and runs the job again, once).
"""

from __future__ import annotations

import datetime as dt
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from conftest import write_config
from daemonproc import DaemonProcess, cli, cli_json, wait_for
from invariants import assert_invariants, query, running, status_in_process, watch_outside


@pytest.fixture
def outside(fake_home, tmp_path, monkeypatch):
    return watch_outside(fake_home, tmp_path, monkeypatch)


DAY, HOUR = 86400.0, 3600.0
YEAR_2200 = dt.datetime(2200, 1, 1, 12, 0, tzinfo=dt.timezone.utc).timestamp()


def configure(home: Path, **jobs) -> None:
    """Set keys of the [jobs] table of the home's config."""
    lines = [ln for ln in (home / "config.toml").read_text().splitlines()
             if not any(ln.startswith(f"{key} =") for key in jobs)]
    text = "\n".join(lines) + "\n"
    write_config(home, text.replace("[jobs]\n", "[jobs]\n" + "".join(
        f"{key} = {value}\n" for key, value in jobs.items())))


def drop(home: Path, name: str, text: str) -> Path:
    path = home / "inbox" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    tmp.rename(path)
    return path


def job_for(name: str):
    def check():
        jobs = {j["file"]: j for j in cli_json("jobs", "-n", "1000")}
        job = jobs.get(name)
        return job if job and job["state"] in ("done", "dead") else None
    return check


def no_job_ran_twice(home: Path) -> None:
    """Each done job was claimed exactly as often as it has attempts, and has one result."""
    rows = query(home, "SELECT j.id, j.attempts, (SELECT COUNT(*) FROM job_events e WHERE"
                       " e.job_id = j.id AND e.event = 'running'), (SELECT COUNT(*) FROM results r"
                       " WHERE r.job_id = j.id) FROM jobs j WHERE j.state = 'done'")
    for job_id, attempts, runs, results in rows:
        assert runs == attempts and results == 1, (job_id, attempts, runs, results)


# --- wall-clock steps, real daemon ----------------------------------------------------------------


@pytest.fixture
def stepped(fake_home, monkeypatch):
    clock = fake_home / "clock-offset"
    clock.write_text("0")
    monkeypatch.setenv("MUSTELID_TEST_CLOCK_FILE", str(clock))
    with open(fake_home / "config.toml", "a") as f:
        f.write('\n[schedules.tick]\ntask = "stamp"\ncron = "* * * * *"\n'
                'params = { period = "day" }\n')
    return lambda seconds: clock.write_text(repr(seconds))


def local_day(offset: float) -> str:
    return dt.datetime.fromtimestamp(time.time() + offset).astimezone().date().isoformat()


def stamp_jobs(home: Path) -> dict[str, str]:
    return dict(query(home, "SELECT idempotency_key, state FROM jobs WHERE task = 'stamp'"))


def test_wall_clock_steps_run_nothing_twice(fake_home, stepped, outside):
    dropped = []
    d = DaemonProcess(fake_home)
    try:
        steps = [("now", 0.0), ("+1 day", DAY), ("-1 hour", DAY - HOUR),
                 ("+1 day again, past the first fire", DAY + 300), ("year 2200", YEAR_2200 -
                 time.time()), ("back to now", 0.0)]
        for i, (label, offset) in enumerate(steps):
            stepped(offset)
            time.sleep(0.5)
            dropped.append(drop(fake_home, f"step-{i}.txt", f"dropped at {label}"))
            job = wait_for(job_for(f"step-{i}.txt"), timeout=30, what=f"job dropped at {label}")
            assert job["state"] == "done", job
            key = {"+1 day": f"schedule:tick:{local_day(DAY)}",
                   "year 2200": "schedule:tick:2200-01-01"}.get(label)
            if key:                          # the schedule fires for the new period, once
                wait_for(lambda: stamp_jobs(fake_home).get(key) == "done", timeout=30,
                         what=f"the scheduled job at {label}")
        keys = sorted(stamp_jobs(fake_home))
        assert len(keys) <= 3, keys          # +1 day, 2200, and at most one for today
        no_job_ran_twice(fake_home)
        counts = assert_invariants(fake_home, dropped=dropped, daemon=d, outside=outside)
        print(f"\nwall clock steps {[s for s, _ in steps]}: {len(dropped)} files done once each,"
              f" scheduled periods {[k.split(':')[-1] for k in keys]}, {counts['results']}"
              " results, none twice")
    finally:
        d.stop()


def test_a_job_queued_before_the_clock_steps_back_still_runs(fake_home, stepped):
    d = DaemonProcess(fake_home)
    try:
        drop(fake_home, "blocker.txt", "SLOW keeps the worker busy")
        wait_for(lambda: running(fake_home), timeout=30, interval=0.05,
                 what="the slow job to start")
        drop(fake_home, "queued.txt", "queued before the step")
        wait_for(lambda: "queued.txt" in {j["file"] for j in cli_json("jobs")}, timeout=30,
                 what="queued")
        stepped(-HOUR)                              # NTP corrects a clock that was 1 h fast
        job = wait_for(job_for("queued.txt"), timeout=8, what="the queued job to run")
        assert job["state"] == "done"
    finally:
        d.stop()


# --- the same steps, in-process, with injected clocks ----------------------------------------------


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def ledger(tmp_path):
    from mustelid.store import Ledger, migrate, open_db

    db = open_db(tmp_path / "m.db")
    migrate(db)
    return Ledger(db, clock=Clock(1_790_000_000.0), backoff_seconds=5)


def test_ledger_steps_forward_run_each_job_once(ledger):
    clock = ledger.clock
    ids = [ledger.enqueue("echo", idempotency_key=f"k{i}")[0] for i in range(3)]
    job = ledger.claim("me", 60)
    clock.t += DAY                                   # the lease "expires" in a blink
    assert ledger.heartbeat(job["id"], "me", 60)     # still ours: nobody else claims running jobs
    assert ledger.complete(job["id"], "me", {"x": 1})
    clock.t = YEAR_2200
    second = ledger.claim("me", 60)
    assert second["id"] != job["id"] and ledger.complete(second["id"], "me", {"x": 2})
    assert ledger.enqueue("echo", idempotency_key="k0") == (ids[0], False)
    counts = ledger.counts()
    assert counts["done"] == 2 and counts["queued"] == 1
    assert ledger.db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 2


@pytest.mark.parametrize("how", ["queued", "backed_off"])
def test_ledger_step_back_does_not_strand_jobs(ledger, how):
    clock = ledger.clock
    job_id, _ = ledger.enqueue("echo", idempotency_key="k")
    if how == "backed_off":
        ledger.claim("me", 60)
        assert ledger.fail(job_id, "me", "transient", "worker_crashed") == "queued"
        clock.t += 5                                  # the 5 s backoff has passed...
    clock.t -= HOUR                                   # ...and then NTP steps the clock back
    job = ledger.claim("me", 60)
    assert job is not None and job["id"] == job_id


def test_ledger_honours_every_delay_it_sets_itself(ledger):
    """The horizon must not make a real backoff, waiting re-check or run_now hold due early."""
    clock = ledger.clock
    ledger.backoff_max_seconds = 600
    for i, (kind, delay) in enumerate([("transient", 600), ("waiting", 30)]):
        job_id, _ = ledger.enqueue("echo", idempotency_key=f"k{i}", max_attempts=99)
        for attempt in range(1, 13 if kind == "transient" else 2):  # backoff reaches its cap
            clock.t = max(clock.t, ledger.get(job_id)["run_after"])
            assert ledger.claim("me", 60)["id"] == job_id
            assert ledger.fail(job_id, "me", kind, "x") in ("queued", "waiting")
        assert ledger.get(job_id)["run_after"] == clock.t + delay
        assert ledger.claim("me", 60) is None, kind
        clock.t += delay - 1
        assert ledger.claim("me", 60) is None, kind
        clock.t += 1
        assert ledger.claim("me", 60)["id"] == job_id
        ledger.fail(job_id, "me", "permanent", "done with it")
    ledger.enqueue("echo", idempotency_key="held", run_after=clock.t + 60)  # like run_now
    assert ledger.claim("me", 60) is None
    clock.t -= 2 * HOUR                                # a step back past the horizon: due
    assert ledger.claim("me", 60) is not None


def test_scheduler_steps_fire_each_period_once(ledger):
    from mustelid.scheduler import Schedule, Scheduler, crontab_trigger

    class Stamp:
        name, version, uses_model = "stamp", "1", False

    utc = dt.timezone.utc
    s = Schedule("tick", "stamp", "* * * * *", {"period": "day"}, "config")
    s.trigger = crontab_trigger(s.cron, utc)
    now = [dt.datetime(2026, 11, 22, 10, 0, 30, tzinfo=utc)]
    sched = Scheduler([s], ledger, {"stamp": Stamp()}, tz=utc, clock=lambda: now[0])
    t0 = now[0]
    fired = []
    for at in [t0, t0 + dt.timedelta(minutes=2), t0 + dt.timedelta(days=1),
               t0 + dt.timedelta(days=1, minutes=-60), t0 + dt.timedelta(days=1, minutes=5),
               dt.datetime(2200, 1, 1, 12, tzinfo=utc), t0 + dt.timedelta(minutes=3),
               t0 + dt.timedelta(days=1, minutes=10), dt.datetime(2200, 1, 1, 12, 5, tzinfo=utc)]:
        now[0] = at
        fired += sched.tick()
        fired += sched.tick()                        # a double tick changes nothing
    keys = [k for (k,) in ledger.db.execute(
        "SELECT idempotency_key FROM jobs ORDER BY idempotency_key")]
    assert keys == ["schedule:tick:2026-11-22", "schedule:tick:2026-11-23",
                    "schedule:tick:2200-01-01"]
    assert sum(1 for _, _, created in fired if created) == 3


# --- SIGSTOP -------------------------------------------------------------------------------------


def test_sigstop_of_the_daemon_longer_than_lease_and_timeout(fake_home, outside):
    configure(fake_home, lease_seconds=1)
    dropped = [drop(fake_home, "slow.txt", "SLOW through a long stop")]
    d = DaemonProcess(fake_home)
    try:
        wait_for(lambda: running(fake_home), timeout=30, interval=0.05, what="the job to start")
        d.signal(signal.SIGSTOP)
        try:
            time.sleep(1.5)
            status_in_process()                          # warm-up: imports, plugin loading
            took, status = status_in_process()           # the CLI never waits on the daemon
            assert took < 1.0 and status["jobs"]["running"] == 1
            second = cli("run", "--once", check=False, timeout=60)
            assert second.returncode != 0 and "already running" in second.stderr
            job = cli_json("jobs")[0]
            assert cli("retry", job["id"], check=False).returncode != 0   # running: refused
            time.sleep(6.5)                                # 8 s in all: > lease and > timeout
        finally:
            d.signal(signal.SIGCONT)
        job = wait_for(job_for("slow.txt"), timeout=30, what="the job to finish")
        assert job["state"] == "done" and job["attempts"] == 1, job
        no_job_ran_twice(fake_home)
        assert_invariants(fake_home, dropped=dropped, daemon=d, outside=outside)
    finally:
        d.stop()


def worker_of(pid: int) -> psutil.Process | None:
    """The model worker once it runs its own program (the job is marked running just before
    the worker is started).

    Not any child that is not the resource tracker: a child caught between fork and exec still
    shows the daemon's command line, and the daemon's thread waits in vfork until the child
    execs, so stopping the child there stops the daemon too (one CI run hung on it)."""
    for child in psutil.Process(pid).children():
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "--multiprocessing-fork" in cmdline and "spawn_main" in cmdline:
            return child
    return None


def test_sigstop_of_the_worker_past_the_timeout(fake_home, outside):
    configure(fake_home, lease_seconds=1)
    dropped = [drop(fake_home, "slow.txt", "SLOW while the worker is stopped")]
    d = DaemonProcess(fake_home)
    try:
        wait_for(lambda: running(fake_home), timeout=30, interval=0.05, what="the job to start")
        worker = wait_for(lambda: worker_of(d.pid), timeout=10, interval=0.05,
                          what="the worker process")
        worker.send_signal(signal.SIGSTOP)
        try:
            job = wait_for(job_for("slow.txt"), timeout=60, what="the job to finish")
        finally:
            if worker.is_running():
                worker.send_signal(signal.SIGCONT)
        assert job["state"] == "done" and job["attempts"] == 2, job
        events = [e["event"] for e in cli_json("show", job["id"])["events"]]
        assert events.count("retry") == 1 and events.count("done") == 1, events
        no_job_ran_twice(fake_home)
        assert_invariants(fake_home, dropped=dropped, daemon=d, outside=outside)
        print(f"\nworker stopped past the 5 s timeout: killed, job retried once: {events}")
    finally:
        d.stop()


# --- SIGTERM in the middle of a big ingest ---------------------------------------------------------


def test_sigterm_during_a_big_ingest_exits_within_10s(fake_home):
    inbox = fake_home / "inbox"
    inbox.mkdir()
    for i in range(10_000):                      # waiting in the inbox when the daemon starts
        (inbox / f"b-{i:05d}.txt").write_text(f"burst {i}")
    d = DaemonProcess(fake_home)
    try:
        wait_for(lambda: query_ok(fake_home) and query(
            fake_home, "SELECT COUNT(*) FROM inbox_files")[0][0] >= 100,
            timeout=60, interval=0.1, what="ingest under way")
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        try:
            d.wait(10)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - started
        assert not d.alive(), "still running 10 s after SIGTERM"
        assert took < 10.5
        n = query(fake_home, "SELECT COUNT(*) FROM inbox_files")[0][0]
        print(f"\nSIGTERM with 10,000 files waiting: exited in {took:.1f} s, {n:,} ingested")
    finally:
        if d.alive():
            d.kill9()
        d.stop()


def query_ok(home: Path) -> bool:
    try:
        return bool(query(home, "SELECT 1 FROM daemon_state WHERE key = 'daemon'"))
    except Exception:
        return False
