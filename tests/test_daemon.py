"""The real daemon process with a fake model backend: signals, crashes, hangs, kill -9, locking.

The backend is fake (tests/plugins/fakeplugin.py, loaded from the home's plugins folder); the
processes, signals, SQLite file and inbox are real.
"""

import json
import signal
import subprocess
import sys
import time

import pytest
from daemonproc import DaemonProcess, cli, cli_json, jobs_by_file, wait_for


def long_job_timeout(home):
    """Signal tests stop a hanging job: the home's 5 s job timeout must not fire first, as it
    can on a loaded machine while the test waits to see the job running (then the timeout, not
    the stop, decides the job's fate)."""
    config = home / "config.toml"
    config.write_text(config.read_text().replace("timeout_seconds = 5", "timeout_seconds = 120"))


def drop(home, name, text):
    path = home / "inbox" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_text(text)
    tmp.rename(path)
    return path


def test_files_dropped_in_inbox_are_processed_and_failures_end_dead(fake_home):
    d = DaemonProcess(fake_home)
    try:
        drop(fake_home, "ok.txt", "hello there world")
        drop(fake_home, "crash.txt", "CRASH please")
        drop(fake_home, "refuse.txt", "PERMANENT nope")
        drop(fake_home, "bug.txt", "RAISE it")
        drop(fake_home, "junk.txt.crdownload", "partial download")
        jobs = wait_for(lambda: (j := jobs_by_file()) and len(j) == 4
                        and all(x["state"] in ("done", "dead") for x in j.values()) and j,
                        timeout=90, what="4 jobs to finish")
        assert jobs["ok.txt"]["state"] == "done"
        assert jobs["crash.txt"]["reason"] == "worker_crashed"
        assert jobs["crash.txt"]["attempts"] == 4
        assert jobs["refuse.txt"]["reason"] == "not_echoable"
        assert jobs["bug.txt"]["reason"] == "task_error"
        assert d.alive(), "the daemon must survive crashing workers"
        assert cli_json("status")["pid"] == d.pid
        result = cli_json("show", jobs["ok.txt"]["id"])["result"]
        assert result == {"text": "hello there world", "words": 3}
        assert (fake_home / "inbox" / "crash.txt").exists(), "the inbox is never modified"
    finally:
        d.stop()


def test_same_bytes_under_another_name_run_once(fake_home):
    (fake_home / "inbox").mkdir()
    (fake_home / "inbox" / "a.txt").write_text("same bytes")
    (fake_home / "inbox" / "copy of a.txt").write_text("same bytes")
    cli("run", "--once")
    assert cli_json("status")["jobs"]["done"] == 1
    assert len(cli_json("jobs")) == 1


def test_sigterm_mid_job_exits_quickly_and_job_resumes(fake_home):
    long_job_timeout(fake_home)
    d = DaemonProcess(fake_home)
    try:
        drop(fake_home, "slow.txt", "HANG forever")
        wait_for(lambda: any(j["state"] == "running" for j in cli_json("jobs")),
                 what="job to start")
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        d.wait(12)
        assert time.monotonic() - started < 10
        job = cli_json("jobs")[0]
        assert job["state"] == "queued" and job["attempts"] == 0
    finally:
        d.stop()


def test_sigterm_to_the_whole_group_does_not_charge_the_job(fake_home):
    """`systemctl stop` signals every process of the unit: the worker must leave stopping to the
    daemon, which puts the job back uncharged (issue 13 class 6). Four such stops used to
    dead-letter the job as worker_crashed."""
    long_job_timeout(fake_home)
    drop(fake_home, "slow.txt", "HANG forever")
    for _ in range(4):
        d = DaemonProcess(fake_home, own_group=True)
        try:
            wait_for(lambda: any(j["state"] == "running" for j in cli_json("jobs")),
                     what="job to start")
            d.signal_group(signal.SIGTERM)
            d.wait(12)
        finally:
            d.stop()
        job = cli_json("jobs")[0]
        assert job["state"] == "queued" and job["attempts"] == 0, (
            {k: job[k] for k in ("state", "attempts", "reason", "last_error")}, d.output())


def test_double_sigterm_skips_the_grace(fake_home):
    long_job_timeout(fake_home)
    d = DaemonProcess(fake_home)
    try:
        drop(fake_home, "slow.txt", "HANG forever")
        wait_for(lambda: any(j["state"] == "running" for j in cli_json("jobs")),
                 what="job to start")
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        time.sleep(0.3)
        d.signal(signal.SIGTERM)
        d.wait(12)
        assert time.monotonic() - started < 3
    finally:
        d.stop()


def test_kill9_while_running_then_restart_gives_exactly_one_result(fake_home):
    d = DaemonProcess(fake_home)
    drop(fake_home, "slow.txt", "SLOW but fine")
    wait_for(lambda: any(j["state"] == "running" for j in cli_json("jobs")),
             what="job to start")
    d.kill9()
    assert cli_json("jobs")[0]["state"] == "running"   # orphaned by the kill
    d2 = DaemonProcess(fake_home)
    try:
        job = wait_for(lambda: (j := cli_json("jobs")[0])["state"] == "done" and j,
                       timeout=60, what="recovered job to finish")
        show = cli_json("show", job["id"])
        assert [e["event"] for e in show["events"]].count("recovered") == 1
        assert show["result"]["text"] == "SLOW but fine"
        from mustelid.config import load_config
        from mustelid.store import open_db

        db = open_db(load_config().db_path)
        assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM echoes").fetchone()[0] == 1
    finally:
        d2.stop()


def test_second_daemon_on_same_home_refuses(fake_home):
    d = DaemonProcess(fake_home)
    try:
        wait_for(lambda: cli_json("status")["daemon"] == "running", timeout=120, what="daemon up")
        second = cli("run", check=False, timeout=30)
        assert second.returncode != 0
        assert "already running" in second.stderr
    finally:
        d.stop()


def test_hung_job_is_killed_at_timeout_and_retried(fake_home):
    drop(fake_home, "hang.txt", "HANG")
    started = time.monotonic()
    cli("run", "--once", timeout=120)
    job = cli_json("jobs")[0]
    assert job["state"] == "dead" and job["reason"] == "timeout" and job["attempts"] == 4
    assert time.monotonic() - started < 90


def test_submit_works_with_daemon_stopped(fake_home, tmp_path):
    f = tmp_path / "note.txt"
    f.write_text("from the cli")
    out = cli_json("submit", str(f))
    assert out[0]["jobs"][0]["new"] is True
    again = cli_json("submit", str(f))
    assert again[0]["jobs"][0]["new"] is False
    assert cli_json("status")["jobs"]["queued"] == 1
    cli("run", "--once")
    assert cli_json("status")["jobs"]["done"] == 1


def test_status_shows_files_being_written_and_where_they_were_found(fake_home):
    from conftest import write_config

    text = (fake_home / "config.toml").read_text()
    write_config(fake_home, text.replace("stable_seconds = 0.3", "stable_seconds = 60"))
    d = DaemonProcess(fake_home)
    try:
        wait_for(lambda: cli_json("status")["state"] == "running", what="the first scan")
        drop(fake_home, "slow.txt", "still being written, as far as the daemon knows")
        status = wait_for(lambda: (s := cli_json("status"))["inbox_files"].get("tracking") and s,
                          timeout=15, what="the file to be tracked")
        files = status["inbox_files"]
        assert (files["tracking"], files["settling"], files["ready"]) == (1, 1, 0), files
        assert files["found_by_watcher"] == 1 and files["found_by_scan"] == 0, files
        assert status["paused"] == []
        assert "1 file(s) not ingested yet: 1 being written" in cli("status").stdout
    finally:
        d.stop()


PROBE = '''
import signal, sys
sys.path.insert(0, sys.argv[1])
import probe
from mustelid import supervisor
supervisor.worker_main = probe.report_mask
sup = supervisor.Supervisor(None)
sup.start()
print(sorted(int(s) for s in sup.conn.recv()))
print(sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])))
sup.kill()
'''


def test_the_worker_starts_with_stop_signals_blocked_even_on_the_first_spawn(tmp_path):
    """The worker must be born deaf to a stop signal sent to the whole group, until it ignores
    it itself. The first spawn of a process also launches multiprocessing's resource tracker,
    which unblocks those signals in the parent: the CI saw jobs charged as crashed from that."""
    (tmp_path / "probe.py").write_text(
        "import signal\n"
        "def report_mask(conn, config_path, env):\n"
        "    conn.send(list(signal.pthread_sigmask(signal.SIG_BLOCK, [])))\n")
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path)], capture_output=True,
                         text=True, timeout=60, check=True).stdout.split("\n")
    in_worker, in_daemon_after = json.loads(out[0]), json.loads(out[1])
    assert {int(signal.SIGINT), int(signal.SIGTERM)} <= set(in_worker), in_worker
    assert in_daemon_after == [], in_daemon_after       # the daemon's own mask is restored
