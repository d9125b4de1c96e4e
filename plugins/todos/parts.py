"""A note longer than one review (a project's whole TODO file): read in parts.

The model reviews at most ``MAX_LINES`` lines and ``MAX_CANDIDATES`` items in one call, and it
did that for the first 40 lines of any note: the rest of a long TODO file was never read. Now
each part of at most ``MAX_LINES`` lines is reviewed alone (``Evidence.parts``; the host answers
them in turn) and the todos of all parts are joined. What the note says as a whole (a changelog,
a to-do list's heading, its done section) is read from all of it before it is cut.
"""

from __future__ import annotations

from .lines import MAX_LINES, MAX_PARTS, Line, heading, list_marked
from .output import MAX_CANDIDATES


def spans(layout: list[Line], starts: list[int], size: int = MAX_LINES,
          most: int = MAX_CANDIDATES) -> list[tuple[int, int]]:
    """Where a long note is cut: ``(start, end)`` of each part, at most ``MAX_PARTS``, so that
    a part holds at most ``size`` lines and ``most`` of the items that may be tasks (``starts``:
    their first lines, in order). A part ends where its ``most + 1``-th item starts; else, when
    the rest is too long, before the last line in its second half that starts an item (after a
    blank line, at a list mark or a heading), so that an item and its wrapped lines stay in one
    part, and at ``size`` lines only where no item starts there."""
    found: list[tuple[int, int]] = []
    start = 0
    while len(found) < MAX_PARTS:
        inside = [i for i in starts if i >= start]
        if len(inside) > most and inside[most] < start + size:
            end = inside[most]
        elif len(layout) - start <= size or len(found) == MAX_PARTS - 1:
            end = min(len(layout), start + size)
        else:
            end = start + size
            end = next((i for i in range(end, start + size // 2, -1) if _opens(layout[i])), end)
        found.append((start, end))
        if end == len(layout):
            break
        start = end
    return found


def _opens(line: Line) -> bool:
    return not line.piece and (line.after_gap or list_marked(line.text)
                               or heading(line.text) is not None)


def shifted(indexes: set[int], start: int, end: int) -> set[int]:
    """Line indexes of the whole note that fall in ``[start, end)``, counted from ``start``."""
    return {i - start for i in indexes if start <= i < end}
