"""How surely a file is a to-do note, for the inbox router (``Task.router_fit``)."""

from __future__ import annotations

import re

from mustelid import Evidence

from .context import is_todo_list

ITEMS = 2       # a list, not one line that mentions "todo"
# A to-do list names itself in its own heading ("Things to do:", "To-do list") or in its file
# name as an editor's title bar shows it ("todo.txt", "~/notes/idle-todo.md"), in any case.
_HEADING = re.compile(r"(?i)^\W*(?:things\s+)?to[\s-]?dos?(?:\s+list)?\s*:?\W*$")
_FILE = re.compile(r"(?i)(?:^|[\s/\\(\[])[\w.-]*\bto-?do(?:s|-?list)?\b[\w.-]*\."
                   r"(?:txt|md|markdown|org|rst|text|todo)\b")


def names_itself_a_todo_list(lines: list[str]) -> bool:
    return is_todo_list(lines) or any(_HEADING.match(l) or _FILE.search(l) for l in lines)


def todo_fit(evidence: Evidence) -> float:
    """Sure when the note calls itself a to-do list and holds items; a few task-like lines
    alone are common on screens and receipts too."""
    lines = evidence.data.get("lines", [])
    quotes = evidence.data.get("quotes", [])
    if len(quotes) >= ITEMS and names_itself_a_todo_list(lines):
        return 0.95
    return 0.4 if quotes else 0.1
