"""A note as plain lines when it is written inside code or documentation markup.

To-do lists live in source files as much as in TODO files: a ``# TODO:`` block in Python, a
``" TODO:`` header in a Vim script, a ``=head1 TODO`` section of Perl's POD. Their prefixes hide
the structure the rules read (a list mark, an indented continuation, a heading): "# - support
HDR" starts with "#", not with a mark. ``plain_lines`` takes the markup away and leaves the
words, so that such a note reads as the same list typed in a text file. Quotes still occur in
the note's text, which is made from these lines.
"""

from __future__ import annotations

import re

# Line-comment prefixes of common languages and formats. "*" and "-" are not among them: a
# note whose lines mostly start with them is a list.
# A list mark right after the prefix is a list in the comment: OCR drops the space ("#- item").
_COMMENT = re.compile(r'^(\s*)(#+|//+|--|;+|%+|")(?=\s|$|[-*•](?=\s|\w))\s?')
_MOSTLY = 0.6
# Perl's POD: a heading, an item, and the commands that only frame them.
_POD_HEAD = re.compile(r"^=head\d\s+(.*)$")
_POD_ITEM = re.compile(r"^=item\s*(.*)$")
_POD_FRAME = re.compile(r"^=(?:over|back|cut|pod|begin|end|for|encoding)\b")


def plain_lines(raw: list[str]) -> list[str]:
    """``raw`` without a comment prefix most of its lines share, and with POD commands read
    as what they mean (``=head1 TODO`` a heading, ``=item Tests`` a list item)."""
    return _without_pod(_uncommented(raw))


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
