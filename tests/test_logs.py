"""Issue 15, logs: one INFO line per job state change on stderr (at the default level) and in a
size-rotated, private log file in the data dir; `mustelid logs [-f] [-n N]`."""

import logging
import os
import queue
import stat
import subprocess
import threading

import pytest
from daemonproc import MUSTELID, cli, wait_for

from mustelid import activity
from mustelid.store import Ledger, migrate, open_db


def _drop(home, name, text):
    path = home / "inbox" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)


def test_run_once_prints_each_state_change_and_keeps_them_in_a_private_log(fake_home):
    _drop(fake_home, "note.txt", "hello there")
    _drop(fake_home, "refuse.txt", "PERMANENT please")
    _drop(fake_home, b"evil\x1b[31m.txt".decode("latin-1"), "hello again")

    proc = cli("run", "--once", timeout=60)            # no -v: the default level
    err = proc.stderr
    assert "'note.txt' -> echo: running (attempt 1/4)" in err, err
    assert "'note.txt' -> echo: done in " in err, err
    assert "'refuse.txt' -> echo: dead (not_echoable) after " in err, err
    assert "the file asked to be refused" in err
    assert "\x1b" not in err and "evil\\x1b[31m.txt" in err     # escaped, not obeyed
    assert "mustelid.supervisor" not in err                      # other INFO needs -v

    log = fake_home / "data" / "mustelid.log"
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    text = log.read_text()
    assert "'note.txt' -> echo: done in " in text and "dead (not_echoable)" in text
    assert "model worker started" in text                        # the file has every INFO

    last_two = cli("logs", "-n", "2").stdout.splitlines()
    assert last_two == [line for line in text.splitlines() if line][-2:]
    assert "\x1b" not in cli("logs", "-n", "100").stdout


def test_logs_without_a_log_file_is_one_line(home):
    proc = cli("logs", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "no log yet" in proc.stderr


def _reader(proc):
    lines = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _next(lines, timeout=10):
    return lines.get(timeout=timeout)


def test_logs_follow_prints_new_lines_across_rotation(home):
    data = home / "data"
    data.mkdir()
    log = data / "mustelid.log"
    log.write_text("one\ntwo\nthree\n")
    proc = subprocess.Popen([*MUSTELID, "logs", "-f", "-n", "2"], stdout=subprocess.PIPE,
                            text=True, env=os.environ.copy())
    try:
        lines = _reader(proc)
        assert [_next(lines), _next(lines)] == ["two", "three"]
        with open(log, "a") as f:
            f.write("four\n")
        assert _next(lines) == "four"
        log.rename(data / "mustelid.log.1")                 # what RotatingFileHandler does
        log.write_text("five \x1b[2J\n")
        assert _next(lines) == "five \\x1b[2J"               # escaped, from the new file
    finally:
        proc.terminate()
        proc.wait(10)


def test_the_log_file_rotates_by_size_and_stays_private(tmp_path, monkeypatch):
    monkeypatch.setattr(activity, "LOG_MAX_BYTES", 2000)
    log = logging.getLogger("mustelid.jobs")
    with activity.log_to_file(tmp_path) as path:
        for i in range(200):
            log.info("job %d: done in 0.1s", i)
    rotated = sorted(p.name for p in tmp_path.iterdir())
    assert rotated == ["mustelid.log", "mustelid.log.1", "mustelid.log.2", "mustelid.log.3"]
    for p in tmp_path.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        assert p.stat().st_size <= 2000
    assert "job 199: done" in path.read_text()
    handlers = logging.getLogger("mustelid").handlers
    assert not [h for h in handlers if isinstance(h, logging.FileHandler)]   # detached


def test_a_full_disk_drops_log_lines_without_a_traceback(tmp_path, capsys):
    class Full:
        def write(self, text):
            raise OSError(28, "No space left on device")

        def flush(self):
            pass

    with activity.log_to_file(tmp_path):
        [handler] = [h for h in logging.getLogger("mustelid").handlers
                     if isinstance(h, logging.FileHandler)]
        handler.stream.close()
        handler.stream = Full()
        logging.getLogger("mustelid.jobs").warning("job X: dead (disk_full)")
        handler.stream = None
    assert "Logging error" not in capsys.readouterr().err


def test_a_routed_job_says_which_task_its_answer_was_filed_as(tmp_path):
    db = open_db(tmp_path / "t.db")
    migrate(db)
    now = [1_000_000.0]
    ledger = Ledger(db, clock=lambda: now[0])
    lines = activity.JobLog(ledger, clock=lambda: now[0])
    job_id, _ = ledger.enqueue("auto", idempotency_key="k", params={"text": "x"})
    job = ledger.claim("me", 30)
    assert lines.line(job, "running") == f"job {job_id} (no file) -> auto: running (attempt 1/4)"
    now[0] += 2.5
    ledger.complete(job_id, "me", {"a": 1}, filed_as="receipts")
    assert lines.line(ledger.get(job_id), "done") == \
        f"job {job_id} (no file) -> auto -> receipts: done in 2.5s"


@pytest.mark.parametrize("kind,event,expect", [
    ("transient", "retry", "retry (worker_crashed) after 1.0s: boom"),
    ("permanent", "dead", "dead (worker_crashed) after 1.0s: boom"),
    ("waiting", "waiting", "waiting (worker_crashed) after 1.0s: boom"),
])
def test_failures_carry_the_reason_the_time_and_the_message(tmp_path, kind, event, expect):
    db = open_db(tmp_path / "t.db")
    migrate(db)
    now = [1_000_000.0]
    ledger = Ledger(db, clock=lambda: now[0])
    seen = []
    ledger.on_event = lambda job, ev: seen.append(activity.JobLog(ledger, lambda: now[0])
                                                  .line(job, ev))
    ledger.enqueue("echo", idempotency_key="k")
    job = ledger.claim("me", 30)
    now[0] += 1
    ledger.fail(job["id"], "me", kind, "worker_crashed", "boom")
    assert seen[-1].endswith(f"echo: {expect}"), seen


def test_the_resident_daemon_prints_job_lines_at_the_default_level(fake_home):
    """`mustelid run` (no -v, not --once) used to print nothing while it worked (issue 15)."""
    err = fake_home / "stderr.txt"
    with open(err, "w") as out:
        proc = subprocess.Popen([*MUSTELID, "run"], stdout=out, stderr=out,
                                env=os.environ.copy())
    try:
        wait_for(lambda: "watching" in err.read_text(), 20, what="start", explain=err.read_text)
        _drop(fake_home, "late.txt", "hello")
        wait_for(lambda: "'late.txt' -> echo: done" in err.read_text(), 20, what="done line",
                 explain=err.read_text)
    finally:
        proc.terminate()
        proc.wait(15)
    assert proc.returncode == 0
