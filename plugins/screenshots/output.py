"""What the model fills in (``ScreenshotCall``: title, summary, kind) and the result code
completes from it (``Screenshot``: key lines, regions and entities, all chosen by code and
copied from the evidence).

Why the model writes so little: every generated token costs a decode step (~40 ms on two
cores), and the regions (a copied line and a label each) and entity picks the model used to
write were most of its answer while no score or search reads them; code picks them from what it
already knows (``regions.py``), so a screen costs the summary's tokens and little more."""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_LINES = 60        # numbered lines shown to the model: ~15 tokens each, so <=900 prompt tokens
LINE_CHARS = 90       # a longer OCR line is cut (for the prompt and key text; its box stays whole)
# Key lines kept with a screen (``salient.py``): five, of which the model reads the first three
# picked. Three kept mentioned 157 of 225 labelled key facts of four screen sets with the title,
# five 175, five with a page's heading first 176 (docs/EVAL.md, session 27); the key text is
# what the screenshots' full-text search reads besides the title and summary.
MAX_KEY_LINES = 5
MAX_ENTITIES = 8
MAX_REGIONS = 4
SUMMARY_CHARS = 120


class Kind(str, enum.Enum):
    app = "app"
    web_page = "web_page"
    chat = "chat"
    email = "email"
    document = "document"
    error_dialog = "error_dialog"
    code = "code"
    other = "other"


class ScreenshotCall(BaseModel):
    """The grammar's shape. Field order is generation order: the model names and summarises the
    screen first, so that its choice of kind (when code leaves it open) follows from its own
    summary."""

    model_config = ConfigDict(extra="forbid")
    # A line of the screen, copied (``titles.py``): as long as a line may be.
    title: str = Field(min_length=1, max_length=LINE_CHARS + 8)
    # 120: given 240 characters Qwen 0.5B filled them with invented background, and at 160 it
    # still padded ("a popular IRC client with a wide range of features"); every character
    # is decode time, and the key facts a reader looks for are in the title and key lines.
    summary: str = Field(min_length=1, max_length=SUMMARY_CHARS)
    kind: Kind


class Region(BaseModel):
    """A part of the screen: one OCR line, what it is (``regions.py``), its number and box.
    Filled by ``check`` from the evidence; never part of the grammar."""
    text: str = Field(min_length=1, max_length=LINE_CHARS + 8)
    label: str = Field(min_length=1, max_length=40)
    line: int | None = Field(None, ge=1, le=MAX_LINES)     # the line's number in the prompt
    box: list[int] | None = Field(None, min_length=4, max_length=4)   # 0-1000 grid


class Entity(BaseModel):
    type: Literal["url", "email", "date", "amount", "name"]
    value: str = Field(max_length=200)
    iso: str | None = Field(None, max_length=10)   # dates with a year, as YYYY-MM-DD
    line: int | None = None                        # the numbered OCR line it was printed on


class Screenshot(ScreenshotCall):
    """The validated result. ``regions``, ``key_lines``, ``entity_choices`` and ``entities`` are
    filled by ``check`` from the evidence (task version 1 had the model point at regions and
    entities; the stored shape is the same)."""

    regions: list[Region] = Field(default_factory=list, max_length=MAX_REGIONS)
    # The numbers of the candidates kept as entities (``regions.pick_entities``).
    entity_choices: list[int] = Field(default_factory=list, max_length=MAX_ENTITIES)
    # Chosen by code (``salient.py``), not the model: copied from the evidence by ``check``.
    key_text: list[str] = Field(default_factory=list, max_length=MAX_KEY_LINES)
    key_lines: list[int] = Field(default_factory=list, max_length=MAX_KEY_LINES)
    entities: list[Entity] = Field(default_factory=list, max_length=MAX_ENTITIES)
    # Claims of the model's summary not found on the screen, removed with their sentence after
    # the re-ask (``grounding.py``): kept so a reader sees what was taken out.
    ungrounded: list[str] = Field(default_factory=list, max_length=20)
