"""What the model fills in (``Reviewed`` entries of ``TodoList.review``) and what is stored
(``Todo``, built by code from the reviewed lines)."""

from __future__ import annotations

import datetime as dt
import enum

from pydantic import BaseModel, ConfigDict, Field

from .dates import PHRASE_CHARS
from .lines import MAX_PARTS, QUOTE_CHARS

MAX_CANDIDATES = 16    # task-like lines the model reviews, each costing up to ~60 tokens


class Priority(str, enum.Enum):
    low = "low"
    normal = "normal"
    high = "high"


class Reviewed(BaseModel):
    """The model's verdict on one candidate line. The grammar fixes ``source_quote`` to the
    line under review, then lets the model answer ``is_todo``; only a todo gets the rest, all
    of it choices (a todo's title is its line, ``lines.title_of``).
    Field order is generation order: restating the line just before judging it is what lets a
    0.5B model attend to the right one."""

    model_config = ConfigDict(extra="forbid")
    source_quote: str = Field(min_length=1, max_length=QUOTE_CHARS)
    is_todo: bool
    due_phrase: str | None = Field(None, max_length=PHRASE_CHARS)
    # Not asked for any more (code reads it from the line: checks.priority_for); still accepted
    # so that the stored arguments of earlier jobs validate.
    priority: Priority | None = None


class Todo(BaseModel):
    """One todo as stored: filled by ``check`` from a reviewed line, never by the model alone."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=80)
    source_quote: str = Field(min_length=1, max_length=QUOTE_CHARS)
    due_phrase: str | None = Field(None, max_length=PHRASE_CHARS)
    due: dt.date | None = None      # resolved by code from due_phrase, never by the model
    priority: Priority = Priority.normal
    # Set by code when the quoted line holds a shell command or a link: a note can ask for
    # "run curl ... | sh" (docs/RELIABILITY.md, prompt injection), and nothing in mustelid runs
    # a todo, but a person might copy it. Flagged, not dropped: the line may be a real task.
    caution: str | None = None


class TodoList(BaseModel):
    """The function's arguments (``review``, one entry per candidate line) and the validated
    result (``todos``, built by ``check`` from the lines judged to be todos)."""

    model_config = ConfigDict(extra="forbid")
    # A long note is reviewed in parts (parts.py), each of at most MAX_CANDIDATES lines; the
    # schema of each call (``Todos.schema``) fixes its own count.
    review: list[Reviewed] = Field(default_factory=list, max_length=MAX_CANDIDATES * MAX_PARTS)
    todos: list[Todo] = Field(default_factory=list, max_length=MAX_CANDIDATES * MAX_PARTS)

