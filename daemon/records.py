"""What a plugin may read from the database, without SQL of its own (public API).

Plugins own their tables but not the SQL: these functions are the store's answers to the
questions the built-in tasks ask, re-exported from ``mustelid``. Each takes a sqlite-utils
``Database`` (``ctx.read_db()`` in a task, ``state.db`` in a command).
"""

from __future__ import annotations

from typing import Any

# The store (and sqlite-utils, which loads numpy) is imported on first use, not here: every
# plugin imports this module, and `mustelid --help` loads every plugin.

__all__ = ["first", "select", "input_file", "job_and_result", "corrected_examples",
           "newest_per_input", "versions_of", "waiting_for_review", "add_foreign_keys"]


def select(db: Any, table: str, where: dict[str, Any] | None = None, **how: Any) -> list[dict]:
    """Rows of a table: ``where`` {column: value, None (IS NULL) or a list (IN)}, and
    ``ranges={column: (low, high)}``, ``order_by=["col", "-col"]``, ``limit=N``."""
    from mustelid.store import tables

    return tables.select(db, table, where, **how)


def first(db: Any, table: str, where: dict[str, Any]) -> dict[str, Any] | None:
    """The first row of ``table`` matching ``where`` (see ``select``), or None."""
    from mustelid.store import tables

    return tables.first(db, table, where)


def input_file(db: Any, sha256: str) -> dict[str, Any] | None:
    """The ``files`` row of an archived input: original name, mime, archived path, first seen."""
    from mustelid.store import files

    return files.get_file(db, sha256)


def job_and_result(db: Any, job_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """A job's row and its newest stored result (either None when missing)."""
    job = first(db, "jobs", {"id": job_id})
    results = select(db, "results", {"job_id": job_id}, order_by=["-version"], limit=1) \
        if job is not None else []
    return job, (results[0] if results else None)


def corrected_examples(db: Any, task: str, keys: list[str], limit: int = 1) -> list[dict]:
    """Results a person corrected whose ``Task.example_key`` is one of ``keys``, newest first."""
    from mustelid.store import reviews

    return reviews.examples(db, task, keys, limit)


def waiting_for_review(db: Any, task: str | None = None) -> list[dict[str, Any]]:
    """Answers held for a person (``mustelid review``), most doubtful first: job id, task,
    input, reason, problems, the held ``data`` and the task's ``confidence``."""
    from mustelid.store import reviews

    return reviews.pending(db, task, limit=10_000)


def newest_per_input(db: Any, table: str) -> set[str]:
    """Job ids of a task table's rows that hold the newest result version of their input."""
    from mustelid.store import reviews

    return reviews.newest_per_input(db, table)


def versions_of(db: Any, table: str) -> dict[str, int]:
    """job id -> the version number of its result, for the jobs with rows in ``table``."""
    from mustelid.store import reviews

    return reviews.versions_of(db, table)


def add_foreign_keys(db: Any, table: str, keys: dict[str, str],
                     on_delete: dict[str, str] | None = None) -> int:
    """For a plugin's migrations: give its table foreign keys (column -> ``"jobs.id"``,
    ``"files.sha256"``; ON DELETE RESTRICT unless ``on_delete`` says otherwise) by rebuilding
    it, rows, indexes and triggers kept. A row naming a missing job or file is set aside in
    ``broken_references`` (see ``mustelid.store.keys``); returns how many."""
    from mustelid.store import keys as store_keys

    return store_keys.add_foreign_keys(db, table, keys, on_delete)
