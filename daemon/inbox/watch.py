"""A watcher whose events are only hints: a reason for the daemon to scan sooner."""

from __future__ import annotations

import errno
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

from watchdog.events import FileSystemEventHandler  # light; the observers load lazily in start()

from mustelid.inbox.scan import storable_name

log = logging.getLogger("mustelid.inbox")

# Events worth a look. Not "opened"/"closed_no_write": our own reads emit those, and reacting
# to them would loop. Not "deleted": the scan notices deletions.
_HINT_EVENTS = frozenset({"created", "modified", "closed"})


class InboxWatcher:
    """Calls ``on_hint(path)`` when something in the inbox may have changed.

    A hint is only a reason to look sooner (the path may be a folder, a partial file, or already
    gone); ``on_hint`` runs on watchdog's thread and should just enqueue. It prefers the native
    observer (inotify/FSEvents), falls back to polling when the OS refuses (inotify watch or
    instance limits), and to no watcher at all (periodic rescans only) if that fails too.
    ``mode`` says which one is running: "native", "polling", "none" or "stopped".

    ``on_closed(path, size, mtime_ns)``, if given, hears instead of ``on_hint`` that a writer
    closed a file it had open for writing (inotify IN_CLOSE_WRITE, watchdog's
    ``FileClosedEvent``; only the native Linux observer sends it), with the file's size and mtime
    taken right after the close, so the caller can tell whether it changed since. Files that
    arrive otherwise (a rename into the inbox, the polling observer, other platforms) only ever
    produce hints.
    """

    def __init__(
        self,
        inbox_dir: str | os.PathLike[str],
        on_hint: Callable[[str], object],
        *,
        on_closed: Callable[[str, int, int], object] | None = None,
        polling_interval: float = 5.0,
    ):
        self.inbox_dir = Path(inbox_dir).absolute()
        self.on_hint = on_hint
        self.on_closed = on_closed
        self.polling_interval = polling_interval
        self.mode = "stopped"
        self._observer = None
        self._lock = threading.Lock()

    def start(self) -> str:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        with self._lock:
            if self._observer is not None:
                return self.mode
            self.inbox_dir.mkdir(parents=True, exist_ok=True)
            handler = _HintHandler(self.on_hint, self.on_closed)
            attempts = (
                ("native", Observer),
                ("polling", lambda: PollingObserver(timeout=self.polling_interval)),
            )
            for mode, make in attempts:
                observer = make()
                try:
                    observer.schedule(handler, str(self.inbox_dir), recursive=True)
                    observer.start()
                except OSError as e:
                    log.warning(
                        "inbox watcher (%s) unavailable: %s%s", mode, e.strerror or e,
                        _LIMIT_ADVICE if e.errno in (errno.ENOSPC, errno.EMFILE) else "",
                    )
                    continue
                self._observer, self.mode = observer, mode
                if mode != "native":
                    log.warning("watching %s by polling every %gs", self.inbox_dir,
                                self.polling_interval)
                return mode
            log.warning("no inbox watcher: new files are found by periodic rescans only")
            self.mode = "none"
            return self.mode

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            observer, self._observer = self._observer, None
            self.mode = "stopped"
        if observer is None:
            return
        observer.stop()
        observer.join(timeout)
        if observer.is_alive():
            log.warning("inbox watcher did not stop within %gs; leaving it (daemon thread)", timeout)


_LIMIT_ADVICE = (
    " (raise fs.inotify.max_user_watches / max_user_instances with sysctl to watch natively)"
)


class _HintHandler(FileSystemEventHandler):
    def __init__(self, on_hint: Callable[[str], object],
                 on_closed: Callable[[str, int, int], object] | None = None):
        super().__init__()
        self._on_hint = on_hint
        self._on_closed = on_closed

    def on_any_event(self, event) -> None:
        if (event.event_type == "closed" and not event.is_directory
                and self._on_closed is not None and self._closed(os.fsdecode(event.src_path))):
            return
        if event.event_type == "moved":
            path = event.dest_path       # a rename into the inbox: the real name is the dest
        elif event.event_type in _HINT_EVENTS:
            if event.is_directory and event.event_type == "modified":
                return                   # a folder's mtime changes with every file in it: noise
            path = event.src_path
        else:
            return
        path = os.fsdecode(path)
        if not storable_name(path):
            return                       # not valid UTF-8: the scan reports it (storable_name)
        try:
            self._on_hint(path)
        except Exception:
            # An exception here would kill watchdog's dispatcher thread and silently end all
            # hints; the rescan would still find files, but later. Log and carry on.
            log.exception("inbox hint handler failed for %r", path)

    def _closed(self, path: str) -> bool:
        """Pass on a close-after-write with the file's signature now; False if it cannot be
        (gone already, or an unstorable name): then it is an ordinary hint, or nothing."""
        if not storable_name(path):
            return False
        try:
            st = os.lstat(path)
        except OSError:
            return False
        try:
            self._on_closed(path, st.st_size, st.st_mtime_ns)
        except Exception:
            log.exception("inbox close handler failed for %r", path)
        return True
