"""Named crash points: ``crash_point(name)`` SIGKILLs this process when ``MUSTELID_CRASH_AT``
names that point.

Why this lives in product code: a test that kills the daemon from outside lands at a random
moment, so the few places where a crash is most dangerous (between hashing and the archive copy,
between the copy and its row, between the claim and the hand-over, between the model's answer and
its commit, between two migrations) would only be hit by luck. SQLite ships test hooks for the
same reason. When the variable is unset a call costs one dict lookup; SIGKILL (not an
exception) so no ``finally``, ``atexit`` or signal handler gets to tidy up, as in a real crash.

Points: ``after_hash``, ``after_archive_copy`` (daemon/archive.py), ``after_claim``
(daemon/runner.py), ``before_commit`` (daemon/commit.py), ``between_migrations`` and
``migration_uncommitted`` (store/migrations.py).
"""

from __future__ import annotations

import os
import signal

ENV = "MUSTELID_CRASH_AT"
POINTS = ("after_hash", "after_archive_copy", "after_claim", "before_commit",
          "between_migrations", "migration_uncommitted")


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
