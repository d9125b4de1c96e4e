"""Full-text search over every stored result (the ``results_fts`` index, migration m006).

The index holds the string values of each result's JSON, whatever the task; a task's own FTS
tables may exist beside it, but this is the one search that spans them all.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlite_utils

SNIPPET_TOKENS = 12
# A query of thousands of words made FTS5 work in quadratic time (issue 13). Nobody searches
# for more than a few dozen words; the rest of a pasted paragraph is dropped, as said in README.
MAX_QUERY_WORDS = 32
MAX_QUERY_CHARS = 1000


class SearchError(ValueError):
    """The query is not valid FTS5 syntax (only with ``raw=True``)."""


def search(
    db: sqlite_utils.Database,
    query: str,
    *,
    task: str | None = None,
    limit: int = 20,
    raw: bool = False,
) -> list[dict[str, Any]]:
    """Best matches first: ``{"job_id", "task", "file", "snippet", "created_at"}`` per result.

    ``query`` is plain words, each quoted so that ``-``, ``:`` or ``OR`` in it mean nothing
    special; ``raw=True`` passes FTS5 syntax through (``starbu*``, ``"exact phrase"``, ``NEAR``).
    ``task`` keeps results of that task, counting a result a dispatching task filed as another
    (``results.filed_as``: the inbox router's receipt is a ``receipts`` result too).
    """
    if not db["results_fts"].exists():
        return []
    query = " ".join(query[:MAX_QUERY_CHARS].split()[:MAX_QUERY_WORDS])
    match = query if raw else db.quote_fts(query)
    if not match.strip():
        return []
    where, args = "results_fts MATCH ?", [match]
    if task:
        where += " AND (r.task = ? OR r.filed_as = ?)"
        args += [task, task]
    sql = (
        "SELECT r.job_id, r.task, f.original_name AS file,"
        f" snippet(results_fts, 0, '[', ']', '…', {SNIPPET_TOKENS}) AS snippet, r.created_at"
        " FROM results_fts JOIN results r ON r.id = results_fts.rowid"
        " LEFT JOIN files f ON f.sha256 = r.input_sha256"
        f" WHERE {where} ORDER BY results_fts.rank, r.id DESC LIMIT ?"
    )
    try:
        cursor = db.execute(sql, [*args, limit])
    except sqlite3.OperationalError as e:
        # FTS5 reports a bad query as an OperationalError ("fts5: syntax error near ...",
        # "unterminated string"); quoted words never are one, so only raw queries land here.
        if raw:
            raise SearchError(f"not a valid FTS5 query: {e}") from None
        raise
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]
