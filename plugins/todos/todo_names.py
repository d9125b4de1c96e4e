"""How a note names itself a to-do list: a title, a heading, a plan's heading, a file name."""

from __future__ import annotations

import re

# How a note names itself a to-do list. The task reads it to take a list's unmarked lines as
# items, the inbox router to be sure a file is a note: one recognizer, so both agree.
_TODO_NAMES = (
    # A title or tag: "TODO", "TOD0", "TODU" (OCR reads O as 0 or U), "ToDo", "To-do list:".
    re.compile(r"\bT[O0]-?D[O0U]S?\b|\bTo-?[Dd]os?\b(?:\s+list)?\s*(?::|$)|\bTo[Dd]o\b"),
    # A heading alone on its line, in any case: "Things to do:", "To do", "to-do list".
    re.compile(r"(?i)^\W*(?:things\s+)?to[\s-]?dos?(?:\s+list)?\s*:?\W*$"),
    # A plan's heading alone on its line: "Things for the short term", "Long-term goals:",
    # "Roadmap", "Future work", "Features to add".
    re.compile(r"(?i)^\W*(?:(?:things|tasks|work|goals|plans)\s+for\s+the\s+)?(?:short|long|longer"
               r"|near|medium)[\s-]term(?:\s+(?:goals|plans|tasks|items|work))?\s*:?\W*$"
               r"|^\W*(?:road\s?map|future\s+(?:plans|work|ideas))\s*:?\W*$"
               # "Features to add (not in any particular order)", "Things to implement:"
               r"|^\W*(?:features|things|ideas)\s+to\s+(?:add|implement|do)(?:\s*\([^)]*\))?\s*:?\W*$"),
    # A file name as an editor's title bar shows it ("~/notes/idle-todo.txt - Mousepad"),
    # not a word that only contains the letters ("autodoc.txt", "mastodon.txt").
    # A plan's file likewise ("less ROADMAP.md", "WISHLIST.txt").
    re.compile(r"(?i)(?:^|[\s/\\(\[])[\w.-]*\b(?:to-?do(?:s|-?list)?|road-?map|wish-?list)\b[\w.-]*\."
               r"(?:txt|md|markdown|org|rst|text|todo)\b"),
)


def names_todo_list(line: str) -> bool:
    """Does this line name a to-do list (a title, a heading, a file name)?"""
    return any(p.search(line) for p in _TODO_NAMES)


def is_todo_list(lines: list[str]) -> bool:
    return any(map(names_todo_list, lines))
