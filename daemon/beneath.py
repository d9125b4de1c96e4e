"""Opening a file beneath a folder without following a symbolic link on the way.

``O_NOFOLLOW`` guards only a path's last component: a subfolder of the inbox swapped for a
symlink while its file waits to settle would let the daemon archive (and index) a private file
from elsewhere on the disk (issue 13). Here every component is opened relative to the one
before it (``openat``) with ``O_NOFOLLOW``, so a symlink anywhere below ``root`` is refused;
``root`` itself is the user's choice and may be a link. Where the OS has no ``dir_fd``
support (Windows), the plain path is used.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
SUPPORTED = os.open in os.supports_dir_fd and bool(_NOFOLLOW)
# What openat(O_DIRECTORY | O_NOFOLLOW) says of a symlink: ELOOP (Linux), ENOTDIR or EMLINK.
_LINK_ERRNOS = {errno.ELOOP, errno.ENOTDIR, getattr(errno, "EMLINK", errno.ELOOP)}


class LinkOnTheWay(OSError):
    """A component of the path below the root is a symbolic link (or not a folder)."""


def open_beneath(root: Path, rel: Path, flags: int) -> int:
    """An fd for ``root / rel`` opened with ``flags`` (add ``O_NOFOLLOW`` yourself for the last
    component); ``LinkOnTheWay`` if a folder on the way is a symlink."""
    parts = Path(rel).parts
    if not SUPPORTED or not parts or Path(rel).is_absolute() or ".." in parts:
        return os.open(Path(root) / rel, flags)
    fd = os.open(root, _DIR)
    try:
        for part in parts[:-1]:
            try:
                following = os.open(part, _DIR | _NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno in _LINK_ERRNOS:
                    raise LinkOnTheWay(e.errno, f"{part} is not a folder of the inbox") from None
                raise
            os.close(fd)
            fd = following
        return os.open(parts[-1], flags, dir_fd=fd)
    finally:
        os.close(fd)


def identity_beneath(root: Path, rel: Path) -> tuple[int, int] | None:
    """(st_dev, st_ino) of what ``root / rel`` names now, walking as ``open_beneath`` does;
    None if it is gone or a link is on the way."""
    flags = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = open_beneath(root, rel, flags)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        return st.st_dev, st.st_ino
    finally:
        os.close(fd)
