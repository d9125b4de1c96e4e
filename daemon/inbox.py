"""The inbox: which files to ignore, when a file is fully written, what is there, and a watcher.

The scan is the truth and the watcher is only a hint: inotify drops events under load (a burst
of 20,000 files delivered about half of them) and ``created`` fires while a file is still being
written. So the daemon scans at startup and periodically, feeds every file's (size, mtime) to a
``StabilityTracker``, and ingests only files that held still. Watcher events just make it look
sooner.
"""

from __future__ import annotations

import dataclasses
import errno
import fnmatch
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from pathlib import Path, PurePath, PurePosixPath
from typing import Literal

from watchdog.events import FileSystemEventHandler  # light; the observers load lazily in start()

log = logging.getLogger(__name__)

# --- ignore rules -----------------------------------------------------------------------------

# Names matched case-insensitively, because the filesystems these come from (macOS, Windows,
# SMB shares) are case-insensitive and the same junk shows up as "Thumbs.db" and "THUMBS.DB".
IGNORED_NAMES = frozenset(
    name.lower()
    for name in (
        "Thumbs.db", "ehthumbs.db", "ehthumbs_vista.db", "desktop.ini",  # Windows Explorer
        "Icon\r",                                                        # macOS folder icon
        "$RECYCLE.BIN", "System Volume Information",                     # Windows volumes
        "@eaDir", "#recycle",                                            # Synology NAS
        "lost+found",
    )
)

# Globs matched against every path part (file and folder names), case-insensitively. Hidden
# names (".*") already cover .DS_Store, ._* (AppleDouble), .~lock.* (LibreOffice), .sync*,
# .dropbox*, .syncthing.*.tmp, .nextcloud/.owncloud temp files and .Trash/.Spotlight folders;
# they are listed anyway so the intent survives if someone relaxes the hidden-file rule.
IGNORED = (
    ".*",                                   # hidden files and folders
    ".ds_store", "._*", ".~lock.*#", ".sync*", ".dropbox*", ".syncthing.*",
    "~$*",                                  # Microsoft Office owner/lock files
    "*.tmp", "*.temp",                      # Office, OneDrive and generic temp files
    "*.part", "*.partial",                  # Firefox, wget/curl, KDE downloads in progress
    "*.crdownload",                         # Chrome, Edge, Brave
    "*.download",                           # Safari
    "*.opdownload",                         # Opera
    "*.filepart",                           # WinSCP
    "*.!ut", "*.!qb", "*.!sync",            # uTorrent, qBittorrent, Resilio Sync
    "*.aria2",                              # aria2 control file beside a download
    "*.icloud",                             # iCloud placeholders (not downloaded yet)
    "*.swp", "*.swx", "*~",                 # vim swap files, editor backups
    "~syncthing~*",                         # Syncthing temp files on Windows
)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def is_ignored(relpath: str | PurePath, extra_patterns: Iterable[str] = ()) -> bool:
    """True if any part of ``relpath`` (relative to the inbox) is OS/sync junk or a partial
    download, or matches one of the user's ``extra_patterns``.

    Matching is ours, not watchdog's: watchdog 7 uses ``PurePath.full_match``, where ``*.jpg``
    matches nothing for an absolute path. Rules, all case-insensitive:

    - a pattern without ``/`` is tested against every part, so ``tmp*`` ignores a folder
      ``tmp-scans`` and everything inside it (like a ``.gitignore`` line);
    - a pattern with ``/`` is tested against the whole relative path (``a/*.png``); a leading
      ``**/`` is dropped, so patterns written for watchdog keep working.
    """
    path = PurePosixPath(PurePath(relpath).as_posix())
    if path.is_absolute():
        # Loud, because the parts above the inbox would be judged too: an inbox under
        # ~/.config/... would silently ignore every file.
        raise ValueError(f"is_ignored wants a path relative to the inbox, got {relpath}")
    parts = [p.lower() for p in path.parts]
    whole = "/".join(parts)
    name_patterns: list[str] = list(IGNORED)
    path_patterns: list[str] = []
    for raw in extra_patterns:
        pattern = raw.strip().lower()
        while pattern.startswith("**/"):
            pattern = pattern[3:]
        if not pattern:
            continue
        (path_patterns if "/" in pattern else name_patterns).append(pattern.rstrip("/"))
    for part in parts:
        # "..": a path that climbs out of the inbox is never ours to process.
        if part in IGNORED_NAMES or part == ".." or _matches(part, name_patterns):
            return True
    return _matches(whole, path_patterns)


# --- stability -------------------------------------------------------------------------------


@dataclasses.dataclass
class _Seen:
    signature: tuple[int, int]       # (size, mtime_ns)
    since: float                     # clock() when this signature was first seen
    reported: bool = False


class StabilityTracker:
    """Decides when a file is fully written: its (size, mtime_ns) held still for
    ``stable_seconds`` on a monotonic clock (paperless-ngx's FileStabilityTracker, fed by scans).

    Any change restarts the timer. ``ready()`` reports each stable version of a file once, so a
    periodic rescan does not re-ingest the same file every time; a later change (new size or
    mtime) makes it a new version that is reported again. Call ``forget(path)`` when a file is
    gone, or after a transient ingest failure so that the next scan reports it again.

    An empty file is almost always one that is about to be written, so it must hold still for
    ``empty_seconds`` (default: ten times ``stable_seconds``, at least 5 s) before it is reported.
    It is reported in the end, so that ingest can refuse it with a reason: a file that stays
    empty (or a FIFO or socket, whose size is 0) would otherwise sit in the inbox unexplained,
    and keep ``mustelid run --once`` from ever finishing.

    The clock is injected so tests and the daemon's loop(now) can drive time. Not thread-safe:
    call it from the daemon's loop only.
    """

    def __init__(self, stable_seconds: float, clock: Callable[[], float] = time.monotonic,
                 empty_seconds: float | None = None):
        self.stable_seconds = stable_seconds
        self.empty_seconds = (max(5.0, 10 * stable_seconds) if empty_seconds is None
                              else empty_seconds)
        self._clock = clock
        self._seen: dict[Hashable, _Seen] = {}

    def observe(self, path: Hashable, size: int, mtime_ns: int) -> None:
        signature = (size, mtime_ns)
        seen = self._seen.get(path)
        if seen is None or seen.signature != signature:
            self._seen[path] = _Seen(signature, self._clock())

    def ready(self, limit: int | None = None) -> list[Hashable]:
        """Paths whose current version held still for ``stable_seconds`` and was not reported
        yet, oldest first. ``limit`` caps how many are reported (and marked reported) per call,
        so a caller can ingest a burst in slices and still answer signals between them; the rest
        are reported by later calls."""
        now = self._clock()
        out: list[Hashable] = []
        for path, seen in sorted(self._seen.items(), key=lambda item: item[1].since):
            if limit is not None and len(out) >= limit:
                break
            if seen.reported:
                continue
            wait = self.empty_seconds if seen.signature[0] == 0 else self.stable_seconds
            if now - seen.since >= wait:
                seen.reported = True
                out.append(path)
        return out

    def counts(self) -> dict[str, int]:
        """For `mustelid status`: tracked paths still settling (being written, or not yet still
        for long enough) and those ready but not yet handed out (an ingest backlog)."""
        now, settling, ready = self._clock(), 0, 0
        for seen in self._seen.values():
            if seen.reported:
                continue
            wait = self.empty_seconds if seen.signature[0] == 0 else self.stable_seconds
            if now - seen.since >= wait:
                ready += 1
            else:
                settling += 1
        return {"tracking": len(self._seen), "settling": settling, "ready": ready}

    def forget(self, path: Hashable) -> None:
        self._seen.pop(path, None)

    def retain(self, present: Iterable[Hashable]) -> None:
        """Forget every path not in ``present`` (the paths the latest full scan found), so files
        deleted from the inbox do not pile up in memory."""
        keep = set(present)
        for path in [p for p in self._seen if p not in keep]:
            del self._seen[path]

    def __contains__(self, path: Hashable) -> bool:
        return path in self._seen

    def __len__(self) -> int:
        return len(self._seen)


# --- scan ------------------------------------------------------------------------------------

Kind = Literal["file", "symlink", "special"]


@dataclasses.dataclass(frozen=True)
class Candidate:
    relpath: str            # relative to the inbox, "/"-separated on every OS
    path: Path              # absolute
    size: int
    mtime_ns: int
    kind: Kind              # "symlink" and "special" (FIFO, socket, device) are for refusing


def storable_name(name: str) -> bool:
    """True if a file name can be stored as text (SQLite, logs, JSON): valid UTF-8 on disk.

    POSIX names are bytes; Python hands back the ones that are not UTF-8 with lone surrogates
    ("surrogateescape"), which SQLite refuses to bind (UnicodeEncodeError). One such name must
    not take the daemon down on every scan, so the scan reports it instead of yielding it.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable_path(path: str | os.PathLike[str]) -> str:
    """A path as text that can always be stored and shown: undecodable bytes become \\xNN."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def scan(
    inbox_dir: str | os.PathLike[str],
    extra_ignore: Iterable[str] = (),
    *,
    done_dir: str | os.PathLike[str] | None = None,
    on_unstorable: Callable[[Path], object] | None = None,
) -> Iterator[Candidate]:
    """Walk the inbox recursively without following symlinks and yield every entry that is not
    ignored: regular files, and symlinks/FIFOs/sockets/devices so ingest can refuse them with a
    reason instead of silently skipping them. Symlinked folders are reported, not entered.

    ``done_dir``, if inside the inbox, is skipped so processed files are not processed again.
    A folder that cannot be read is logged and skipped; a missing inbox yields nothing.
    An entry whose name is not valid UTF-8 (see ``storable_name``) is not yielded: it is passed
    to ``on_unstorable`` (to record a refusal under ``printable_path``) or else logged.
    """
    root = Path(inbox_dir).absolute()
    extra = tuple(extra_ignore)
    skip = _dir_identity(done_dir) if done_dir is not None else None
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            if folder == root:
                log.warning("inbox %s does not exist", root)
            continue  # a subfolder removed while we walked
        except OSError as e:
            log.warning("cannot read inbox folder %s: %s", folder, e.strerror or e)
            continue
        subfolders = []
        for entry in entries:
            relpath = prefix + entry.name
            if not storable_name(entry.name):
                if on_unstorable is not None:
                    on_unstorable(Path(entry.path))
                else:
                    log.warning("skipping %s: its name is not valid UTF-8",
                                printable_path(entry.path))
                continue
            if is_ignored(relpath, extra):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted between listing and stat
            except OSError as e:
                log.warning("cannot stat %s: %s", entry.path, e.strerror or e)
                continue
            if stat.S_ISDIR(st.st_mode):
                if skip != (st.st_dev, st.st_ino):
                    subfolders.append((Path(entry.path), relpath + "/"))
                continue
            if stat.S_ISREG(st.st_mode):
                kind: Kind = "file"
            elif stat.S_ISLNK(st.st_mode):
                kind = "symlink"
            else:
                kind = "special"
            yield Candidate(relpath, Path(entry.path), st.st_size, st.st_mtime_ns, kind)
        # Reversed so the stack pops subfolders in name order: deterministic, oldest-name first.
        stack.extend(reversed(subfolders))


def _dir_identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    # (device, inode) rather than path strings: immune to symlinks, "..", case and trailing "/".
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


# --- watcher ---------------------------------------------------------------------------------

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
    """

    def __init__(
        self,
        inbox_dir: str | os.PathLike[str],
        on_hint: Callable[[str], object],
        *,
        polling_interval: float = 5.0,
    ):
        self.inbox_dir = Path(inbox_dir).absolute()
        self.on_hint = on_hint
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
            handler = _HintHandler(self.on_hint)
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
    def __init__(self, on_hint: Callable[[str], object]):
        super().__init__()
        self._on_hint = on_hint

    def on_any_event(self, event) -> None:
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
