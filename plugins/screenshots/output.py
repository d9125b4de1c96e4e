"""What the model fills in (``ScreenshotCall``) and the result code completes from it
(``Screenshot``: key lines, entities and region boxes copied from the evidence)."""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_LINES = 60        # numbered lines shown to the model: ~15 tokens each, so <=900 prompt tokens
LINE_CHARS = 90       # a longer OCR line is cut (for the prompt and key text; its box stays whole)
MAX_KEY_LINES = 3
MAX_ENTITIES = 8
MAX_REGIONS = 4


class Kind(str, enum.Enum):
    app = "app"
    web_page = "web_page"
    chat = "chat"
    email = "email"
    document = "document"
    error_dialog = "error_dialog"
    code = "code"
    other = "other"


class RegionChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Line first, then label: the model picks a part of the screen by its text, then names it.
    text: str = Field(min_length=1, max_length=LINE_CHARS + 8)
    label: str = Field(min_length=1, max_length=40)


class ScreenshotCall(BaseModel):
    """The grammar's shape. Field order is generation order: the model names and summarises the
    screen first, so that its choice of kind follows from its own summary, then points at parts."""

    model_config = ConfigDict(extra="forbid")
    # A line of the screen, copied (``titles.py``): as long as a line may be.
    title: str = Field(min_length=1, max_length=LINE_CHARS + 8)
    # 160, not more: given 240 characters Qwen 0.5B filled them with invented background.
    summary: str = Field(min_length=1, max_length=160)
    kind: Kind
    regions: list[RegionChoice] = Field(default_factory=list, max_length=MAX_REGIONS)
    entity_choices: list[int] = Field(default_factory=list, max_length=MAX_ENTITIES)


class Region(RegionChoice):
    # Filled by ``check`` from the OCR line the model copied; never part of the grammar.
    line: int | None = Field(None, ge=1, le=MAX_LINES)     # the line's number in the prompt
    box: list[int] | None = Field(None, min_length=4, max_length=4)   # 0-1000 grid


class Entity(BaseModel):
    type: Literal["url", "email", "date", "amount", "name"]
    value: str = Field(max_length=200)
    iso: str | None = Field(None, max_length=10)   # dates with a year, as YYYY-MM-DD
    line: int | None = None                        # the numbered OCR line it was printed on


class Screenshot(ScreenshotCall):
    """The validated result. ``key_lines``, ``entities`` and each region's ``line``/``box`` are
    filled by ``check`` from the evidence; the model's answer only points at them."""

    regions: list[Region] = Field(default_factory=list, max_length=MAX_REGIONS)
    # Chosen by code (``salient.py``), not the model: copied from the evidence by ``check``.
    key_text: list[str] = Field(default_factory=list, max_length=MAX_KEY_LINES)
    key_lines: list[int] = Field(default_factory=list, max_length=MAX_KEY_LINES)
    entities: list[Entity] = Field(default_factory=list, max_length=MAX_ENTITIES)
    # Claims of the model's summary not found on the screen, removed with their sentence after
    # the re-ask (``grounding.py``): kept so a reader sees what was taken out.
    ungrounded: list[str] = Field(default_factory=list, max_length=20)
