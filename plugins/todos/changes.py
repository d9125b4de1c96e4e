"""A list that records changes: release notes without a heading that names them ("* GDB now
supports hardware watchpoints", "* DBX mode has been removed.", notes-fresh13's NEWS excerpt).
Read item by item, an entry among them told as an order ("* Remove support for building
against Python 2, ...") looks like a task; among entries most of which say what changed, it is
one more change.
"""

from __future__ import annotations

import re

from .lines import MADE, NOW, RECORD, Line, mark_shape, without_mark

_MIN_ITEMS = 3
# What a program does now, in the present ("GDB now supports ...", "now honours").
_NOW_DOES = re.compile(r"\bnow\s+[a-z]+s\b")


def _records(text: str) -> bool:
    words = without_mark(text)
    return bool(RECORD.match(words.lstrip("#*+>-–—:;.?! ")) or MADE.search(words)
                or NOW.search(words) or _NOW_DOES.search(words))


def change_lists(layout: list[Line]) -> set[int]:
    """Indexes of the entries (and their wrapped lines) of each list, by the shape of its
    mark, of at least three entries more than half of which record a change."""
    entries: dict[str, list[int]] = {}
    for i, line in enumerate(layout):
        if (shape := mark_shape(line.text)) is not None:
            entries.setdefault(shape, []).append(i)
    found: set[int] = set()
    for starts in entries.values():
        if len(starts) >= _MIN_ITEMS and sum(_records(layout[i].text) for i in starts) * 2 > len(starts):
            for i in starts:
                found.add(i)
                j = i + 1      # its wrapped lines: unmarked, deeper, no gap before them
                while j < len(layout) and not layout[j].after_gap \
                        and mark_shape(layout[j].text) is None and layout[j].indent > layout[i].indent:
                    found.add(j)
                    j += 1
    return found
