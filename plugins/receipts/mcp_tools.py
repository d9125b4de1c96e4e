"""``mustelid mcp``: the ``expenses`` tool, the rows ``mustelid expenses --json`` lists (added
through register_mcp_tools)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from mustelid import hookimpl

from .cli import expense_rows

# Expenses are dated by the receipt's day, so the window is days, both ends included.
Since = Annotated[str | None, Field(description="Only receipts dated this day or later: "
                                                "YYYY-MM-DD.")]
Until = Annotated[str | None, Field(description="Only receipts dated this day or earlier: "
                                                "YYYY-MM-DD.")]


@hookimpl
def register_mcp_tools(tools):
    @tools.tool("expenses", "Expenses recorded from receipts, newest receipt date first: "
                "merchant, date, total, currency, category, line items and the file, the latest "
                "version of each receipt. A receipt held for a person's review is listed with "
                'check = "review" (not counted yet). The same rows as `mustelid expenses --json`.')
    def expenses(since: Since = None, until: Until = None,
                 limit: Annotated[int, Field(description="At most this many.")] = 50,
                 ) -> dict[str, Any]:
        listing = tools.listing(since, until, limit)
        with tools.read_db() as db:
            rows = expense_rows(db, listing.since_day, False, listing.limit,
                                until=listing.until_day)
        for row in rows:            # as `mustelid expenses --json` shows them
            row["items"] = json.loads(row["items"] or "[]")
            row["provenance"] = json.loads(row["provenance"] or "{}")
        return {"expenses": rows}
