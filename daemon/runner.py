"""``mustelid run``: the daemon's main loop (huey-style initialize / loop / shutdown).

The ``Daemon`` claims a job, hands it to the supervised model worker, heartbeats its lease and
commits the reply (``mustelid.commit``). Jobs come from two sources it polls each pass: the
inbox (``mustelid.source.InboxSource``: watch, scan, settle, ingest, move done files) and the
cron schedules (``mustelid.scheduler``). One thread does everything that touches the database.
Signal handlers only set flags. The watchdog thread only drops hints in a queue, and the model
runs in the supervised worker process. SIGTERM/SIGINT stop claiming; the job in
flight gets a short grace to finish, else it is put back to ``queued`` uncharged, and the
process exits within 10 s. A second SIGTERM skips the grace.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import socket
import sqlite3
import time
from typing import Any, Callable

import filelock

from mustelid import __version__
from mustelid.activity import JobLog, log_to_file
from mustelid.commit import Outcome, commit, job_input
from mustelid.config import Config
from mustelid.faults import crash_point
from mustelid.home import AlreadyRunning, check_inbox, lock_path, make_private, open_store
from mustelid.host import Host
from mustelid.protocol import Reply
from mustelid.scheduler import Scheduler
from mustelid.source import InboxSource
from mustelid.store import files as store_files
from mustelid.supervisor import Supervisor

log = logging.getLogger("mustelid.daemon")

PAUSE_SECONDS = 5.0      # back-off after a database or filesystem error (e.g. disk full)
SHUTDOWN_GRACE = 6.0     # seconds a running job may take to finish after SIGTERM
TICK = 0.2
STAGE_PUBLISH_MIN_S = 0.5  # a running job's stage change is published at most this often


class Pauses:
    """Why the daemon is not making progress, for `mustelid status`.

    Each cause (``loop``: database or filesystem errors; ``ingest``: the archive disk is full;
    ``claim``: not enough memory for the model) is set again while it lasts and cleared when what
    it blocked succeeds. One not seen for ``STALE_SECONDS`` is dropped, so a cause whose file was
    deleted or whose job was retried by hand does not linger in the status forever.
    """

    STALE_SECONDS = 90.0

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        # cause -> (code, message, since, last seen)
        self._active: dict[str, tuple[str, str, float, float]] = {}

    def set(self, cause: str, code: str, message: str) -> None:
        now = self._clock()
        old = self._active.get(cause)
        since = old[2] if old and old[0] == code else now
        self._active[cause] = (code, message, since, now)

    def clear(self, cause: str) -> None:
        self._active.pop(cause, None)

    def reasons(self) -> list[dict[str, Any]]:
        now = self._clock()
        for cause in [c for c, v in self._active.items() if now - v[3] > self.STALE_SECONDS]:
            del self._active[cause]
        return [{"reason": code, "message": msg[:500], "for_s": round(now - since, 1)}
                for code, msg, since, _ in self._active.values()]

    def summary(self) -> str | None:
        return "; ".join(f"{r['reason']}: {r['message']}" for r in self.reasons()) or None


def _pause_code(e: Exception) -> str:
    text = str(e).lower()
    if getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT) or "full" in text:
        return "disk_full"
    if "locked" in text or "busy" in text:
        return "database_locked"
    return "database_error" if isinstance(e, sqlite3.Error) else "filesystem_error"


class Daemon:
    """Claims, runs (through the supervised worker) and commits jobs; the inbox is its
    ``source``, the cron schedules its ``scheduler``. One thread, one database connection."""

    def __init__(self, config: Config, host: Host, once: bool = False, monotonic=time.monotonic,
                 watchers: tuple[Callable[[dict[str, Any], str], None], ...] = ()):
        """``watchers``: called on the daemon's thread with each job state change (``job``,
        ``event``), like the ``job_event`` hook, for what shows progress (``run --once``)."""
        self.config = config
        self.host = host
        self.once = once
        self.monotonic = monotonic
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.stop_requested = 0          # count of SIGTERM/SIGINT received
        self.current: dict[str, Any] | None = None
        self.reply: Reply | None = None
        self.pauses = Pauses(monotonic)   # why the daemon is not making progress
        self.committed = {"done": 0, "review": 0, "failed": 0}
        self.supervisor: Supervisor | None = None
        self._published_stage: dict[str, Any] | None = None
        self.watchers = list(watchers)
        self.joblog: JobLog | None = None
        self.source = InboxSource(config, host, pauses=self.pauses, on_new_file=self._wake,
                                  stopping=lambda: bool(self.stop_requested), clock=monotonic)

    @property
    def stats(self) -> dict[str, int]:
        """Files ingested and refused, jobs done, held for review and failed attempts, since
        the start."""
        return {**self.source.counts, **self.committed}

    # -- lifecycle ----------------------------------------------------------------------------

    def run(self) -> int:
        check_inbox(self.config)          # InboxOverlap before anything is created or read
        make_private(self.config.data_dir)
        lock = filelock.FileLock(str(lock_path(self.config)), timeout=0, mode=0o600)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise AlreadyRunning(
                f"another mustelid daemon is already running on {self.config.data_dir}"
            ) from None
        try:
            with log_to_file(self.config.data_dir):   # one writer: the lock holder
                return self._run_locked()
        finally:
            lock.release()

    def _run_locked(self) -> int:
        self.db, self.ledger = open_store(self.config, self.host, on_event=self._on_event)
        self.joblog = JobLog(self.ledger)
        recovered = self.ledger.recover()
        if recovered:
            log.warning("recovered %d job(s) left running by a crash", len(recovered))
        self.source.open(self.ledger)
        self.source.remove_stale_temps()
        # Schedules only enqueue ledger rows; ticking from this loop keeps all writes on one
        # thread, and the first tick (before any claim) catches up a fire missed while down.
        self.scheduler = Scheduler.build(self.config, self.host, self.ledger)
        self.supervisor = Supervisor(
            str(self.config.config_path) if self.config.config_path else None, self.monotonic,
            model=self.config.model,
        )
        self._install_signals()
        self._publish(state="starting")
        self.host.each("startup", daemon=self)
        if not self.once:
            self.source.watch()
        log.info("mustelid %s watching %s", __version__, self.config.inbox_dir)
        try:
            self._loop()
        finally:
            self._shutdown()
            self.source.stop_watching()
            self.host.each("shutdown", daemon=self)
            self._publish(state="stopped")
            self.db.close()
        return 0

    def _install_signals(self) -> None:
        def request_stop(signum, frame):
            self.stop_requested += 1

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    # -- the loop -----------------------------------------------------------------------------

    def _loop(self) -> None:
        self._next_publish = self._last_publish = 0.0
        while not self.stop_requested:
            try:
                if self._iteration():
                    return
            except sqlite3.OperationalError as e:
                # Disk full, or the database locked for longer than busy_timeout: stop claiming,
                # say why, delete nothing, and try again shortly. Every write is a transaction,
                # so nothing half-done was committed.
                self._pause(f"database: {e}", _pause_code(e))
            except OSError as e:
                self._pause(f"filesystem: {e}", _pause_code(e))

    def _pause(self, why: str, code: str) -> None:
        log.error("paused: %s; retrying in %.0fs", why, PAUSE_SECONDS)
        self.pauses.set("loop", code, why)
        try:
            self._publish(state="paused")
        except Exception:
            pass   # publishing needs the same full disk
        deadline = self.monotonic() + PAUSE_SECONDS
        while not self.stop_requested and self.monotonic() < deadline:
            time.sleep(TICK)

    def _iteration(self) -> bool:
        """One pass of the loop; True when --once has nothing left to do."""
        now = self.monotonic()
        self.source.rescan_if_due(now)
        if any(created for *_, created in self.scheduler.tick()):
            self._wake()   # a scheduled job is queued: prewarm while it waits
        backlog = self.source.poll()
        if self.current is not None:
            self._tend_current(wait=0 if backlog else TICK)
        elif not self._claim_next():
            if self.once and self._drained():
                return True
            self.supervisor.tend_idle()   # idle long enough: page the model out, then unload
            if not backlog:
                time.sleep(TICK)
        self.pauses.clear("loop")       # a whole pass without a database or filesystem error
        if now >= self._next_publish or self._stage_changed(now):
            self._publish(state="running")
            self._last_publish, self._next_publish = now, now + 5
        return False

    def _stage_changed(self, now: float) -> bool:
        """The running job went on to another stage: publish it for `mustelid status` now, not
        at the next 5 s heartbeat, but at most twice a second (a stage of a fast job may be
        skipped; a slow stage, the one a user waits on, is always shown)."""
        return (self.supervisor.stage != self._published_stage
                and now >= self._last_publish + STAGE_PUBLISH_MIN_S)

    def _wake(self) -> None:
        self.supervisor.wake()

    def _drained(self) -> bool:
        """--once: nothing being written, nothing runnable now or within a short backoff."""
        if not self.source.settled or self.current is not None:
            return False
        return self.ledger.count_due(time.time() + 30) == 0

    # -- claim, run, commit ---------------------------------------------------------------------

    def _claim_next(self) -> bool:
        if not self.supervisor.can_start():
            return False
        job = self.ledger.claim(self.owner, self.config.jobs.lease_seconds,
                                tasks=list(self.host.tasks))
        if job is None:
            return False
        crash_point("after_claim")        # claimed (running, leased), not handed to the worker
        problem = self.supervisor.budget_problem()
        if problem:   # visible as waiting/memory_budget, re-checked later, attempt not charged
            self.ledger.fail(job["id"], self.owner, "waiting", "memory_budget", problem)
            self.pauses.set("claim", "memory_budget", problem)
            return True
        self.pauses.clear("claim")
        self.current = job
        self.supervisor.submit(job_input(self.db, job))
        self._last_beat = self.monotonic()
        return True

    def _tend_current(self, wait: float = TICK) -> None:
        job = self.current
        # A reply whose commit failed (disk full) is kept and committed again, never lost.
        reply = self.reply or self.supervisor.poll(wait)
        if reply is None:
            if self.supervisor.running_for() > self.config.jobs.timeout_seconds:
                reply = self.supervisor.abort(
                    "timeout", f"no answer within {self.config.jobs.timeout_seconds:.0f}s"
                )
            else:
                if self.monotonic() - self._last_beat > self.config.jobs.lease_seconds / 3:
                    self.ledger.heartbeat(job["id"], self.owner, self.config.jobs.lease_seconds)
                    self._last_beat = self.monotonic()
                return
        self.reply = reply
        self._commit(job, reply)
        self.current = self.reply = None
        self.supervisor.job_finished()

    def _commit(self, job: dict[str, Any], reply: Reply) -> Outcome:
        outcome = commit(self.ledger, self.host.task(job["task"]), job, reply)
        if outcome.kind != "done":
            # A receipt held for a person is no failure: counted apart, as `run --once` says.
            self.committed["review" if outcome.kind == "review" else "failed"] += 1
        elif outcome.state == "done":
            self.committed["done"] += 1
            if job["input_sha256"]:
                self.source.move_done(job["input_sha256"])
        return outcome

    # -- shutdown -----------------------------------------------------------------------------

    def _shutdown(self) -> None:
        job = self.current
        if job is not None:
            deadline = self.monotonic() + SHUTDOWN_GRACE
            reply = self.reply
            while reply is None and self.monotonic() < deadline and self.stop_requested < 2:
                reply = self.supervisor.poll(TICK)
            if reply is not None:
                self._commit(job, reply)
                self.current = None
            else:
                self.supervisor.kill()
                self.ledger.release(job["id"], self.owner, "daemon stopped")
                self.current = None
        self.supervisor.stop()

    # -- reporting ----------------------------------------------------------------------------

    def _on_event(self, job: dict[str, Any], event: str) -> None:
        self.joblog.event(job, event)
        for watch in self.watchers:
            try:
                watch(job, event)
            except Exception as e:   # a progress display must never cost a job
                log.warning("job watcher failed: %s", e)
        self.host.job_event(job, event)

    def _publish(self, state: str) -> None:
        reasons = self.pauses.reasons()
        tracked = self.source.tracker.counts()
        supervisor = self.supervisor
        self._published_stage = supervisor.stage if supervisor else None
        info = {
            "pid": os.getpid(), "state": "paused" if reasons and state == "running" else state,
            "version": __version__, "owner": self.owner,
            "inbox": str(self.config.inbox_dir), "heartbeat": time.time(),
            "worker": {**supervisor.last_stats, "alive": supervisor.alive} if supervisor else {},
            "paused": self.pauses.summary(), "paused_reasons": reasons, "stats": self.stats,
            # the running job's stage: {"job", "name", "since"} (mustelid.supervisor)
            "stage": self._published_stage,
            "tracking": tracked["tracking"],
            "inbox_files": {**tracked, **self.source.found, **self.source.ready_by},
        }
        store_files.set_state(self.db, "daemon", json.dumps(info))
