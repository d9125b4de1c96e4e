"""A list that records changes: release notes without a heading that names them ("* GDB now
supports hardware watchpoints", "* DBX mode has been removed.", notes-fresh13's NEWS excerpt).
Read item by item, an entry among them told as an order ("* Remove support for building
against Python 2, ...") looks like a task; among entries most of which say what changed, it is
one more change. So is an entry that states what the program does ("Word completion looks for
candidates in all open buffers."): a features list's. And so is a release history, newest
first (``release_history``).
"""

from __future__ import annotations

import re

from .lines import (MADE, NOW, RECORD, VERSION_ALONE, Line, asks, done_lines, mark_shape,
                    task_verb, without_mark)
from .todo_names import names_todo_list

# A release history kept as one line per release, newest first ("1.05  Bugfix: ...", "1.04  Add
# several functions ...": Perl's Changes files and many others): each entry records what a
# release did. Versions counting down tell it from a numbered outline ("2.1 Add ...", "2.2 ...").
_RELEASE_ENTRY = re.compile(r"^\s*v?(\d+(?:\.\d+)+)[a-z]?:?(?:\s+\S|\s*$)")

_MIN_ITEMS = 3
# A change told in the third person ("o adds agent forwarding support", "fixes ...") and a
# change credited to its author at the end ("- Fix building with -Wformat-security (Martin
# Pitt)"): a changelog's entries.
_TOLD = re.compile(r"^(?:adds|fixes|removes|updates|improves|changes|makes|drops|allows|"
                   r"enables|disables|introduces|implements|supports|(?:bug)?fix(?:es)? for)\b",
                   re.I)
# What a program does or is, stated ("Word completion looks for candidates in all open
# buffers.", "Colors can be given also in #rgb"): a features list's or a release note's entry,
# when it neither asks nor starts with an order.
_STATES = re.compile(r"\b(?:is|are|can|may|has|have|returns|contains|shows|works|looks|hides|"
                     r"uses|lets|gives)\b")
_CREDIT = re.compile(r"\((?:[A-Z][a-z]+\.?\s+){1,2}[A-Z][a-z]+\)\W*$")
# What a program does now, in the present ("GDB now supports ...", "now honours").
_NOW_DOES = re.compile(r"\bnow\s+[a-z]+s\b")


def _records(text: str) -> bool:
    words = without_mark(text)
    start = words.lstrip("#*+>-–—:;.?! ")
    first = start.split()[:1]
    states = bool(_STATES.search(start)) and not asks(start) \
        and not (first and task_verb(first[0]))
    return bool(RECORD.match(start) or MADE.search(words) or NOW.search(words) or states
                or _NOW_DOES.search(words) or _TOLD.match(start) or _CREDIT.search(words))


def change_lists(layout: list[Line]) -> set[int]:
    """Indexes of the entries (with their wrapped lines) of each list, by the shape of its
    mark, more than half of whose entries, and three at least, record a change or state what
    the program does, and fewer than half of which ask ("Run-time warnings should be added ..."
    under two deprecations: that list holds work to do; one "... where a breakpoint should be
    placed" among five release notes does not make them tasks)."""
    entries: dict[str, list[list[int]]] = {}
    shape = None
    for i, line in enumerate(layout):
        if (mark := mark_shape(line.text)) is not None:
            shape = mark
            entries.setdefault(mark, []).append([i])
        elif shape is not None and not line.after_gap and line.text.strip():
            entries[shape][-1].append(i)      # a wrapped line of the entry above
        else:
            shape = None
    found: set[int] = set()
    for listed in entries.values():
        told = sum(_records(layout[e[0]].text) for e in listed)
        if told >= _MIN_ITEMS and told * 2 > len(listed) \
                and sum(any(asks(layout[i].text) for i in e) for e in listed) * 2 < len(listed):
            found.update(i for e in listed for i in e)
    return found


def release_history(lines: list[str]) -> set[int]:
    """The lines from the first to the last entry of a release history (``_RELEASE_ENTRY``): two
    entries or more, each version lower than the one before it, and nothing marked done (a TODO
    file noting items under the version they were seen in: "1.0.16" ... "- DONE in 1.0.18").
    Entries that are headings alone ("2.0.19:" over its changes) hold the rest of the note too,
    the last release's changes, up to a to-do heading ("TODO" after a Perl module's Changes)."""
    entries = [(i, tuple(int(n) for n in m.group(1).split(".")))
               for i, m in ((i, _RELEASE_ENTRY.match(line)) for i, line in enumerate(lines)) if m]
    versions = [v for _, v in entries]
    if len(entries) < 2 or any(a <= b for a, b in zip(versions, versions[1:])) \
            or done_lines(lines):
        return set()
    last = entries[-1][0]
    end = last + 1
    if VERSION_ALONE.match(lines[last]):
        end = next((i for i in range(last, len(lines)) if names_todo_list(lines[i])), len(lines))
    return set(range(entries[0][0], end))
