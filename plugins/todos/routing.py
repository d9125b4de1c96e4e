"""How surely a file is a to-do note, for the inbox router (``Task.router_fit``)."""

from __future__ import annotations

import re

from mustelid import Evidence

from .context import is_todo_list

ITEMS = 2       # a list, not one line that mentions "todo"
LISTED = 3      # without a name, a list of at least this many task-like lines...
SHARE = 0.35    # ...making up this much of the text. On screens-dev (38 real screens) no
                # screen with three such lines came above 0.28; notes that are lists, 0.37-0.71.
# A to-do list names itself in its own heading ("Things to do:", "To-do list") or in its file
# name as an editor's title bar shows it ("todo.txt", "~/notes/idle-todo.md"), in any case.
_HEADING = re.compile(r"(?i)^\W*(?:things\s+)?to[\s-]?dos?(?:\s+list)?\s*:?\W*$")
_FILE = re.compile(r"(?i)(?:^|[\s/\\(\[])[\w.-]*\bto-?do(?:s|-?list)?\b[\w.-]*\."
                   r"(?:txt|md|markdown|org|rst|text|todo)\b")


def names_itself_a_todo_list(lines: list[str]) -> bool:
    return is_todo_list(lines) or any(_HEADING.match(l) or _FILE.search(l) for l in lines)


def todo_fit(evidence: Evidence) -> float:
    """Sure when the note calls itself a to-do list and holds items; likely when most of it
    is a list of tasks; a few task-like lines alone are common on screens and receipts too."""
    lines = evidence.data.get("lines", [])
    quotes = evidence.data.get("quotes", [])
    if len(quotes) >= ITEMS and names_itself_a_todo_list(lines):
        return 0.95
    if len(quotes) >= LISTED and len(quotes) >= SHARE * len(lines):
        return 0.75
    return 0.4 if quotes else 0.1
