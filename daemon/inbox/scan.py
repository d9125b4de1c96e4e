"""What is in the inbox: a walk that never follows symlinks and reports what it cannot ingest."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal

from mustelid.inbox.ignore import is_ignored

log = logging.getLogger("mustelid.inbox")

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
    on_unreadable: Callable[[Path, OSError], object] | None = None,
) -> Iterator[Candidate]:
    """Walk the inbox recursively without following symlinks and yield every entry that is not
    ignored: regular files, and symlinks/FIFOs/sockets/devices so ingest can refuse them with a
    reason instead of silently skipping them. Symlinked folders are reported, not entered.

    ``done_dir``, if inside the inbox, is skipped so processed files are not processed again.
    A folder that cannot be read is skipped and passed to ``on_unreadable`` (to record it where
    the user looks: ``mustelid files --refused``) or else logged; a missing inbox yields nothing.
    An entry whose name is not valid UTF-8 (see ``storable_name``) is not yielded: it is passed
    to ``on_unstorable`` (to record a refusal under ``printable_path``) or else logged.
    """
    root = Path(inbox_dir).absolute()
    extra = tuple(extra_ignore)
    skip = _dir_identity(done_dir) if done_dir is not None else None
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        subfolders = []
        for entry in _listing(folder, root, on_unreadable):
            relpath = prefix + entry.name
            if not storable_name(entry.name):
                if on_unstorable is not None:
                    on_unstorable(Path(entry.path))
                else:
                    log.warning("skipping %s: its name is not valid UTF-8",
                                printable_path(entry.path))
                continue
            if is_ignored(relpath, extra) or (st := _lstat(entry)) is None:
                continue
            if stat.S_ISDIR(st.st_mode):
                if skip != (st.st_dev, st.st_ino):
                    subfolders.append((Path(entry.path), relpath + "/"))
                continue
            yield Candidate(relpath, Path(entry.path), st.st_size, st.st_mtime_ns, _kind(st))
        # Reversed so the stack pops subfolders in name order: deterministic, oldest-name first.
        stack.extend(reversed(subfolders))


def _listing(folder: Path, root: Path,
             on_unreadable: Callable[[Path, OSError], object] | None) -> list[os.DirEntry[str]]:
    """The entries of ``folder`` in name order; none (reported) if it cannot be read."""
    try:
        with os.scandir(folder) as it:
            return sorted(it, key=lambda e: e.name)
    except FileNotFoundError:
        if folder == root:
            log.warning("inbox %s does not exist", root)
        return []  # a subfolder removed while we walked
    except OSError as e:
        if on_unreadable is not None:
            on_unreadable(folder, e)
        else:
            log.warning("cannot read inbox folder %s: %s", folder, e.strerror or e)
        return []


def _lstat(entry: os.DirEntry[str]) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return None  # deleted between listing and stat
    except OSError as e:
        log.warning("cannot stat %s: %s", entry.path, e.strerror or e)
        return None


def _kind(st: os.stat_result) -> Kind:
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISLNK(st.st_mode):
        return "symlink"
    return "special"


def _dir_identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    # (device, inode) rather than path strings: immune to symlinks, "..", case and trailing "/".
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)
