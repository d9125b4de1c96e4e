"""A note as plain lines when it is written inside code or documentation markup.

To-do lists live in source files as much as in TODO files: a ``# TODO:`` block in Python, a
``" TODO:`` header in a Vim script, a ``=head1 TODO`` section of Perl's POD. Their prefixes hide
the structure the rules read (a list mark, an indented continuation, a heading): "# - support
HDR" starts with "#", not with a mark. ``plain_lines`` takes the markup away and leaves the
words, so that such a note reads as the same list typed in a text file. Quotes still occur in
the note's text, which is made from these lines.

A source file's statements are never tasks: ``source_code.comments_of_code`` keeps only its
tagged comments.
"""

from __future__ import annotations

import re

from .lines import asks, task_verb
from .source_code import COMMENT as _COMMENT
from .source_code import comments_of_code

# A note most of whose lines share a comment prefix is a list kept in comments.
_MOSTLY = 0.6
_DRAWER = re.compile(r"^\s*:(?:PROPERTIES|LOGBOOK):\s*$")
_DRAWER_END = re.compile(r"^\s*:END:\s*$")
_PLANNING = re.compile(r"^\s*(?:CLOSED|SCHEDULED|DEADLINE):\s*[\[<]")
_LONE_MARK = re.compile(r"^\s*[-*•+–]\s*$")
_MARKED = re.compile(r"^[-*•+–]\s")
_FENCE = re.compile(r"^\s*(?:```|~~~)")
_UNDERLINE = re.compile(r"^\s*(?:={3,}|-{3,}|~{3,}|\^{3,})\s*$")
_UNDERLINE_SLACK = 4     # an underline is about as long as its title
# Perl's POD: a heading, an item, and the commands that only frame them.
_POD_HEAD = re.compile(r"^=head\d\s+(.*)$")
_POD_ITEM = re.compile(r"^=item\s*(.*)$")
_POD_FRAME = re.compile(r"^=(?:over|back|cut|pod|begin|end|for|encoding)\b")


def plain_lines(raw: list[str]) -> list[str]:
    """``raw`` without a comment prefix most of its lines share, with POD commands read as
    what they mean (``=head1 TODO`` a heading, ``=item Tests`` a list item), and a heading
    underlined in reStructuredText or Markdown's other form ("FAQ" over "===") written as
    ``## FAQ``: the underline has no letters and would be lost, and the line read as an item
    ("Where is a graphical interface?" in an FAQ)."""
    return _underlined(_without_pod(_uncommented(comments_of_code(_unfenced(
        _without_drawers(_marks_joined(raw)))))))


def _without_drawers(raw: list[str]) -> list[str]:
    """Org-mode's property drawers (":PROPERTIES:" .. ":END:") and planning lines ("CLOSED:
    [2018-03-04 Sun 08:55]") blank: the outline's metadata, no words of the note."""
    out, drawer = [], False
    for line in raw:
        opens = bool(_DRAWER.match(line))
        out.append("" if drawer or opens or _PLANNING.match(line) else line)
        drawer = (drawer or opens) and not _DRAWER_END.match(line)
    return out


def _marks_joined(raw: list[str]) -> list[str]:
    """A list mark alone on its line, its words on the next: OCR reads a bullet drawn apart
    from its text as a line of its own ("*" over "  Completion for Ruby's code"). The two are
    one item."""
    out = list(raw)
    for i in range(len(raw) - 1):
        words = out[i + 1].strip()
        if _LONE_MARK.match(out[i]) and words and not _LONE_MARK.match(out[i + 1]) \
                and not _MARKED.match(words):
            out[i], out[i + 1] = f"{out[i].rstrip()} {words}", ""
    return out


def _unfenced(raw: list[str]) -> list[str]:
    """Markdown's fenced code blocks blank: "make install" between ``` lines is what to type
    to build, not a task (an INSTALL section of a README)."""
    out, fenced = [], False
    for line in raw:
        fence = bool(_FENCE.match(line))
        out.append("" if fenced or fence else line)
        fenced ^= fence
    return out


def _underlined(raw: list[str]) -> list[str]:
    out = list(raw)
    for i in range(1, len(raw)):
        title = raw[i - 1].strip()
        if _UNDERLINE.match(raw[i]) and title and not _UNDERLINE.match(raw[i - 1]) \
                and abs(len(raw[i].strip()) - len(title)) <= _UNDERLINE_SLACK:
            out[i - 1], out[i] = f"## {title}", ""
    return out


def _uncommented(raw: list[str]) -> list[str]:
    written = [line for line in raw if line.strip()]
    if not written:
        return raw
    prefixes = [m.group(2)[0] for m in map(_COMMENT.match, written) if m]
    if not prefixes:
        return raw
    common = max(set(prefixes), key=prefixes.count)
    if prefixes.count(common) < _MOSTLY * len(written):
        return raw
    out = []
    for line in raw:
        m = _COMMENT.match(line)
        out.append(m.group(1) + line[m.end():] if m and m.group(2)[0] == common else line)
    return out


def _without_pod(raw: list[str]) -> list[str]:
    if not any(_POD_HEAD.match(l) or _POD_ITEM.match(l) for l in raw):
        return raw
    out = []
    for line in raw:
        head, item = _POD_HEAD.match(line), _POD_ITEM.match(line)
        if head:
            out.append(head.group(1))
        elif item:
            text = item.group(1).strip()
            # "=item *" or "=item 2." alone: the item's words are the next paragraph.
            out.append(f"* {text}" if re.search(r"[^\W\d_]", text) else "")
        elif _POD_FRAME.match(line):
            out.append("")
        else:
            out.append(line)
    return out


_ORG_HEADING = re.compile(r"^(\*+)\s+\S")
_TOPIC_WORDS = 4


def org_parents(lines: list[str]) -> set[int]:
    """Indexes of an outline's headings that hold deeper ones and name a topic in a few words
    ("* Simple tasks" over "** Convert modes ...", "* Thread support:"): the section's title,
    not one of its items. A parent that asks ("*** TODO Fix this TODO list.", "** Document all
    the new stuff.") or is a sentence is an item with sub-items."""
    levels = [(i, len(m.group(1))) for i, line in enumerate(lines)
              if (m := _ORG_HEADING.match(line))]
    return {i for (i, level), (_, after) in zip(levels, levels[1:]) if after > level
            and len(lines[i].split()) <= _TOPIC_WORDS + 1 and not _asks(lines[i])}


def _asks(line: str) -> bool:
    words = line.lstrip("* ").split()
    return asks(line) or bool(words) and task_verb(words[0].strip(".,:;"))
