"""The parts of a screen and the values worth keeping, chosen by code from what it already read.

Regions are the title line and the key lines (``salient.py``), each labelled by what code sees
in it: a mail header, an error message, a definition in code. Entities are the candidates
(``candidates.py``), links, addresses, dates and amounts before capitalised names. Why not the
model: picking four lines and labelling them, and picking candidate numbers, was most of what
Qwen 0.5B generated for a screen (token by token, the slow part on a CPU), and neither is scored
nor searched; the lines code picks are the ones the summary is asked to draw on anyway.
"""

from __future__ import annotations

import re
from typing import Any

from .kinds import ERROR_WORDS
from .output import MAX_ENTITIES, MAX_REGIONS, Entity, Region
from .salient import DEFINITION

_SENDER = re.compile(r"^\s*from\s?:", re.I)
_SUBJECT = re.compile(r"^\s*subject\s?:", re.I)


def label(text: str, *, title: bool = False) -> str:
    """What a line is, as far as code can tell from the line alone."""
    if title:
        return "title"
    if _SENDER.match(text):
        return "sender"
    if _SUBJECT.match(text):
        return "subject"
    if ERROR_WORDS.search(text):
        return "error message"
    if DEFINITION.match(text):
        return "definition"
    return "key line"


def pick_regions(lines: list[dict[str, Any]], title_line: int | None,
                 key_lines: list[int]) -> list[Region]:
    """The title line then the key lines (1-based numbers), each once, with its OCR box."""
    numbers = [n for n in [title_line, *key_lines] if n]
    return [Region(text=lines[n - 1]["text"], label=label(lines[n - 1]["text"],
                                                          title=n == title_line),
                   line=n, box=list(lines[n - 1]["box"]))
            for n in dict.fromkeys(numbers)][:MAX_REGIONS]


def pick_entities(candidates: list[dict[str, Any]]) -> list[int]:
    """1-based numbers of up to ``MAX_ENTITIES`` candidates: links, addresses, dates and amounts
    first (they are what a person copies off a screen), then names, each group in reading
    order."""
    ranked = sorted(range(1, len(candidates) + 1),
                    key=lambda n: candidates[n - 1]["type"] == "name")
    return ranked[:MAX_ENTITIES]


def entities(candidates: list[dict[str, Any]], chosen: list[int]) -> list[Entity]:
    return [Entity(**candidates[n - 1]) for n in chosen]
