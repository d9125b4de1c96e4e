"""Full-text search over every stored result (the ``results_fts`` index, migrations m006, m009).

The index has two columns per result, whatever the task: ``answer``, the string values of the
result's JSON, and ``source``, the text of the input it was read from (the OCR text of a receipt
or screenshot, the lines of a note). A task's own FTS tables may exist beside it, but this is the
one search that spans them all.
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
# bm25 weight of a match in the answer against one in the input's text: a word the model picked
# out (the merchant, the title) says more about a result than a word somewhere on the page.
ANSWER_WEIGHT, SOURCE_WEIGHT = 2.0, 1.0
# Where FTS5's snippet() marks a match: private-use characters, which no OCR line or answer
# holds, so the marks can be told from the text and the snippet handed on without them.
_OPEN, _CLOSE = "\ue000", "\ue001"


class SearchError(ValueError):
    """The query is not valid FTS5 syntax (only with ``raw=True``)."""


def search(
    db: sqlite_utils.Database,
    query: str,
    *,
    task: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 20,
    raw: bool = False,
) -> list[dict[str, Any]]:
    """Best matches first (bm25): ``{"job_id", "task", "file", "snippet", "marks",
    "created_at"}`` per result. ``snippet`` is plain text around the best match, from the answer
    or the input's text, whichever matched better; ``marks`` are the ``[start, end)`` offsets
    of the matched words in it, for a caller that highlights them.

    ``query`` is plain words, each quoted so that ``-``, ``:`` or ``OR`` in it mean nothing
    special; ``raw=True`` passes FTS5 syntax through (``starbu*``, ``"exact phrase"``, ``NEAR``).
    ``task`` keeps results of that task, counting a result a dispatching task filed as another
    (``results.filed_as``: the inbox router's receipt is a ``receipts`` result too).
    ``since`` (inclusive) and ``until`` (exclusive) are ISO instants in UTC, compared with when
    the input was first seen, or, for a result without an input file, when it was stored.
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
    for bound, op in ((since, ">="), (until, "<")):
        if bound:
            where += f" AND COALESCE(f.first_seen, r.created_at) {op} ?"
            args.append(bound)
    sql = (
        "SELECT r.job_id, r.task, f.original_name AS file,"
        f" snippet(results_fts, -1, '{_OPEN}', '{_CLOSE}', '…', {SNIPPET_TOKENS}) AS snippet,"
        " r.created_at"
        " FROM results_fts JOIN results r ON r.id = results_fts.rowid"
        " LEFT JOIN files f ON f.sha256 = r.input_sha256"
        f" WHERE {where}"
        f" ORDER BY bm25(results_fts, {ANSWER_WEIGHT}, {SOURCE_WEIGHT}), r.id DESC LIMIT ?"
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
    rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
    for row in rows:
        row["snippet"], row["marks"] = unmark(row["snippet"] or "")
    return rows


def unmark(snippet: str) -> tuple[str, list[list[int]]]:
    """The snippet without its match marks, and the ``[start, end)`` offsets they enclosed."""
    text, marks, start = [], [], None
    length = 0
    for ch in snippet:
        if ch == _OPEN:
            start = length
        elif ch == _CLOSE:
            if start is not None:
                marks.append([start, length])
            start = None
        else:
            text.append(ch)
            length += 1
    return "".join(text), marks
