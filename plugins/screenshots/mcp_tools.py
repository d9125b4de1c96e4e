"""``mustelid mcp``: the ``screenshots`` tool, the rows ``mustelid screenshots --json`` lists
(added through register_mcp_tools)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field

from mustelid import hookimpl

from .cli import list_screenshots
from .output import Kind

When = Annotated[str | None, Field(
    description="When the screenshot was filed: YYYY-MM-DD or YYYY-MM-DDTHH:MM, local time.")]


@hookimpl
def register_mcp_tools(tools):
    @tools.tool("screenshots", "Screenshots described so far, newest first, or best match "
                "first with search: kind, title, summary, key text lines, entities (links, "
                "e-mail addresses, dates, amounts) and the file. The same rows as `mustelid "
                "screenshots --json`.")
    def screenshots(
        search: Annotated[str | None, Field(description=(
            "Words to find in the title, summary and key text (all must match)."))] = None,
        kind: Annotated[Kind | None, Field(description="Only screenshots of this kind.")] = None,
        since: When = None, until: When = None,
        limit: Annotated[int, Field(description="At most this many.")] = 20,
    ) -> dict[str, Any]:
        listing = tools.listing(since, until, limit)
        with tools.read_db() as db:
            rows = list_screenshots(db, query=search, kind=kind and kind.value, limit=-1)
        rows = [r for r in rows if listing.within(r.get("created"))][:listing.limit]
        for row in rows:            # as `mustelid screenshots --json` shows them
            row["key_text"] = row["key_text"].splitlines() if row["key_text"] else []
            row["entities"] = json.loads(row["entities"] or "[]")
            row["regions"] = json.loads(row["regions"] or "[]")
        return {"screenshots": rows}
