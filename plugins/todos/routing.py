"""How surely a file is a to-do note, for the inbox router (``Task.router_fit``)."""

from __future__ import annotations

from mustelid import Evidence

from .tags import tagged
from .todo_names import is_todo_list

ITEMS = 2       # a list, not one line that mentions "todo"
LISTED = 3      # without a name, a list of at least this many task-like lines...
SHARE = 0.35    # ...making up this much of the text. On screens-dev (38 real screens) no
                # screen with three such lines came above 0.28; notes that are lists, 0.37-0.71.
NOTE_LINES = 25  # a note's length: the labelled note pictures that are no display's size read
                 # as 1-23 lines, the screen captures that are not whole displays as 43-100.
NOTE_LIKE = 0.5  # the note model's P(to-dos) from which a short picture reads as a to-do note
NOTE_SHARE = 0.2  # ...with this share of its lines task-like: region crops of screens-dev's
                  # screens that passed the rest held 6-33 %, note pictures mostly 17-100 %.


def todo_fit(evidence: Evidence) -> float:
    """Sure when the note calls itself a to-do list (``todo_names.names_todo_list``, the name the
    task reads too) and holds items, or is a capture of a display showing a tagged to-do; likely
    when most of it is a list of tasks, or when it is a short picture that is no capture of a
    display (a photo or drawing of a note) and reads as a note with to-dos. A few task-like
    lines alone are common on screens and receipts too."""
    lines = evidence.data.get("lines", [])
    note = evidence.data.get("note") or {}
    # A note the note model set aside is still a note (a changelog, a README): its lines that
    # read like tasks say so, though none of them is reviewed.
    quotes = evidence.data.get("quotes") or note.get("set_aside", [])
    if len(quotes) >= ITEMS and is_todo_list(lines):
        return 0.95
    # A capture of a display whose items include one its author tagged ("TODO: ...", "FIXME"
    # in an editor or a pager): the tag is the writer's own mark of a to-do, which outweighs
    # the capture's form. On the labelled pictures this moved 10 of 40 captures of notes to
    # todos and 1 of 531 captures of screens (docs/EVAL.md, session 34).
    if evidence.data.get("display_capture") and any(tagged(q) for q in quotes):
        return 0.9
    if len(quotes) >= LISTED and len(quotes) >= SHARE * len(lines):
        return 0.75
    # A short picture that is no display capture: the note model's yes is enough (a
    # handwritten note's lines OCR joins or splits offer few items); too short for it to
    # judge, its task-like lines must say so.
    judged = note.get("has_todos") is not None
    if (judged or quotes and len(quotes) >= NOTE_SHARE * len(lines)) \
            and _note_picture(evidence, lines, note.get("has_todos")):
        return 0.75
    return 0.4 if quotes else 0.1


def _note_picture(evidence: Evidence, lines: list[str], p_todos: float | None) -> bool:
    """A picture of a note: not the size of a whole display (a screenshot is), a note's few
    lines, and no doubt from the note model (None: too short for it to judge). The router's
    model, asked instead, took 57 of 91 undecided note pictures for screenshots (session 25,
    docs/EVAL.md)."""
    return evidence.data.get("display_capture") is False and len(lines) <= NOTE_LINES \
        and (p_todos is None or p_todos >= NOTE_LIKE)
