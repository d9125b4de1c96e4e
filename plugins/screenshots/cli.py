"""`mustelid screenshots`: list and search described screenshots (via register_commands)."""

from __future__ import annotations

import json
from typing import Any

import click

from mustelid import hookimpl
from mustelid.cli import Listing, State, listing_options, pass_state
from mustelid.records import input_file, select

COLUMNS = ["kind", "title", "summary", "file", "job_id"]


@hookimpl
def register_commands(cli):
    @cli.command()
    @click.option("--search", "query", metavar="TEXT",
                  help="Full-text search over title, summary and key text (best match first).")
    @click.option("--kind", help="Only this kind (chat, email, error_dialog, web_page, ...).")
    @listing_options(default_limit=100, what="screenshots")
    @pass_state
    def screenshots(state: State, query: str | None, kind: str | None, listing: Listing):
        """Screenshots described so far, newest first (or best match with --search;
        --since/--until: when the screenshot was filed)."""
        rows = list_screenshots(state.db, query=query, kind=kind, limit=-1)
        rows = [r for r in rows if listing.within(r.get("created"))][:listing.limit]
        if listing.as_json:
            for row in rows:
                row["key_text"] = row["key_text"].splitlines() if row["key_text"] else []
                row["entities"] = json.loads(row["entities"] or "[]")
                row["regions"] = json.loads(row["regions"] or "[]")
        listing.emit(rows, COLUMNS, title="screenshots", state=state, id_key="job_id")


def list_screenshots(db: Any, query: str | None = None, kind: str | None = None,
                     limit: int = 100) -> list[dict]:
    """Rows of the screenshots table with the original file name added; ``query`` searches the
    FTS index (each word must match; FTS operators are quoted away so any text is safe)."""
    # Function-local: mustelid.records loads sqlite-utils, which loads numpy, and
    # `mustelid --help` imports this module.

    if query:
        rows = _search(db, query, kind, limit)
    else:
        rows = select(db, "screenshots", {"kind": kind} if kind else None, order_by=["-id"],
                      limit=limit)
    for row in rows:
        file = input_file(db, row["file_sha256"]) if row["file_sha256"] else None
        row["file"] = file["original_name"] if file else None
    return rows


def _search(db: Any, query: str, kind: str | None, limit: int) -> list[dict]:
    """Best match first. The kind is filtered here, before the limit, as a WHERE clause would."""
    table = db["screenshots"]
    if not table.exists():
        return []
    rows = [row for row in table.search(query, quote=True) if not kind or row["kind"] == kind]
    return rows if limit < 0 else rows[:limit]      # a negative limit is none, as in SQL
