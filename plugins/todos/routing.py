"""How surely a file is a to-do note, for the inbox router (``Task.router_fit``)."""

from __future__ import annotations

from mustelid import Evidence

from .context import is_todo_list

ITEMS = 2       # a list, not one line that mentions "todo"


def todo_fit(evidence: Evidence) -> float:
    """Sure when the note calls itself a to-do list (a TODO title, file name or heading, as
    ``context.is_todo_list`` reads it) and holds items; a few task-like lines alone are
    common on screens and receipts too."""
    lines = evidence.data.get("lines", [])
    if is_todo_list(lines) and len(evidence.data.get("quotes", [])) >= ITEMS:
        return 0.95
    return 0.4 if evidence.data.get("quotes") else 0.1
