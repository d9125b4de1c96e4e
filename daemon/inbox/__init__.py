"""The inbox: which files to ignore, when a file is fully written, what is there, and a watcher.

The scan is the truth and the watcher is only a hint: inotify drops events under load (a burst
of 20,000 files delivered about half of them) and ``created`` fires while a file is still being
written. So the daemon scans at startup and periodically, feeds every file's (size, mtime) to a
``StabilityTracker``, and ingests only files that held still. Watcher events just make it look
sooner.

- ``ignore``: ``is_ignored``, the junk and partial-download rules;
- ``settle``: ``StabilityTracker``, when a file held still;
- ``scan``: ``scan`` and the ``Candidate`` entries it yields;
- ``watch``: ``InboxWatcher``, the hints.
"""

from __future__ import annotations

from mustelid.inbox.ignore import IGNORED, IGNORED_NAMES, is_ignored
from mustelid.inbox.scan import Candidate, printable_path, scan, storable_name
from mustelid.inbox.settle import StabilityTracker
from mustelid.inbox.watch import InboxWatcher

__all__ = [
    "IGNORED", "IGNORED_NAMES", "Candidate", "InboxWatcher", "StabilityTracker", "is_ignored",
    "printable_path", "scan", "storable_name",
]
