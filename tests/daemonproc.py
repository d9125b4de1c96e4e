"""Helpers to run the real `mustelid` daemon as a child process in tests."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

MUSTELID = [sys.executable, "-m", "mustelid"]


def cli(*args, check=True, timeout=60):
    proc = subprocess.run([*MUSTELID, *args], capture_output=True, text=True, timeout=timeout,
                          env=os.environ.copy())
    if check and proc.returncode != 0:
        raise AssertionError(f"mustelid {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def cli_json(*args, timeout=60):
    return json.loads(cli(*args, "--json", timeout=timeout).stdout)


class DaemonProcess:
    def __init__(self, home: Path, *extra, own_group: bool = False):
        """``own_group``: the daemon leads a process group of its own (as under systemd), so a
        test can signal the daemon and its worker together with ``signal_group``."""
        self.home = home
        self.log = open(home / f"daemon-{time.monotonic_ns()}.log", "w")
        self.proc = subprocess.Popen([*MUSTELID, "-v", "run", *extra], stdout=self.log,
                                     stderr=subprocess.STDOUT, env=os.environ.copy(),
                                     start_new_session=own_group)

    def signal_group(self, sig=signal.SIGTERM):
        os.killpg(self.proc.pid, sig)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(10)

    def output(self):
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self):
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.log.close()


def wait_for(predicate, timeout=60, interval=0.3, what="condition", explain=None):
    """``predicate()`` once truthy, polled; on timeout an AssertionError saying what was seen
    (``explain()``, e.g. the jobs' states and the daemon's log, when the predicate's own last
    value is only False)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    seen = f"; seen: {explain()}" if explain else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last={last!r}{seen}")


def job_states():
    """Each job's file, state, reason, attempts and last error: what a timeout should show."""
    try:
        return [(j["file"], j["state"], j["reason"], j["attempts"], j["last_error"])
                for j in cli_json("jobs", "-n", "1000")]
    except AssertionError as e:
        return str(e)


def jobs_by_file():
    return {j["file"]: j for j in cli_json("jobs", "-n", "1000")}
