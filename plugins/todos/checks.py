"""Rules code applies to each line the model judged a todo: its priority, its due date and a
caution for lines a person should not act on blindly."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .dates import find_due_phrases, parse_due
from .output import Priority, Reviewed

# Shell: a pipe into an interpreter, command substitution, download or privilege tools, deletion.
_COMMAND = re.compile(
    r"\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b|\|\s*(?:python3?|perl|ruby|node|iex)\b|\$\(|`[^`]+`"
    r"|\b(?:curl|wget|sudo|chmod|chown|mkfs|dd)\s+\S|\brm\s+-\w*[rf]|\bpowershell\b"
    r"|\bInvoke-(?:WebRequest|Expression)\b", re.I)
_LINK = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.[\w-]+\.\w+", re.I)


def caution_for(quote: str) -> str | None:
    """Why a todo's line deserves a second look before anyone acts on it, or None."""
    if _COMMAND.search(quote):
        return "quotes a shell command: run it only if you know who wrote it"
    if _LINK.search(quote):
        return "contains a link: check where it leads before opening it"
    return None


_URGENT = re.compile(r"\b(urgent|urgently|asap|a\.s\.a\.p|important|critical|immediately|"
                     r"high priority|top priority)\b|!!|\(!\)", re.I)
_OPTIONAL = re.compile(r"\b(maybe|optional|if (?:there is |you have )?time|someday|some day|"
                       r"nice to have|low priority|whenever|no rush)\b", re.I)


def priority_for(todo: Reviewed) -> Priority:
    """The priority the quoted line states: an urgency word makes it high, an optional or
    hedging word low, anything else normal. Not the model's: asked for one, Qwen 0.5B called
    133 of 134 todos on notes-dev high or low with no such word on the line, and each answer
    cost a model call (~0.1 s) per todo. A priority from a loose backend is ignored."""
    if _URGENT.search(todo.source_quote):
        return Priority.high
    if _OPTIONAL.search(todo.source_quote):
        return Priority.low
    return Priority.normal


def due_for(todo: Reviewed, phrases: dict[str, dict[str, Any]], others: set[int],
            today: dt.date, order: str) -> tuple[str | None, dt.date | None]:
    """(phrase, date) for a todo: a date phrase on its own quoted line first; else the phrase
    the model picked, unless it is printed only on other todos' lines (``others``, line
    indexes); else none. The date is always computed here, never taken from the model."""
    own = find_due_phrases([todo.source_quote], today, order)
    if own:
        return own[0].phrase, dt.date.fromisoformat(own[0].due)
    if todo.due_phrase:
        known = phrases.get(todo.due_phrase)
        if known is not None:
            if known["lines"] <= others:
                return None, None
            return todo.due_phrase, dt.date.fromisoformat(known["due"])
        due = parse_due(todo.due_phrase, today, order)
        if due is not None:
            return todo.due_phrase, due
    return None, None
