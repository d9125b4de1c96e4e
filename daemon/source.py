"""The inbox as a source of jobs: what files there are, when each is ready, ingesting them.

The daemon's loop (``mustelid.runner.Daemon``) asks ``InboxSource.poll`` once per pass; it never
blocks for long. Files are learned of two ways: the watcher thread drops hints in a queue
(``hints``), and a full rescan every ``inbox.rescan_seconds`` is the safety net. Either way a new
file is only *observed* at first: the stability tracker holds it until its size and mtime have
not changed for ``inbox.stable_seconds`` (a file still being written or synced is never taken
half-done). A file its writer closed after writing (the native Linux watcher's close-write event)
skips that wait: it is ready at once if it is still a regular file beneath the inbox, not an
ignored (partial-download) name, and its size and mtime are still those seen at the close;
``ready_by_close`` / ``ready_by_window`` count which way each ingested file was taken. Ready
files are ingested ``INGEST_SLICE`` at a time, so signals, heartbeats and
claims are served between slices of a burst. Once every job of a file has ended with at least
one ``done``, the file moves to the done folder if one is configured.

Names that are not valid UTF-8 cannot be stored or shown as they are: they are refused under
their printable form, and ``found_by_watcher`` / ``found_by_scan`` count where each new file was
first learned of (a high ``found_by_scan`` means the watcher is missing events).
"""

from __future__ import annotations

import logging
import os
import queue
import stat
import time
from pathlib import Path
from typing import Callable, Protocol

from mustelid import archive   # through the module: a test plugin wraps archive.move_to_done
from mustelid.config import Config
from mustelid.host import Host
from mustelid.inbox import InboxWatcher, StabilityTracker, is_ignored, printable_path, scan
from mustelid.ingest import ingest
from mustelid.store import Ledger
from mustelid.store import files as store_files

log = logging.getLogger("mustelid.daemon")

INGEST_SLICE = 50        # files ingested per loop pass (≈0.5 s here): signals, heartbeats and
                         # claims are served between slices of a burst, not after all of it
RETRY_SOON = 10.0        # after an ingest that must be retried (file changed, disk full): rescan
                         # this soon rather than at the next full rescan (minutes away)


class PauseBoard(Protocol):
    """Where the source says why it cannot make progress (``mustelid.runner.Pauses``)."""

    def set(self, cause: str, code: str, message: str) -> None: ...

    def clear(self, cause: str) -> None: ...


class InboxSource:
    """Watch, scan, settle and ingest the inbox; move finished files to the done folder.

    ``pauses`` hears of a full archive disk; ``on_new_file`` is
    called when the watcher reports a new file (the daemon prewarms the model while it settles);
    ``stopping`` says a stop was asked for, and ends an ingest slice early.
    """

    def __init__(self, config: Config, host: Host, *, pauses: PauseBoard,
                 on_new_file: Callable[[], None], stopping: Callable[[], bool],
                 clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.host = host
        self.pauses = pauses
        self.on_new_file = on_new_file
        self.stopping = stopping
        self.clock = clock
        self.ledger: Ledger | None = None
        # (path, None) for a hint; (path, (size, mtime_ns)) for a close-after-write at that
        # signature. One queue, so a close is never handled before the hints that preceded it.
        self.hints: queue.SimpleQueue[tuple[str, tuple[int, int] | None]] = queue.SimpleQueue()
        self.tracker = StabilityTracker(config.inbox.stable_seconds, clock=clock)
        self.counts = {"ingested": 0, "refused": 0}
        # Where the daemon first learned of each new file: the watcher is a hint, the rescan the
        # safety net.
        self.found = {"found_by_watcher": 0, "found_by_scan": 0}
        # How each ingested file was judged complete: its writer's close, or holding still.
        self.ready_by = {"ready_by_close": 0, "ready_by_window": 0}
        self.watcher: InboxWatcher | None = None
        self._next_scan = clock()

    @property
    def db(self):
        return self.ledger.db

    def open(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.config.inbox_dir.mkdir(parents=True, exist_ok=True)

    # -- the watcher ----------------------------------------------------------------------------

    def watch(self) -> None:
        self.watcher = InboxWatcher(
            self.config.inbox_dir, lambda path: self.hints.put((path, None)),
            on_closed=lambda path, size, mtime_ns: self.hints.put((path, (size, mtime_ns))))
        try:
            self.watcher.start()
        except Exception as e:  # the scan still finds everything; the watcher is a hint
            log.warning("file watcher unavailable (%s); relying on rescans", e)
            self.watcher = None

    def stop_watching(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    # -- one pass -------------------------------------------------------------------------------

    def rescan_if_due(self, now: float) -> None:
        if now >= self._next_scan:
            self.scan()
            self.move_done()   # a move a crash cut off, or one that failed earlier
            self._next_scan = now + self.config.inbox.rescan_seconds

    def poll(self) -> bool:
        """Take the watcher's hints, then ingest one slice of ready files; True if more may be
        waiting (the loop then does not sleep)."""
        self._drain_hints()
        return self._ingest_ready()

    @property
    def settled(self) -> bool:
        """Nothing being written or waiting to settle (``--once`` may stop)."""
        return not len(self.tracker)

    def scan(self) -> None:
        self.remove_stale_temps()
        present = set()
        self._unreadable: set[str] = set()
        for c in scan(self.config.inbox_dir, self.config.inbox.ignore,
                      done_dir=self.config.inbox.done_folder,
                      on_unstorable=self._refuse_unstorable,
                      on_unreadable=self._refuse_unreadable):
            present.add(c.relpath)
            if store_files.already_seen(self.db, str(c.path), c.size, c.mtime_ns):
                continue
            if c.relpath not in self.tracker:
                self.found["found_by_scan"] += 1
            self.tracker.observe(c.relpath, c.size, c.mtime_ns)
        self.tracker.retain(present)
        # A folder that can be read again is no longer refused: its files are being ingested.
        store_files.forget_refusals(self.db, "unreadable_folder", keep=self._unreadable)

    def remove_stale_temps(self) -> None:
        # A crash mid-copy leaves a temp file in the archive root that nothing references. Only
        # old ones go: a `mustelid submit` running beside the daemon may be writing a new one.
        try:
            removed = archive.remove_stale_temps(self.config.archive_dir)
        except OSError as e:      # housekeeping: an unreadable archive must not stop the loop
            log.warning("could not clean temp files in the archive: %s", e)
            return
        if removed:
            log.info("removed %d temp file(s) left in the archive by a crash", removed)

    def _refuse_unstorable(self, path: Path) -> None:
        """A name that is not valid UTF-8 cannot be stored or shown as it is: refuse it under its
        printable form (undecodable bytes as \\xNN) so `mustelid files --refused` says why the
        file was left alone. The file is not touched; renaming it makes it a new file."""
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
        self.counts["refused"] += 1
        log.warning("refused %s: undecodable_name", shown)

    def _refuse_unreadable(self, folder: Path, error: OSError) -> None:
        """A subfolder the daemon cannot list (permissions): its files would wait unseen, so it
        is listed in `mustelid files --refused` with the reason until it can be read."""
        shown = printable_path(folder)
        self._unreadable.add(shown)
        try:
            st = os.lstat(folder)
        except OSError:
            return
        if store_files.already_seen(self.db, shown, st.st_size, st.st_mtime_ns):
            return
        store_files.record_refusal(
            self.db, shown, st.st_size, st.st_mtime_ns, "unreadable_folder",
            f"cannot read this folder ({error.strerror or error}); its files wait until the "
            "daemon's user can list it",
        )
        self.counts["refused"] += 1
        log.warning("refused %s: unreadable_folder (%s)", shown, error.strerror or error)

    def _drain_hints(self) -> None:
        inbox = self.config.inbox_dir
        while True:
            try:
                hinted, closed_at = self.hints.get_nowait()
                hinted = Path(hinted)
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
            if is_ignored(rel, self.config.inbox.ignore) or self._in_done_folder(hinted):
                continue
            if not store_files.already_seen(self.db, str(hinted), st.st_size, st.st_mtime_ns):
                if rel not in self.tracker:
                    self.found["found_by_watcher"] += 1
                if closed_at == (st.st_size, st.st_mtime_ns) and stat.S_ISREG(st.st_mode):
                    self.tracker.closed(rel, st.st_size, st.st_mtime_ns)
                else:            # not closed, or changed since: it must hold still
                    self.tracker.observe(rel, st.st_size, st.st_mtime_ns)
                self.on_new_file()   # prewarm overlaps the file's stability wait

    def _in_done_folder(self, path: Path) -> bool:
        done = self.config.inbox.done_folder
        return bool(done) and path.is_relative_to(Path(done).expanduser().absolute())

    def _ingest_ready(self) -> bool:
        """Ingest one slice of the files that are ready; True if more may be waiting."""
        ready = self.tracker.ready(limit=INGEST_SLICE)
        for i, rel in enumerate(ready):
            if self.stopping():
                for rest in ready[i:]:
                    self.tracker.forget(rest)   # reported but not ingested: the next run scans
                return False
            self._ingest_one(rel)
        return len(ready) == INGEST_SLICE

    def _ingest_one(self, rel: str) -> None:
        path = self.config.inbox_dir / rel
        closed_at = self.tracker.closed_at(rel)
        try:
            st = os.lstat(path)
        except OSError:
            self.tracker.forget(rel)
            return
        if closed_at is not None and closed_at != (st.st_size, st.st_mtime_ns):
            # Written again since its close (reopened): no longer ready by the close; from now
            # on it must hold still like any other file.
            self.tracker.observe(rel, st.st_size, st.st_mtime_ns)
            return
        self.ready_by["ready_by_close" if closed_at is not None else "ready_by_window"] += 1
        result = ingest(path, relpath=rel, config=self.config, host=self.host,
                        ledger=self.ledger, stat=st)
        self.tracker.forget(rel)
        if result.retry:
            # Changed under us or disk trouble: observe again from scratch next scan.
            log.warning("will retry %s later (%s): %s", rel, result.refused, result.message)
            self._next_scan = min(self._next_scan, self.clock() + RETRY_SOON)
            if result.refused == "disk_full":
                self.pauses.set("ingest", "disk_full", result.message)
            return
        self.pauses.clear("ingest")
        if result.refused:
            self.counts["refused"] += 1
            return
        self.counts["ingested"] += 1
        log.info("ingested %s -> %d job(s)", rel, sum(1 for _, new in result.jobs if new))
        if not any(new for _, new in result.jobs):
            self.move_done(result.sha256)   # known bytes, their jobs may be done

    # -- the done folder ------------------------------------------------------------------------

    def move_done(self, sha256: str | None = None) -> None:
        """Move to the done folder the inbox files whose jobs are all finished (at least one
        done): those of ``sha256`` after its commit, or every such file (at startup and after
        each full rescan, which catches a move lost to a crash right after the commit).

        Only a file still the version that was ingested (same size and mtime as recorded) is
        moved: a version saved since is not processed yet, and moving it would lose it.
        """
        done = self.config.inbox.done_folder
        if not done:
            return
        inbox = self.config.inbox_dir.absolute()
        for path, size, mtime_ns in store_files.finished(self.db, sha256):
            src = Path(path)
            if not src.is_relative_to(inbox):
                continue     # `mustelid submit` of a file elsewhere: not ours to move
            try:
                moved = archive.move_to_done(src, inbox, Path(done).expanduser(),
                                             expected_size=size, expected_mtime_ns=mtime_ns)
            except OSError as e:
                log.warning("could not move %s to the done folder: %s", src, e)
                continue
            if moved is not None:
                store_files.mark_moved(self.db, path)
