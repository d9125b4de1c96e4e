"""Ingest copies: a content-addressed, private copy of each inbox file, made safely.

Jobs never read the inbox file itself: the user may edit, move or delete it at any time. Ingest
copies the bytes once into ``archive/ab/cd/<sha256><ext>`` (same bytes, same place: idempotent)
and the job points at that copy. The copy is fsynced before anything refers to it, and the
source is only ever opened read-only.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import os
import shutil
import stat
import time
from pathlib import Path
from typing import BinaryIO

from mustelid.beneath import LinkOnTheWay, identity_beneath, open_beneath
from mustelid.durable import fsync_dir, makedirs
from mustelid.faults import crash_point
from mustelid.sniff import EXTENSIONS, HEAD, sniff
from mustelid.tasks import PermanentError, TransientError, WaitingError

log = logging.getLogger(__name__)

CHUNK = 1 << 20          # 1 MiB: big enough for throughput, small enough for 2 cores and low RSS
TEMP_PREFIX = ".tmp-"    # hidden, so a half-written archive entry never looks like a real one

# --- archiving -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Archived:
    sha256: str
    size: int
    mime: str | None
    archived_path: Path
    mtime_ns: int            # of the source, as read: with size, identifies the version ingested


def archive_file(src: str | os.PathLike[str], archive_dir: str | os.PathLike[str],
                 max_bytes: int, root: Path | None = None) -> Archived:
    """Copy ``src`` into the content-addressed archive and describe it.

    Raises ``PermanentError`` ("symlink_refused", "not_a_regular_file", "too_large",
    "empty_file", "permission_denied"), ``TransientError`` ("file_changed" while being read, "file_vanished",
    "read_error", "archive_write_failed") or ``WaitingError("disk_full")``. Never modifies or
    deletes ``src``. ``root``: the inbox ``src`` lies in; then no folder between them may be a
    symbolic link, at open or after the copy (``mustelid.beneath``).
    """
    src, archive_dir = Path(src), Path(archive_dir)
    rel = src.relative_to(root) if root is not None and src.is_relative_to(root) else None
    # lstat first, so FIFOs and devices are refused without ever being opened (opening a device
    # can have side effects); O_NOFOLLOW | O_NONBLOCK below closes the race if the path is swapped.
    _refuse_non_regular(_lstat(src), src)
    fd = _open_source(src, root, rel)
    with open(fd, "rb", buffering=0) as f:
        before = os.fstat(fd)
        _refuse_non_regular(before, src)
        if before.st_size > max_bytes:
            raise PermanentError(
                "too_large", f"{src.name} is {before.st_size:,} bytes; the limit is {max_bytes:,}"
            )
        if before.st_size == 0:
            # Reported only after it stayed empty for a while (StabilityTracker): say so, rather
            # than archive nothing. Written to later, it is a new version and is ingested then.
            raise PermanentError("empty_file", f"{src.name} is empty")
        try:
            archive_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _archive_error(e, archive_dir) from None
        tmp = _temp_path(archive_dir)
        try:
            try:
                with open(tmp, "xb") as out:
                    digest, head, copied = _copy_and_hash(f, out, src, limit=max_bytes)
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as e:          # reading errors were already turned into JobErrors
                raise _archive_error(e, archive_dir) from None
            crash_point("after_hash")      # hashed, temp copy fsynced, nothing published
            _check_unchanged(src, before, os.fstat(fd), copied,
                             (lambda: identity_beneath(root, rel)) if rel is not None else None)
            mime = sniff(head)
            final = archive_dir / digest[:2] / digest[2:4] / (digest + EXTENSIONS.get(mime, ".bin"))
            _publish(tmp, final, copied, archive_dir)
            crash_point("after_archive_copy")   # published, no row points at it yet
        finally:
            tmp.unlink(missing_ok=True)
    return Archived(digest, copied, mime, final, before.st_mtime_ns)


def _open_source(src: Path, root: Path | None, rel: Path | None) -> int:
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    flags |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        return open_beneath(root, rel, flags) if rel is not None else os.open(src, flags)
    except LinkOnTheWay:
        raise PermanentError("symlink_refused", f"a folder on the way to {src} is a symbolic "
                             "link") from None
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK):            # O_NOFOLLOW met a symlink
            raise PermanentError("symlink_refused", f"{src} is a symbolic link") from None
        raise _source_error(e, src) from None


def _lstat(src: Path) -> os.stat_result:
    try:
        return os.lstat(src)
    except OSError as e:
        raise _source_error(e, src) from None


def _refuse_non_regular(st: os.stat_result, src: Path) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise PermanentError("symlink_refused", f"{src} is a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise PermanentError("not_a_regular_file", f"{src} is not a regular file")


def _copy_and_hash(f: BinaryIO, out: BinaryIO, src: Path, limit: int) -> tuple[str, bytes, int]:
    """Stream ``f`` into ``out``; returns (sha256 hex, first bytes, byte count)."""
    hasher = hashlib.sha256()
    head = b""
    copied = 0
    while True:
        try:
            chunk = f.read(CHUNK)
        except OSError as e:
            raise _source_error(e, src) from None
        if not chunk:
            break
        copied += len(chunk)
        if copied > limit:
            # It grew past the limit while we read it: still being written.
            raise TransientError("file_changed", "the file grew while it was being read")
        hasher.update(chunk)
        if len(head) < HEAD:
            head += chunk[: HEAD - len(head)]
        out.write(chunk)
    return hasher.hexdigest(), head, copied


def _check_unchanged(src: Path, before: os.stat_result, after: os.stat_result, copied: int,
                     identity=None) -> None:  # noqa: ANN001
    """The copy is a consistent snapshot only if nothing wrote to the file while we read it and
    the name still points at the same file (an editor's atomic save replaces the inode; a folder
    on the way swapped for a link points it elsewhere: ``identity`` walks beneath the inbox)."""
    changed = (
        (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
        or copied != before.st_size
    )
    if not changed and identity is not None:
        changed = identity() != (before.st_dev, before.st_ino)
    elif not changed:
        try:
            now = os.lstat(src)
            changed = (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino)
        except FileNotFoundError:
            changed = True
    if changed:
        raise TransientError("file_changed", f"{src.name} changed while it was being read")


def _publish(tmp: Path, final: Path, size: int, archive_dir: Path) -> None:
    """Move the fsynced temp file to its content address and make the rename durable."""
    try:
        created = makedirs(final.parent)
        try:
            existing = final.stat().st_size
        except FileNotFoundError:
            existing = None
        # Same name means same sha256, so an existing entry already holds these bytes; only a
        # wrong size (disk damage, a hand edit) is worth replacing.
        if existing != size:
            os.replace(tmp, final)
        # Always, even for an existing entry: whoever renamed it there may have crashed before
        # its own directory fsync, and the caller is about to commit a row that points at it.
        for folder in [final.parent, *created]:
            fsync_dir(folder)
    except OSError as e:
        raise _archive_error(e, archive_dir) from None


def _temp_path(archive_dir: Path) -> Path:
    return archive_dir / f"{TEMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}-{os.urandom(4).hex()}"


def remove_stale_temps(archive_dir: str | os.PathLike[str], older_than: float = 3600) -> int:
    """Remove the temp files a crash left in the archive root; returns how many. Safe at startup:
    a temp file is never referenced by anything."""
    removed = 0
    cutoff = time.time() - older_than
    try:
        entries = list(os.scandir(archive_dir))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.name.startswith(TEMP_PREFIX) and entry.is_file(follow_symlinks=False):
            try:
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                pass
    return removed


def _source_error(e: OSError, src: Path) -> Exception:
    if isinstance(e, FileNotFoundError):
        # Renamed or deleted since the scan: the next scan finds it under its new name, if any.
        return TransientError("file_vanished", f"{src} disappeared before it could be read")
    if isinstance(e, PermissionError):
        return PermanentError("permission_denied", f"cannot read {src}: permission denied")
    return TransientError("read_error", f"cannot read {src}: {e.strerror or e}")


def _archive_error(e: OSError, archive_dir: Path) -> Exception:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return WaitingError("disk_full", f"no space left to archive into {archive_dir}")
    return TransientError("archive_write_failed", f"cannot write to {archive_dir}: {e.strerror or e}")


# --- done folder ------------------------------------------------------------------------------


def move_to_done(
    src: str | os.PathLike[str],
    inbox_dir: str | os.PathLike[str],
    done_dir: str | os.PathLike[str],
    *,
    expected_size: int | None = None,
    expected_mtime_ns: int | None = None,
) -> Path | None:
    """Move a processed file to ``done_dir``, keeping its path relative to the inbox. Call it
    only once the result's commit is durable.

    Never overwrites: a taken name gets " (1)", " (2)"... before the extension. Returns the new
    path, or None if the file was left alone: it is gone, is not a regular file, or no longer
    matches ``expected_size``/``expected_mtime_ns`` (the user saved a new version after ingest;
    moving it would hide that version from the next scan).
    """
    src, inbox_dir, done_dir = Path(src), Path(inbox_dir), Path(done_dir)
    relative = src.absolute().relative_to(inbox_dir.absolute())    # ValueError if outside
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if expected_size is not None and st.st_size != expected_size:
        return None
    if expected_mtime_ns is not None and st.st_mtime_ns != expected_mtime_ns:
        return None
    target = done_dir / relative
    created = makedirs(target.parent)
    for candidate in _numbered(target):
        try:
            # link + unlink rather than rename: rename silently overwrites, link refuses.
            os.link(src, candidate, follow_symlinks=False)
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno not in (errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EMLINK):
                raise
            if not _copy_exclusive(src, candidate):
                continue
        for folder in [candidate.parent, *created]:
            fsync_dir(folder)
        if _identity(src) != _identity_of(st):
            return candidate     # replaced by a new version meanwhile: leave that one for a scan
        os.unlink(src)           # only now: the done copy is durable under its new name
        fsync_dir(src.parent)
        return candidate
    raise FileExistsError(f"no free name for {target} in {done_dir}")


def _identity(path: Path) -> tuple[int, ...] | None:
    try:
        return _identity_of(os.lstat(path))
    except FileNotFoundError:
        return None


def _identity_of(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _numbered(target: Path, limit: int = 10_000):
    yield target
    for n in range(1, limit):
        yield target.with_name(f"{target.stem} ({n}){target.suffix}")


def _copy_exclusive(src: Path, dest: Path) -> bool:
    """Copy across filesystems (or onto one without hard links) without overwriting. A crash
    midway leaves a partial copy in done/ but the original still in the inbox."""
    try:
        out = open(dest, "xb")
    except FileExistsError:
        return False
    try:
        with out, open(src, "rb") as f:
            shutil.copyfileobj(f, out, CHUNK)
            out.flush()
            os.fsync(out.fileno())
        shutil.copystat(src, dest)
    except BaseException:
        dest.unlink(missing_ok=True)     # ours, half-written; the original is still in the inbox
        raise
    return True
