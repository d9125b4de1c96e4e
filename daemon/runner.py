"""``mustelid run``: the daemon's main loop (huey-style initialize / loop / shutdown).

One thread does everything that touches the database: scan and ingest, claim, heartbeat,
commit. Signal handlers only set flags. The watchdog thread only drops hints in a queue, and
the model runs in the supervised worker process. SIGTERM/SIGINT stop claiming; the job in
flight gets a short grace to finish, else it is put back to ``queued`` uncharged, and the
process exits within 10 s. A second SIGTERM skips the grace.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import queue
import signal
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import filelock

from mustelid import __version__
from mustelid.config import Config
from mustelid.faults import crash_point
from mustelid.ingest import ingest
from mustelid.store import Ledger, migrate, open_db
from mustelid.store import files as store_files
from mustelid.supervisor import Supervisor
from mustelid.tasks import JobInput

log = logging.getLogger("mustelid.daemon")

PAUSE_SECONDS = 5.0      # back-off after a database or filesystem error (e.g. disk full)
SHUTDOWN_GRACE = 6.0     # seconds a running job may take to finish after SIGTERM
TICK = 0.2
INGEST_SLICE = 50        # files ingested per loop pass (≈0.5 s here): signals, heartbeats and
                         # claims are served between slices of a burst, not after all of it


class AlreadyRunning(Exception):
    pass


class Pauses:
    """Why the daemon is not making progress, for `mustelid status`.

    Each cause (``loop``: database or filesystem errors; ``ingest``: the archive disk is full;
    ``claim``: not enough memory for the model) is set again while it lasts and cleared when what
    it blocked succeeds. One not seen for ``STALE_SECONDS`` is dropped, so a cause whose file was
    deleted or whose job was retried by hand does not linger in the status forever.
    """

    STALE_SECONDS = 90.0

    def __init__(self, clock):
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


class PersistFailed(Exception):
    """A task's ``persist()`` raised: the task's fault, not the database's."""


# SQLite primary result codes that mean the machine, not the plugin, is in trouble (disk full,
# locked, I/O): those propagate and pause the daemon, keeping the reply to commit again later.
_ENVIRONMENTAL = {5, 6, 10, 13}   # SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL


def _persist(task: Any, db: Any, row: dict[str, Any], result: Any) -> None:
    try:
        task.persist(db, row, result)
    except sqlite3.Error as e:
        if (getattr(e, "sqlite_errorcode", 0) or 0) & 0xFF in _ENVIRONMENTAL:
            raise
        raise PersistFailed(f"{type(e).__name__}: {e}") from e
    except Exception as e:
        raise PersistFailed(f"{type(e).__name__}: {e}") from e


def lock_path(config: Config) -> Path:
    return config.data_dir / "daemon.lock"


def daemon_running(config: Config) -> bool:
    """True if some process holds the daemon lock (works without talking to it)."""
    path = lock_path(config)
    if not path.exists():
        return False
    lock = filelock.FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return True
    lock.release()
    return False


def open_store(config: Config, host: Any, on_event=None):
    db = open_db(config.db_path)
    migrate(db, host.migrations())
    ledger = Ledger(
        db,
        on_event=on_event,
        backoff_seconds=config.jobs.backoff_seconds,
        backoff_max_seconds=config.jobs.backoff_max_seconds,
    )
    return db, ledger


class Daemon:
    def __init__(self, config: Config, host: Any, once: bool = False, monotonic=time.monotonic):
        self.config = config
        self.host = host
        self.once = once
        self.monotonic = monotonic
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self.stop_requested = 0          # count of SIGTERM/SIGINT received
        self.hints: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.current: dict[str, Any] | None = None
        self.reply: dict[str, Any] | None = None
        self.pauses = Pauses(monotonic)   # why the daemon is not making progress
        self.stats = {"ingested": 0, "refused": 0, "done": 0, "failed": 0}
        # Where the daemon first learned of each new file: the watcher is a hint, the rescan the
        # safety net; a high found_by_scan on a user's machine means the watcher is missing events.
        self.found = {"found_by_watcher": 0, "found_by_scan": 0}

    # -- lifecycle ----------------------------------------------------------------------------

    def run(self) -> int:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(lock_path(self.config)), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise AlreadyRunning(
                f"another mustelid daemon is already running on {self.config.data_dir}"
            ) from None
        try:
            return self._run_locked()
        finally:
            lock.release()

    def _run_locked(self) -> int:
        from mustelid.inbox import InboxWatcher, StabilityTracker

        self.db, self.ledger = open_store(self.config, self.host, on_event=self._on_event)
        recovered = self.ledger.recover()
        if recovered:
            log.warning("recovered %d job(s) left running by a crash", len(recovered))
        self._remove_stale_temps()
        from mustelid.scheduler import Scheduler

        # Schedules only enqueue ledger rows; ticking from this loop keeps all writes on one
        # thread, and the first tick (before any claim) catches up a fire missed while down.
        self.scheduler = Scheduler.build(self.config, self.host, self.ledger)
        self.supervisor = Supervisor(
            str(self.config.config_path) if self.config.config_path else None, self.monotonic,
            model=self.config.model,
        )
        self.tracker = StabilityTracker(self.config.inbox.stable_seconds, clock=self.monotonic)
        self._install_signals()
        inbox = self.config.inbox_dir
        inbox.mkdir(parents=True, exist_ok=True)
        self._publish(state="starting")
        self.host.each("startup", daemon=self)
        watcher = None
        if not self.once:
            watcher = InboxWatcher(inbox, self.hints.put)
            try:
                watcher.start()
            except Exception as e:  # the scan still finds everything; the watcher is a hint
                log.warning("file watcher unavailable (%s); relying on rescans", e)
                watcher = None
        log.info("mustelid %s watching %s", __version__, inbox)
        try:
            self._loop()
        finally:
            self._shutdown()
            if watcher is not None:
                watcher.stop()
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
        self._next_scan = self.monotonic()
        self._next_publish = 0.0
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
        if now >= self._next_scan:
            self.scan()
            self._maybe_move_done()   # a move a crash cut off, or one that failed earlier
            self._next_scan = now + self.config.inbox.rescan_seconds
        if any(created for *_, created in self.scheduler.tick()):
            self.supervisor.wake()   # a scheduled job is queued: prewarm while it waits
        self._drain_hints()
        backlog = self._ingest_ready()
        if self.current is not None:
            self._tend_current(wait=0 if backlog else TICK)
        elif not self._claim_next():
            if self.once and self._drained():
                return True
            self.supervisor.tend_idle()   # idle long enough: page the model out, then unload
            if not backlog:
                time.sleep(TICK)
        self.pauses.clear("loop")       # a whole pass without a database or filesystem error
        if now >= self._next_publish:
            self._publish(state="running")
            self._next_publish = now + 5
        return False

    def _remove_stale_temps(self) -> None:
        # A crash mid-copy leaves a temp file in the archive root that nothing references. Only
        # old ones go: a `mustelid submit` running beside the daemon may be writing a new one.
        from mustelid.archive import remove_stale_temps

        try:
            removed = remove_stale_temps(self.config.archive_dir)
        except OSError as e:      # housekeeping: an unreadable archive must not stop the loop
            log.warning("could not clean temp files in the archive: %s", e)
            return
        if removed:
            log.info("removed %d temp file(s) left in the archive by a crash", removed)

    def scan(self) -> None:
        from mustelid.inbox import scan

        self._remove_stale_temps()

        present = set()
        for c in scan(self.config.inbox_dir, self.config.inbox.ignore,
                      done_dir=self.config.inbox.done_folder,
                      on_unstorable=self._refuse_unstorable):
            present.add(c.relpath)
            if store_files.already_seen(self.db, str(c.path), c.size, c.mtime_ns):
                continue
            if c.relpath not in self.tracker:
                self.found["found_by_scan"] += 1
            self.tracker.observe(c.relpath, c.size, c.mtime_ns)
        self.tracker.retain(present)

    def _refuse_unstorable(self, path: Path) -> None:
        """A name that is not valid UTF-8 cannot be stored or shown as it is: refuse it under its
        printable form (undecodable bytes as \\xNN) so `mustelid files --refused` says why the
        file was left alone. The file is not touched; renaming it makes it a new file."""
        from mustelid.inbox import is_ignored, printable_path

        shown = printable_path(path)
        try:
            inbox = printable_path(self.config.inbox_dir.absolute())
            rel = Path(shown).relative_to(inbox).as_posix()
            st = os.lstat(path)
        except (ValueError, OSError):
            return
        if is_ignored(rel, self.config.inbox.ignore):
            return
        if store_files.already_seen(self.db, shown, st.st_size, st.st_mtime_ns):
            return
        what = "folder" if os.path.isdir(path) else "file"
        store_files.record_refusal(
            self.db, shown, st.st_size, st.st_mtime_ns, "undecodable_name",
            f"the {what} name is not valid UTF-8; rename it to have it processed",
        )
        self.stats["refused"] += 1
        log.warning("refused %s: undecodable_name", shown)

    def _drain_hints(self) -> None:
        from mustelid.inbox import is_ignored

        inbox = self.config.inbox_dir
        while True:
            try:
                hinted = Path(self.hints.get_nowait())
            except queue.Empty:
                return
            try:
                rel = hinted.relative_to(inbox).as_posix()
                st = os.lstat(hinted)
            except (ValueError, OSError):
                continue
            if os.path.isdir(hinted):
                self.scan()      # a whole folder moved in: walk it
                continue
            if is_ignored(rel, self.config.inbox.ignore):
                continue
            if not store_files.already_seen(self.db, str(hinted), st.st_size, st.st_mtime_ns):
                if rel not in self.tracker:
                    self.found["found_by_watcher"] += 1
                self.tracker.observe(rel, st.st_size, st.st_mtime_ns)
                self.supervisor.wake()   # prewarm overlaps the file's stability wait

    def _ingest_ready(self) -> bool:
        """Ingest one slice of the files that are ready; True if more may be waiting."""
        ready = self.tracker.ready(limit=INGEST_SLICE)
        for i, rel in enumerate(ready):
            if self.stop_requested:
                for rest in ready[i:]:
                    self.tracker.forget(rest)   # reported but not ingested: the next run scans
                return False
            path = self.config.inbox_dir / rel
            try:
                st = os.lstat(path)
            except OSError:
                self.tracker.forget(rel)
                continue
            result = ingest(path, relpath=rel, config=self.config, host=self.host,
                            ledger=self.ledger, stat=st)
            if result.retry:
                # Changed under us or disk trouble: observe again from scratch next scan.
                log.warning("will retry %s later (%s): %s", rel, result.refused, result.message)
                # Look again soon rather than at the next full rescan (minutes away).
                self._next_scan = min(self._next_scan, self.monotonic() + 2 * PAUSE_SECONDS)
                if result.refused == "disk_full":
                    self.pauses.set("ingest", "disk_full", result.message)
                self.tracker.forget(rel)
                continue
            self.pauses.clear("ingest")
            self.tracker.forget(rel)
            if result.refused:
                self.stats["refused"] += 1
            else:
                self.stats["ingested"] += 1
                log.info("ingested %s -> %d job(s)", rel, sum(1 for _, new in result.jobs if new))
                if not any(new for _, new in result.jobs):
                    self._maybe_move_done(result.sha256)   # known bytes, their jobs may be done
        return len(ready) == INGEST_SLICE

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
        self.supervisor.submit(self._job_input(job))
        self._last_beat = self.monotonic()
        return True

    def _job_input(self, job: dict[str, Any]) -> JobInput:
        file = store_files.get_file(self.db, job["input_sha256"]) if job["input_sha256"] else None
        return JobInput(
            id=job["id"],
            task=job["task"],
            path=file["archived_path"] if file else None,
            params=json.loads(job["params"] or "{}"),
            original_name=file["original_name"] if file else None,
            mime=file["mime"] if file else None,
            seen_at=file["first_seen"] if file else None,
        )

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
        self._finish(job, reply)
        self.current = self.reply = None

    def _finish(self, job: dict[str, Any], reply: dict[str, Any]) -> None:
        if reply.get("ok"):
            task = self.host.task(job["task"])
            try:
                result = task.Output.model_validate(reply["data"])  # re-validate on our side
            except Exception as e:
                self.ledger.fail(job["id"], self.owner, "permanent", "schema_violation", str(e))
                self.stats["failed"] += 1
                return
            stats = {**reply.get("stats", {})}
            crash_point("before_commit")  # the answer exists only in this process's memory
            try:
                ok = self.ledger.complete(
                    job["id"], self.owner, reply["data"], evidence=reply.get("evidence"),
                    stats=stats, persist=lambda db, row: _persist(task, db, row, result),
                )
            except PersistFailed as e:
                # The transaction rolled back: no result, job still ours. A plugin bug may be
                # data-dependent or fixed by an upgrade, so retry with backoff, then dead.
                self.stats["failed"] += 1
                state = self.ledger.fail(job["id"], self.owner, "transient", "persist_failed",
                                         str(e))
                log.warning("job %s (%s) %s: persist failed: %s", job["id"], job["task"],
                            state, e)
                return
            if ok:
                self.stats["done"] += 1
                if job["input_sha256"]:
                    self._maybe_move_done(job["input_sha256"])
            return
        self.stats["failed"] += 1
        if reply.get("kind") == "review":
            # Valid but failing the task's checks after the re-ask: a person decides, the raw
            # answer is kept (mustelid review).
            self.ledger.hold_for_review(job["id"], self.owner, reply.get("reason", "check_failed"),
                                        reply.get("message", ""), reply["review"])
            log.warning("job %s (%s) needs review: %s", job["id"], job["task"],
                        reply.get("message"))
            return
        state = self.ledger.fail(job["id"], self.owner, reply.get("kind", "transient"),
                                 reply.get("reason", "unknown"), reply.get("message", ""))
        log.warning("job %s (%s) %s: %s", job["id"], job["task"], state, reply.get("reason"))

    def _maybe_move_done(self, sha256: str | None = None) -> None:
        """Move to the done folder the inbox files whose jobs are all finished (at least one
        done): those of ``sha256`` after its commit, or every such file (at startup and after
        each full rescan, which catches a move lost to a crash right after the commit).

        Only a file still the version that was ingested (same size and mtime as recorded) is
        moved: a version saved since is not processed yet, and moving it would lose it.
        """
        done = self.config.inbox.done_folder
        if not done:
            return
        from mustelid.archive import move_to_done

        inbox = self.config.inbox_dir.absolute()
        for path, size, mtime_ns in store_files.finished(self.db, sha256):
            src = Path(path)
            if not src.is_relative_to(inbox):
                continue     # `mustelid submit` of a file elsewhere: not ours to move
            try:
                moved = move_to_done(src, inbox, Path(done).expanduser(),
                                     expected_size=size, expected_mtime_ns=mtime_ns)
            except OSError as e:
                log.warning("could not move %s to the done folder: %s", src, e)
                continue
            if moved is not None:
                store_files.mark_moved(self.db, path)

    def _drained(self) -> bool:
        """--once: nothing being written, nothing runnable now or within a short backoff."""
        if len(self.tracker) or self.current is not None:
            return False
        soon = self.db.execute(
            "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND run_after <= ?",
            [time.time() + 30],
        ).fetchone()[0]
        return soon == 0

    # -- shutdown -----------------------------------------------------------------------------

    def _shutdown(self) -> None:
        job = self.current
        if job is not None:
            deadline = self.monotonic() + SHUTDOWN_GRACE
            reply = self.reply
            while reply is None and self.monotonic() < deadline and self.stop_requested < 2:
                reply = self.supervisor.poll(TICK)
            if reply is not None:
                self._finish(job, reply)
                self.current = None
            else:
                self.supervisor.kill()
                self.ledger.release(job["id"], self.owner, "daemon stopped")
                self.current = None
        self.supervisor.stop()

    # -- reporting ----------------------------------------------------------------------------

    def _on_event(self, job: dict[str, Any], event: str) -> None:
        self.host.job_event(job, event)

    def _publish(self, state: str) -> None:
        reasons = self.pauses.reasons()
        tracked = self.tracker.counts() if hasattr(self, "tracker") else {"tracking": 0}
        info = {
            "pid": os.getpid(), "state": "paused" if reasons and state == "running" else state,
            "version": __version__, "owner": self.owner,
            "inbox": str(self.config.inbox_dir), "heartbeat": time.time(),
            "worker": {**self.supervisor.last_stats, "alive": self.supervisor.alive}
            if hasattr(self, "supervisor") else {},
            "paused": self.pauses.summary(), "paused_reasons": reasons, "stats": self.stats,
            "tracking": tracked["tracking"], "inbox_files": {**tracked, **self.found},
        }
        store_files.set_state(self.db, "daemon", json.dumps(info))
