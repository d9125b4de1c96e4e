"""Making new names survive a power cut: a rename is only durable once its folder is fsynced."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(folder: Path) -> None:
    """fsync ``folder`` so the entries renamed or created in it are durable. Raises ``OSError``;
    does nothing on Windows, which cannot open a folder to fsync it."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def makedirs(folder: Path) -> list[Path]:
    """mkdir -p; returns the folders whose entries changed, to fsync them: a file renamed into a
    new folder is only durable once the new folder's own entry is."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
    return [p.parent for p in missing]
