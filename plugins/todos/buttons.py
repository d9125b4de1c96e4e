"""A picture's button is no heading of its note.

A phone's notes app shows "< Notes" and "Done" on one bar above the note. Read as a line of its
own, "Done" opened a done section, and every item of the note under it was taken for finished
(notes-fresh21 and notes-fresh22: a phone note's whole list lost). A done heading heads what is
below it: in a list it stands alone on its row, in a board's columns ("To do  Done") items
follow below it in its column. A done word beside other text on its row, with nothing below
starting in its column, is a button, and is left out of the note's text.
"""

from __future__ import annotations

from statistics import median

from mustelid import OcrLine, row_groups

from .lines import DONE_HEADING, heading

# How far left of a column's heading its entries may start, in character widths (handwriting
# and OCR boxes wander).
COLUMN_SLACK = 2


def without_buttons(lines: list[OcrLine]) -> list[OcrLine]:
    """``lines`` less the done words that are buttons (see the module's docstring)."""
    kept = [line for line in lines if line.text.strip()]
    if not kept:
        return lines
    width = median((l.box[2] - l.box[0]) / max(1, len(l.text)) for l in kept)
    buttons = set()
    for row in row_groups(kept):
        if len(row) < 2:
            continue
        for box in row:
            found = heading(box.text)
            if found is None or not DONE_HEADING.match(found[1]):
                continue
            column = [l for l in kept if l.box[1] > box.box[3]
                      and l.box[0] >= box.box[0] - COLUMN_SLACK * width]
            if not column:
                buttons.add(id(box))
    return [line for line in lines if id(line) not in buttons]
