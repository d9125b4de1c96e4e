"""mustelid.store: the only code that writes SQL. One SQLite file holds the job ledger, every
result, and each task's own tables (created by the tasks' migrations through sqlite-utils)."""

from mustelid.store.db import immediate, open_db
from mustelid.store.ledger import Ledger
from mustelid.store.migrations import migrate

__all__ = ["Ledger", "immediate", "migrate", "open_db"]
