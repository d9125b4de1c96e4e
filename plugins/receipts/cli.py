"""`mustelid expenses`: the receipts task's own listing (added through register_commands)."""

from __future__ import annotations

import json
from typing import Any

import click

from mustelid import hookimpl
from mustelid.cli import Listing, State, emit_csv, listing_options, pass_state
from mustelid.records import (
    input_file,
    newest_per_input,
    select,
    versions_of,
    waiting_for_review,
)

COLUMNS = ["date", "merchant", "total", "currency", "category", "file", "check", "job_id"]
HISTORY_COLUMNS = ["date", "merchant", "total", "currency", "category", "file", "version",
                   "job_id"]


@hookimpl
def register_commands(cli):
    @cli.command()
    @listing_options(default_limit=200, what="expenses")
    @click.option("--history", is_flag=True,
                  help="Every result version (reprocess, review), not only the latest.")
    @pass_state
    def expenses(state: State, listing: Listing, history: bool):
        """Expenses recorded from receipts, newest first (the latest version of each receipt;
        --since/--until: the receipt's date)."""
        rows = expense_rows(state.db, listing.since_day, history, listing.limit,
                            until=listing.until_day)
        if listing.fmt == "csv":
            # items kept as JSON text; clean() escapes what files and models wrote (issue 13)
            emit_csv(rows, COLUMNS + ["items"])
            return
        if listing.as_json:
            for row in rows:
                row["items"] = json.loads(row["items"] or "[]")
                row["provenance"] = json.loads(row["provenance"] or "{}")
        if history:
            rows.sort(key=lambda r: (r["file_sha256"] or "", r["version"] or 0))
        listing.emit(rows, HISTORY_COLUMNS if history else COLUMNS, title="expenses",
                     state=state, id_key="job_id")


def expense_rows(db: Any, since: str | None, history: bool, limit: int,
                 until: str | None = None) -> list[dict[str, Any]]:
    """The ``expenses`` rows to list, newest date first, each with its result ``version`` and
    the original name of its ``file``."""
    rows: list[dict[str, Any]] = []
    if db["expenses"].exists():
        # An unset --since lists every row, undated ones too; a set one only dated rows.
        rows = select(db, "expenses", ranges={"date": (since, until and until + "\uffff")}
                      if since or until else None,
                      order_by=["-date", "-id"])
        versions = versions_of(db, "expenses")
        latest = newest_per_input(db, "expenses")
        for row in rows:
            row["version"] = versions.get(row["job_id"])
        if not history:
            # A reprocessed or corrected receipt has one row per version; show the newest.
            rows = [r for r in rows if r["job_id"] in latest]
        rows = rows[:limit]
    if not history:
        rows += doubtful_rows(db, since, until)
        rows.sort(key=lambda r: r["date"] or "", reverse=True)
    for row in rows:
        file = input_file(db, row["file_sha256"])
        row["file"] = file["original_name"] if file else None
        row.setdefault("check", None)       # filed; held ones say "review"
    return rows


def doubtful_rows(db: Any, since: str | None, until: str | None = None) -> list[dict[str, Any]]:
    """Receipts held for a person (not sure enough to file, or failing a check), as expense
    rows marked ``check = "review"``: not counted yet, but never out of sight."""
    out = []
    for held in waiting_for_review(db):
        data = held["data"] or {}
        if held["task"] != "receipts":     # routed from the inbox root: the router's answer
            if data.get("task") != "receipts" and data.get("kind") != "receipts":
                continue
            data = data.get("arguments") or {}
        day = data.get("date") or ""
        if not data.get("total") or (since and day < since) or (until and day[:10] > until):
            continue
        out.append({**{k: data.get(k) for k in ("merchant", "date", "total", "currency",
                                                 "category")},
                    "items": json.dumps(data.get("items") or []),
                    "provenance": json.dumps(data.get("provenance") or {}),
                    "job_id": held["job_id"], "file_sha256": held["input_sha256"],
                    "check": "review", "confidence": held["confidence"],
                    "reason": held["reason"]})
    return out
