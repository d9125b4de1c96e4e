"""OCR lines laid out as the text file they show: rows, indentation and blank lines.

A note's structure is in its layout: an item's wrapped lines are indented under it, items are
separated by blank lines, and an editor prints line numbers in a gutter. One OCR box per line
loses all three, so an item's second line reads as a new item and a gutter number as a line of
its own; and a picture wraps a long line where its file did not. ``laid_out_text`` gives back
what a text file of the same note would hold, so that a task reads a picture of a note the way
it reads the note's file.
"""

from __future__ import annotations

import re
from typing import Any
from statistics import median

from mustelid.ocr import OcrLine, row_groups

# The sign put where a list mark was seen but not read (see ``_lost_marks``).
LOST_MARK = "•"

_NUMBER = re.compile(r"\d{1,5}")


def laid_out_text(lines: list[OcrLine], image: Any = None) -> list[str]:
    """One string per OCR line in reading order, indented by its offset from the text's left
    edge in character widths, a blank string where the page leaves a line free, an editor's
    line-number gutter dropped. Lines of one row stay apart: beside each other they are often
    different panes (a sidebar, a list beside a log), not one sentence. A row the page had no
    room to finish goes on the next (a note's width, a window's soft wrap): that next row is
    joined back onto it (``_wraps_onto``), so a long item is one line as in its file. With the
    page's pixels (``image``, a Pillow image the boxes belong to), a list mark the OCR left out
    is put back."""
    rows = row_groups([line for line in lines if line.text.strip()])
    if not rows:
        return []
    width = _char_width([line for row in rows for line in row])
    gutter = _gutter(rows, width)
    # Digits the OCR missed in a gutter it found (often the one-digit numbers) are no marks.
    gutter_edge = max((l.box[2] for row in rows for l in row if id(l) in gutter), default=-1)
    rows = _unglued(rows, gutter, gutter_edge)
    rows = [[line for line in row if id(line) not in gutter] for row in rows]
    kept = [line for row in rows for line in row]
    if not kept:
        return []
    height = median(line.box[3] - line.box[1] for line in kept)
    marks = _lost_marks(kept, image, width, gutter_edge) if image is not None else {}
    lefts = {id(line): marks.get(id(line), line.box[0]) for line in kept}
    indents = _indents(list(lefts.values()), width)
    edge = _wrap_edge(rows, width)
    out: list[str] = []
    last_centre: float | None = None
    wrapped_from: OcrLine | None = None     # the last row, when it was one line
    for row in rows:
        if not row:                 # a gutter number alone: the editor's blank line
            if out and out[-1]:
                out.append("")
            wrapped_from = None
            continue
        centre = sum((line.box[1] + line.box[3]) / 2 for line in row) / len(row)
        # Rows of one paragraph sit about one box height apart (0.95-1.3 box heights in the
        # pager, editor, paper and sticky pictures of notes-tune-images); a free line doubles it.
        if last_centre is not None and centre - last_centre > 1.7 * height and out and out[-1]:
            out.append("")
            wrapped_from = None
        last_centre = centre
        one = row[0] if len(row) == 1 else None
        if one is not None and id(one) not in marks and wrapped_from is not None \
                and edge is not None and _wraps_onto(wrapped_from, one, edge, width) \
                and len(out[-1]) + 1 + len(one.text) <= LONGEST_LINE:
            out[-1] += " " + one.text       # the rest of a line the page had no room for
            wrapped_from = one
            continue
        wrapped_from = one
        out += [" " * indents[lefts[id(line)]] + (f"{LOST_MARK} " if id(line) in marks else "")
                + line.text for line in row]
    return out


# A row that opens a list item: a mark (OCR reads a handwritten dash as "=" too) or a number.
_OPENS_ITEM = re.compile(r"^\s*(?:[-–—•·*+=~>☐□■]\s|\(?\d{1,2}[.)]\s|\[[ xX]?\])")
# A break this many characters short of where the page is full still counts as the page's:
# handwriting and proportional fonts fill a line unevenly, and OCR drops or adds a character.
SLACK = 2
# The space between a list mark and its words, in character widths: a typed "- " leaves one,
# a hand leaves less than its average letter.
MARK_GAP = 0.5
WRAP_MIN_CHARS = 30     # a page that wraps is wider than a list of short entries (_wrap_edge)
# A file's lines are rarely longer than this: rows that would join into more are a paragraph,
# which its file breaks into lines too.
LONGEST_LINE = 100
# A line left open on a function word or a comma: what follows is the same phrase even when it
# starts with a capital ("... support for" / "Python 3").
_OPEN_END = re.compile(r"(?:^|\s)(?:a|an|the|of|to|for|in|on|at|by|with|from|and|or|but|that)$"
                       r"|[,&(/]$", re.I)
_ENDS_SENTENCE = re.compile(r"[.!?:;]['\")\]]*$")


def _wrap_edge(rows: list[list[OcrLine]], width: float) -> tuple[int, int] | None:
    """Where the page wraps its lines: the right edge in pixels and the length in characters
    of its fullest rows, or None when it does not wrap. A page whose lines run on is filled to
    about one width again and again (a note's, a window's, a pager's 80 columns); a list of
    short lines reaches its longest line once."""
    singles = [row[0] for row in rows if len(row) == 1]
    if not singles:
        return None
    edge, chars = max(l.box[2] for l in singles), max(len(l.text) for l in singles)
    full = sum(l.box[2] >= edge - 6 * width or len(l.text) >= chars - 6 for l in singles)
    # A list of short entries ("buy milk" / "call mom") is as long as its longest entry too,
    # and its rows end where they do on purpose: a page that wraps is wider than that.
    if chars < WRAP_MIN_CHARS or full < 3 or full < 0.2 * len(singles):
        return None
    return edge, chars


def _wraps_onto(prev: OcrLine, line: OcrLine, edge: tuple[int, int], width: float) -> bool:
    """Is ``line`` the rest of ``prev``, carried over because the page was full? Only if the
    first word of ``line`` would not have fitted after ``prev``, by the page's width or by its
    longest row's count of characters (a writer who breaks a line on purpose leaves room),
    ``line`` opens no list item, and no sentence ends before it; a capital after the break
    only carries on a phrase left open ("... to" / "Python")."""
    first = next(iter(line.text.split()), "")
    right, chars = edge
    fits = prev.box[2] + (len(first) + SLACK) * width <= right \
        and len(prev.text) + 1 + len(first) + SLACK <= chars
    if fits or _OPENS_ITEM.match(line.text) or _ENDS_SENTENCE.search(prev.text):
        return False
    return not line.text.lstrip()[:1].isupper() or bool(_OPEN_END.search(prev.text))


def _char_width(lines: list[OcrLine]) -> float:
    """The median width of one character, from boxes long enough to average out their padding."""
    widths = [(l.box[2] - l.box[0]) / len(l.text) for l in lines if len(l.text) >= 4]
    return max(1.0, median(widths)) if widths else 8.0


def _gutter(rows: list[list[OcrLine]], width: float) -> set[int]:
    """The ids of an editor's line numbers: bare numbers in one column (right edges within three
    characters), at most one a row, that mostly count up down the page. A bare number in the
    text (a quantity, a year) is not in such a column."""
    numbers = sorted(((line.box[2], y, line) for y, row in enumerate(rows) for line in row
                      if _NUMBER.fullmatch(line.text)), key=lambda e: e[:2])
    columns: list[list[tuple[int, int, OcrLine]]] = []
    for entry in numbers:           # single linkage on the right edge
        if columns and entry[0] - columns[-1][-1][0] <= 1.5 * width:
            columns[-1].append(entry)
        else:
            columns.append([entry])
    best = max(columns, key=len, default=[])
    if len(best) < 3 or best[-1][0] - best[0][0] > 3 * width:
        return set()
    by_row = sorted(best, key=lambda e: e[1])
    if len({e[1] for e in by_row}) < len(by_row):
        return set()
    values = [int(e[2].text) for e in by_row]
    if sum(b > a for a, b in zip(values, values[1:])) < 0.8 * (len(values) - 1):
        return set()
    return {id(e[2]) for e in by_row}


# A gutter's number read in one box with its line's text ("117# TODO: ...", "119def lmap(", with a
# space: "12 # ToD0: ...").
_GLUED = re.compile(r"(\d{1,5}) ?(?=[^\d\s.,])")


def _unglued(rows: list[list[OcrLine]], gutter: set[int], edge: int) -> list[list[OcrLine]]:
    """Rows whose first box starts with the gutter's number glued to the line's text (the
    detector saw no gap where the editor left little), that number taken off: it starts in the
    gutter's column and counts between the numbers read alone above and below it. Its box's left
    edge moves by the digits' share of the box, so the line keeps its indentation."""
    values = {y: int(line.text) for y, row in enumerate(rows) for line in row if id(line) in gutter}
    if not values:
        return rows
    out = []
    for y, row in enumerate(rows):
        first = min(row, key=lambda line: line.box[0], default=None)
        glued = _GLUED.match(first.text) if first is not None and y not in values \
            and first.box[0] < edge else None
        if glued and _counts_between(values, y, int(glued.group(1))):
            x0, y0, x1, y1 = first.box
            shift = round((x1 - x0) * glued.end() / len(first.text))
            first_out = OcrLine(first.text[glued.end():], (x0 + shift, y0, x1, y1), first.score)
            row = [first_out if line is first else line for line in row]
        out.append(row)
    return out


def _counts_between(values: dict[int, int], y: int, number: int) -> bool:
    """Does ``number`` on row ``y`` count between the gutter's numbers on the nearest rows above
    and below it (``values``: row -> number; one side may have none, at the page's top or end)?"""
    above = max((k for k in values if k < y), default=None)
    below = min((k for k in values if k > y), default=None)
    return (above is None or values[above] < number) and (below is None or number < values[below])


def _indents(lefts: list[int], width: float) -> dict[int, int]:
    """Each row's left edge -> its indentation in characters. Edges closer than most of a
    character belong to one column (single linkage), so a photo turned by a degree or two, whose
    edges drift a little from row to row, keeps its rows at one level."""
    if not lefts:
        return {}
    ordered = sorted(set(lefts))
    start = {ordered[0]: ordered[0]}
    for a, b in zip(ordered, ordered[1:]):
        start[b] = start[a] if b - a <= 0.75 * width else b
    base = ordered[0]
    return {x: round((start[x] - base) / width) for x in ordered}


def _lost_marks(lines: list[OcrLine], image: Any, width: float, gutter_edge: int) -> dict[int, int]:
    """Lines whose list mark the OCR dropped -> where the mark starts. A text detector often
    leaves out a lone "-" or "*" a space before the words (on editor and pager captures about
    half the marks of a list), and the item then reads as a line of prose. The mark is still in
    the pixels: one small glyph just left of the box, with nothing else there. A mark is lower
    than the line's letters ("-", "*", "+", "•", "o", ">"); a digit or a capital, which fills
    the line's height, is text the OCR missed, not a mark."""
    import numpy as np

    gray = np.asarray(image.convert("L"), dtype=np.int16)
    found: dict[int, int] = {}
    for line in lines:
        x0, y0, x1, y1 = line.box
        h = y1 - y0
        # From a little over two characters left of the box into its first letters: the
        # detector pads a box by about a quarter of its height, so a lost mark may sit just
        # inside it, left of the first letter.
        left = int(x0 - 2.2 * width)
        if left < 0 or h < 4 or _covered(line, lines, left, y0 + h // 4, y1 - h // 4):
            continue
        strip = gray[y0:y1, left:min(x1, x0 + h)]
        if strip.size == 0:                      # a box at or past the page's edge
            continue
        ink = np.abs(strip - np.median(strip)) > 80
        # Ink of a line above or below whose box reaches into this one's (tall handwriting) is
        # that line's; a column inked the whole line down is a rule (a notebook's margin, a
        # pane's border), not a glyph: no mark fills the line's height.
        right = left + strip.shape[1]
        for other in lines:
            if other is not line and other.box[0] < right and other.box[2] > left \
                    and other.box[1] < y1 and other.box[3] > y0 \
                    and not y0 <= (other.box[1] + other.box[3]) / 2 <= y1:   # another row's
                ink[max(other.box[1], y0) - y0:min(other.box[3], y1) - y0,
                    max(other.box[0], left) - left:min(other.box[2], right) - left] = False
        ink[:, ink.mean(axis=0) > 0.8] = False
        runs = [r for r in _runs(ink.any(axis=0)) if left + r[1] > gutter_edge]
        # The mark: the first glyph, starting left of the box, nothing left of it up to the
        # strip's edge, a space's width before the words.
        if len(runs) < 2 or runs[0][0] == 0 or left + runs[0][0] >= x0:
            continue
        (start, end), following = runs[0], runs[1][0]
        rows = np.flatnonzero(ink[:, start:end + 1].any(axis=1))
        if (end - start <= 1.5 * width and following - end >= MARK_GAP * width
                and rows[-1] - rows[0] < 0.55 * h):
            found[id(line)] = left + start
    # A list has several items whose marks line up; a lone glyph beside one line is more often
    # a stroke of handwriting or a letter the OCR lost.
    return {k: x for k, x in found.items()
            if sum(abs(x - other) <= width for other in found.values()) >= 2}


def _covered(line: OcrLine, lines: list[OcrLine], left: int, top: int, bottom: int) -> bool:
    """Another OCR box reaches into the strip left of ``line``."""
    return any(o is not line and o.box[2] > left and o.box[0] < line.box[0]
               and o.box[1] < bottom and o.box[3] > top for o in lines)


def _runs(columns: Any) -> list[tuple[int, int]]:
    """(first, last) index of each run of true values."""
    runs: list[tuple[int, int]] = []
    for i, on in enumerate(columns):
        if on and runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        elif on:
            runs.append((i, i))
    return runs
