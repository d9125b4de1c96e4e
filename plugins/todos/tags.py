"""A programmer's tag before a task ("TODO:", "FIXME", "XXX"), and when a line so tagged asks.

A tag asks when words follow it, but a window's title ("TODO - Mousepad") and a list's title
("TODO for debian packaging of libgpg-error", "TODO - list of things to do:") do not ask.
"""

from __future__ import annotations

import re

# A tag a programmer leaves before a task: "TODO - maybe handle this ...", "TODO(kim) - ...";
# not a window's title ("TODO - Mousepad", "TODO - ~/src - Geany") or a list's heading ("TODO -
# list of things to do for libpng:").
_TAG = re.compile(r"^\W*(?:TODO|FIXME|XXX|HACK(?=:)|(?i:t[o0]d[o0]))\b\s*(?:\([^)]*\))?\s*[-:–]\s*")
# In any case as a code comment leaves it, or as OCR reads it, when a word in lower case follows
# ("ToDo else return error", "ToD0 send last activity").
BARE_TAG = re.compile(r"^(?:TODO|FIXME|XXX)\b\s*(?:\([^)]*\))?\s*[-:–]?\s*"
                      r"|^(?i:t[o0]d[o0]|fixme)\s+(?=[a-z])")
_NOT_WORD = " \t#/;*-"
_LIST_TITLE = re.compile(r"(?i)(?:for|list|items?|of|in|on)\b")
TITLE_WORDS = 6


# A tag closing what it marks ("bind_key(...); # not works yet FIXME!!!"). Not "TODO", which
# ends a sentence as a noun ("see the TODO").
_TAIL = re.compile(r"^\W*\w+(?:\W+\w+)+\s+(?:FIXME|XXX)\W*$")


def tagged(line: str) -> bool:
    """A programmer's tag before what to do: after a colon, any words ("TODO(1.5): turn into
    error"); after a dash, three words or more (not a window's "TODO - Mousepad"); with no mark,
    two words or a question ("XXX handle auth-int.", "TODO classpath?", not "TODO list"); two
    words or more before a closing "FIXME" or "XXX". A tag over a list ("TODO - list of things
    to do:") asks nothing itself."""
    if _TAIL.match(line):
        return True
    marked = _TAG.match(line)
    text = line if marked else line.lstrip(_NOT_WORD)
    tag = marked or BARE_TAG.match(text)
    rest = text[tag.end():] if tag else ""
    words = rest.split()
    if not words or rest.rstrip().endswith(":"):
        return False
    mark = tag.group(0).rstrip()[-1:]
    if mark == ":":
        return True
    if mark in "-–":
        return len(words) >= 3 and " - " not in rest
    # "TODO for debian packaging of libgpg-error", "TODO list": a list's title; not a long
    # clause that goes on past a comma ("TODO for the images path fix, also respect ...").
    title = bool(_LIST_TITLE.match(rest)) and len(words) <= TITLE_WORDS and "," not in rest
    return (len(words) >= 2 or rest.rstrip().endswith("?")) and not title
