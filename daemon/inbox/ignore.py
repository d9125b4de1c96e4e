"""Which inbox paths are never ours: OS and sync junk, partial downloads, the user's patterns."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from pathlib import PurePath, PurePosixPath

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
