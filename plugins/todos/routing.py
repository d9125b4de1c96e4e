"""How surely a file is a to-do note, for the inbox router (``Task.router_fit``)."""

from __future__ import annotations

from mustelid import Evidence

from .context import is_todo_list

ITEMS = 2       # a list, not one line that mentions "todo"
LISTED = 3      # without a name, a list of at least this many task-like lines...
SHARE = 0.35    # ...making up this much of the text. On screens-dev (38 real screens) no
                # screen with three such lines came above 0.28; notes that are lists, 0.37-0.71.


def todo_fit(evidence: Evidence) -> float:
    """Sure when the note calls itself a to-do list (``context.names_todo_list``, the name the
    task reads too) and holds items; likely when most of it is a list of tasks; a few
    task-like lines alone are common on screens and receipts too."""
    lines = evidence.data.get("lines", [])
    # A note the note model set aside is still a note (a changelog, a README): its lines that
    # read like tasks say so, though none of them is reviewed.
    quotes = evidence.data.get("quotes") or (evidence.data.get("note") or {}).get("set_aside", [])
    if len(quotes) >= ITEMS and is_todo_list(lines):
        return 0.95
    if len(quotes) >= LISTED and len(quotes) >= SHARE * len(lines):
        return 0.75
    return 0.4 if quotes else 0.1
