"""A real running daemon for P6-P9: `mustelid run` as a child process in a throwaway home, files
copied into its inbox as a user drops them, and the ledger read for when each one's jobs ended.

Times are wall clock from the drop (or the daemon's start) to the ``finished_at`` the daemon
committed, so the polling interval adds nothing to them. The worker's peak RSS is its kernel
high-water mark (``VmHWM``), sampled while it runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import tomli_w

ENDED = ("done", "dead", "needs_review")


class BenchDaemon:
    """`mustelid run` in its own home: ``drop`` files into its inbox, ``wait_ended`` for their
    jobs, ``worker_peak_mb`` for the highest worker VmHWM seen by ``sample``."""

    def __init__(self, home: Path, config: dict[str, Any], plugins: Path | None):
        self.home = home
        self.inbox = home / "inbox"
        # receipts/ exists before the daemon starts, as a user's folder would: a file written
        # into a folder created a moment before can beat the watcher's new inotify watch on it,
        # and is then found by the scan that the folder's creation triggers (the 2 s window).
        (self.inbox / "receipts").mkdir(parents=True, exist_ok=True)
        if plugins is not None and plugins.is_dir():
            shutil.copytree(plugins, home / "plugins", dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__"))
        (home / "config.toml").write_text(tomli_w.dumps(config), encoding="utf-8")
        self.env = {**os.environ, "MUSTELID_HOME": str(home)}
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.peaks: dict[int, float] = {}
        self._db = None
        self._log = None

    def start(self) -> float:
        self._log = open(self.home / "daemon.log", "w")
        self.started = time.time()
        self.proc = subprocess.Popen([sys.executable, "-m", "mustelid", "run"], env=self.env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        return self.started

    def wait_running(self, timeout: float = 120.0) -> None:
        """Until the daemon's loop runs (it says "starting" before its watcher is up)."""
        from mustelid.store import files as store_files

        def running():
            state = store_files.get_states(self.db).get("daemon")
            return state and json.loads(state["value"]).get("state") in ("running", "paused")

        self._until(running, timeout, "the daemon to start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()

    @property
    def db(self):
        if self._db is None:
            from mustelid.store.db import open_db

            path = self.home / "data" / "mustelid.db"     # where MUSTELID_HOME puts it
            self._until(lambda: path.exists(), 60, "the daemon's database")
            self._db = open_db(path)
        return self._db

    def drop(self, src: Path, sub: str = "") -> tuple[str, float]:
        """Copy ``src`` into the inbox (``sub`` folder) as a file manager does: written and
        closed in place. Its sha256 and the wall time just before the copy."""
        dest = self.inbox / sub / f"{hashlib.sha256(str(src).encode()).hexdigest()[:8]}-{src.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        at = time.time()
        shutil.copyfile(src, dest)
        return hashlib.sha256(src.read_bytes()).hexdigest(), at

    def ready_by(self, files: int, timeout: float = 12.0) -> dict[str, int]:
        """How the daemon judged ``files`` dropped files complete (``ready_by_close`` /
        ``ready_by_window``), from the state it publishes every few seconds."""
        from mustelid.store import files as store_files

        def counts():
            state = store_files.get_states(self.db).get("daemon")
            inbox = json.loads(state["value"]).get("inbox_files", {}) if state else {}
            got = {k: inbox.get(k, 0) for k in ("ready_by_close", "ready_by_window")}
            return got if sum(got.values()) >= files else None

        with contextlib.suppress(RuntimeError):
            return self._until(counts, timeout, "the daemon's published counts")
        return {}

    def jobs_of(self, shas: set[str]) -> list[dict[str, Any]]:
        from mustelid.store.jobs import Jobs

        return [j for j in Jobs(self.db).list(limit=100_000) if j.get("input_sha256") in shas]

    def wait_ended(self, shas: set[str], timeout: float) -> list[dict[str, Any]]:
        """Until every file in ``shas`` has jobs and all of them ended; those jobs."""
        def ended():
            self.sample()
            jobs = self.jobs_of(shas)
            have = {j["input_sha256"] for j in jobs}
            return have == shas and all(j["state"] in ENDED for j in jobs) and jobs

        return self._until(ended, timeout, f"{len(shas)} file(s) to be processed")

    def sample(self) -> None:
        """Record the high-water RSS of every child (the model worker is the big one)."""
        if self.proc is None:
            return
        import psutil

        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                peak = vm_hwm_mb(child.pid)
                if peak is not None:
                    self.peaks[child.pid] = max(self.peaks.get(child.pid, 0.0), peak)

    def worker_peak_mb(self) -> float | None:
        return max(self.peaks.values(), default=None)

    def _until(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"the daemon exited ({self.proc.returncode}) waiting for "
                                   f"{what}; log: {self.home / 'daemon.log'}")
            # Times are read from what the daemon committed, not from when this loop saw it:
            # polling less often costs no precision, and leaves the daemon its CPU.
            time.sleep(0.25)
        raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def vm_hwm_mb(pid: int) -> float | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def finished_at(job: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(job["finished_at"]).timestamp()


def daemon_config(model_cfg: dict[str, Any], stable_seconds: float = 2.0) -> dict[str, Any]:
    """The user's model settings, the default stability window, nothing paged out mid-run."""
    return {
        "model": {**model_cfg, "idle_release": 0, "idle_unload": 0},
        "inbox": {"stable_seconds": stable_seconds},
        "jobs": {"timeout_seconds": 600},
    }


@contextlib.contextmanager
def running_daemon(config: dict[str, Any], plugins: Path | None) -> Iterator[BenchDaemon]:
    with tempfile.TemporaryDirectory(prefix="mustelid-bench-daemon-") as tmp:
        d = BenchDaemon(Path(tmp), config, plugins)
        try:
            d.start()
            d.wait_running()
            yield d
        finally:
            d.stop()


def drop_page_cache(path: Path) -> None:
    """Evict ``path`` from the page cache (no root needed). Pages another process has mapped
    stay: on a shared machine the 'cold' side may be partly warm."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
