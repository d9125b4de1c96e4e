"""What the daemon is doing, told as it happens: one INFO line per job state change, the log
file those lines (and every other daemon message) go to, and the recent rate of finished jobs.

The lines come from the daemon's side of the ledger (its ``on_event`` sink), never from
``mustelid.store``, which only writes SQL. They go to the ``mustelid.jobs`` logger, e.g.::

    job 01JF... 'IMG_2041.jpg' -> auto: running (attempt 1/4)
    job 01JF... 'IMG_2041.jpg' -> auto -> receipts: done in 3.1s
    job 01JF... 'scan.pdf' -> receipts: dead (unsupported_type) after 0.2s: ...

File names and messages are shown with ``repr``'s escapes, so a name holding an escape sequence
cannot repaint the terminal that prints the log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import logging.handlers
import os
import time
from pathlib import Path
from typing import Any, Iterator

from mustelid.store import files as store_files

log = logging.getLogger("mustelid.jobs")

LOG_NAME = "mustelid.log"
LOG_MAX_BYTES = 1 << 20       # rotated at 1 MiB, three old files kept: a few weeks of jobs
LOG_BACKUPS = 3
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
RATE_WINDOW_S = 15 * 60       # `mustelid status`: the rate over the last quarter hour

# Events after which the job has left the queue for now (retry and queued put it back).
FINISHED = {"done", "dead", "needs_review", "waiting"}


def log_path(data_dir: Path) -> Path:
    return Path(data_dir) / LOG_NAME


class _PrivateRotatingFile(logging.handlers.RotatingFileHandler):
    """Each file it opens (the first, and the new one after every rotation) is created 0600,
    whatever the process's umask; a line it cannot write (disk full) is dropped quietly."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)

    def handleError(self, record: logging.LogRecord) -> None:
        # A full disk must not turn each line into a traceback on stderr: the line still
        # reaches stderr itself, and the daemon says why it paused.
        pass


@contextlib.contextmanager
def log_to_file(data_dir: Path) -> Iterator[Path]:
    """While the block runs, every ``mustelid`` message at INFO and above is also appended to
    ``<data dir>/mustelid.log``, rotated by size. Call it only while holding the daemon lock,
    so a single process writes and rotates the file. The file is the user's alone (0600)."""
    path = log_path(data_dir)
    handler = _PrivateRotatingFile(path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS,
                                   encoding="utf-8")
    os.chmod(path, 0o600)             # a file an older run left with a wider mode
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger("mustelid")
    old_level = root.level
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)   # the file wants INFO whatever the terminal shows
    root.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


def _shown(text: Any) -> str:
    """Text from a file name or an error, with control and bidi characters escaped."""
    return repr(str(text))[1:-1]


def _epoch(iso: str | None) -> float | None:
    try:
        return dt.datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


class JobLog:
    """Turns the ledger's job events into log lines. ``ledger`` is the daemon's (same thread),
    read for the file's name and the task a router's result was filed as."""

    def __init__(self, ledger: Any, clock=time.time):
        self.ledger = ledger
        self.clock = clock
        self._names: dict[str, str] = {}

    def file_name(self, job: dict[str, Any]) -> str | None:
        sha = job.get("input_sha256")
        if not sha:
            return None
        if sha not in self._names:
            row = store_files.get_file(self.ledger.db, sha)
            self._names[sha] = row["original_name"] if row else sha[:12]
        return self._names[sha]

    def route(self, job: dict[str, Any], event: str) -> str:
        """``'name.jpg' -> task`` (``-> chosen`` too, once a router's answer was filed)."""
        name = self.file_name(job)
        source = f"'{_shown(name)}'" if name else "(no file)"
        route = f"{source} -> {job['task']}"
        if event == "done":
            result = self.ledger.result(job["id"])
            filed_as = result.get("filed_as") if result else None
            if filed_as:
                route += f" -> {filed_as}"
        return route

    def elapsed(self, job: dict[str, Any]) -> float | None:
        started = _epoch(job.get("started_at"))
        return None if started is None else max(0.0, self.clock() - started)

    def line(self, job: dict[str, Any], event: str) -> str:
        head = f"job {job['id']} {self.route(job, event)}: {event}"
        if event == "running":
            return f"{head} (attempt {job['attempts']}/{job['max_attempts']})"
        took = self.elapsed(job)
        took_s = f" {'in' if event == 'done' else 'after'} {took:.1f}s" if took is not None else ""
        if event == "done":
            return head + took_s
        reason = f" ({_shown(job['reason'])})" if job.get("reason") else ""
        message = job.get("last_error") or ""
        if event == "queued":     # put back by a shutdown, not a failure
            return head
        return head + reason + took_s + (f": {_shown(message)[:300]}" if message else "")

    def event(self, job: dict[str, Any], event: str) -> None:
        try:
            log.info("%s", self.line(job, event))
        except Exception as e:   # telling must never cost a job
            log.warning("could not describe job %s %s: %s", job.get("id"), event, e)


def rate(finished: list[str], now: float, window: float = RATE_WINDOW_S) -> float | None:
    """Jobs per minute from the ``finished_at`` times of the last ``window`` seconds, over the
    span they cover (at least a minute, so one quick job is not read as a flood); None when
    nothing finished in the window."""
    times = [t for t in (_epoch(f) for f in finished) if t is not None and now - t <= window]
    if not times:
        return None
    span = max(60.0, now - min(times))
    return len(times) / (span / 60.0)
