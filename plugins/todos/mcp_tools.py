"""``mustelid mcp``: the ``todos`` tool, the rows ``mustelid todos --json`` lists (added through
register_mcp_tools)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from mustelid import hookimpl

from .cli import list_todos

When = Annotated[str | None, Field(
    description="When the todo was found: YYYY-MM-DD or YYYY-MM-DDTHH:MM, local time.")]


@hookimpl
def register_mcp_tools(tools):
    @tools.tool("todos", "Todos found in notes, whiteboards and screenshots: open ones first, "
                "soonest due first; each with its title, due day, priority, the line it was "
                "quoted from, a caution when the line needs a second look, and the file. The "
                "same rows as `mustelid todos --json`.")
    def todos(include_done: Annotated[bool, Field(description="Also the todos marked done.")]
              = False, since: When = None, until: When = None,
              limit: Annotated[int, Field(description="At most this many.")] = 50,
              ) -> dict[str, Any]:
        listing = tools.listing(since, until, limit)
        with tools.read_db() as db:
            rows = [r for r in list_todos(db, include_done=include_done)
                    if listing.within(r.get("created"))]
        return {"todos": rows[:listing.limit]}
