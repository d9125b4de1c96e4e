"""Issue 15, progress: `run --once` draws a rich bar (current file, ETA) on a terminal and plain
lines when piped; `mustelid status` shows the running job, the queue, the recent rate and the
time left."""

import os
import re
import subprocess
import time

import pytest
from daemonproc import MUSTELID, DaemonProcess, cli, cli_json, wait_for

from mustelid.activity import rate
from mustelid.store import Ledger, open_db


def _drop(home, name, text):
    (home / "inbox").mkdir(exist_ok=True)
    (home / "inbox" / name).write_text(text)


def _run_on_a_terminal(*args, timeout=60):
    """Run mustelid with stderr on a pseudo-terminal; (exit code, what the terminal got)."""
    master, slave = os.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    proc = subprocess.Popen([*MUSTELID, *args], stdout=subprocess.DEVNULL, stderr=slave,
                            env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:          # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    return proc.wait(10), out.decode("utf-8", "replace")


def test_run_once_draws_a_bar_with_the_file_and_an_eta_on_a_terminal(fake_home):
    for i in range(4):
        _drop(fake_home, f"page{i}.txt", f"PAUSE {i}")
    code, screen = _run_on_a_terminal("run", "--once")
    assert code == 0, screen
    assert "━" in screen and "ETA" in screen                  # rich's bar and our ETA column
    assert "page3.txt -> echo" in screen                      # the current file and task
    assert "4/4" in screen                                    # done of all, at the end
    assert "'page0.txt' -> echo: done in" in screen           # job lines print above the bar
    assert "ingested 4, refused 0, done 4" in screen


def test_run_once_piped_prints_plain_lines(fake_home):
    for i in range(2):
        _drop(fake_home, f"page{i}.txt", f"text {i}")
    _drop(fake_home, "doubtful.txt", "REVIEW this one")  # checked and rejected: held for a person
    err = cli("run", "--once").stderr
    assert "\x1b" not in err and "━" not in err
    assert err.count("-> echo: done in") == 2
    # a job held for review is counted apart, not as a failure
    assert "done 2, held for review 1, failed attempts 0" in err


def test_status_shows_the_running_job_while_the_daemon_works(fake_home):
    d = DaemonProcess(fake_home)
    try:
        _drop(fake_home, "slow.txt", "SLOW answer in three seconds")
        _drop(fake_home, "next.txt", "after it")
        info = wait_for(lambda: cli_json("status").get("running"), 30,
                        what="a running job", explain=d.output)
        job = info[0]
        assert job["file"] in ("slow.txt", "next.txt") and job["task"] == "echo"
        assert job["elapsed_s"] is not None and 0 <= job["elapsed_s"] < 30
        text = wait_for(lambda: (out := cli("status").stdout) and "running:  " in out and out,
                        30, what="running line", explain=d.output)
        assert "-> echo" in text and "queue:" in text
    finally:
        d.stop()


def test_status_reports_the_rate_and_the_time_left(fake_home):
    files = []
    for i in range(6):
        path = fake_home / f"f{i}.txt"
        path.write_text(f"note {i}")
        files.append(str(path))
    cli("submit", *files)
    now = time.time()
    clock = [now]
    ledger = Ledger(open_db(fake_home / "data" / "mustelid.db"), clock=lambda: clock[0])
    queued = [j["id"] for j in ledger.list("queued")]
    for job_id, finished in zip(queued, (now - 120, now - 60, now)):   # three, over 2 minutes
        clock[0] = finished - 1
        assert ledger.claim_job(job_id, "test", 60)
        clock[0] = finished
        assert ledger.complete(job_id, "test", {"text": "x", "words": 1})
    clock[0] = now - 5
    running = ledger.claim_job(queued[3], "test", 600)    # one running for 5 s, two queued

    info = cli_json("status")
    assert info["queue"] == 3
    assert info["rate_per_min"] == pytest.approx(1.5, abs=0.05)
    assert info["eta_s"] == pytest.approx(120, abs=5)
    [job] = info["running"]
    assert job["id"] == running["id"] and job["file"].startswith("f") and job["task"] == "echo"
    assert job["elapsed_s"] == pytest.approx(5, abs=5)
    text = cli("status").stdout
    assert f"running:  {running['id']} {job['file']} -> echo" in text
    assert re.search(r"queue:    3 to do; 1\.(4\d|5) jobs/min over the last 15 min, "
                     r"about (1m5\ds|2m0\ds) left", text), text


def test_rate_counts_only_the_window_and_at_least_a_minute():
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))  # noqa: E731
    now = 2_000_000_000.0
    assert rate([], now) is None
    assert rate([iso(now - 5)], now) == pytest.approx(1.0)            # one quick job: 1/min
    assert rate([iso(now - 3600), iso(now - 240), iso(now)], now) == pytest.approx(0.5)
