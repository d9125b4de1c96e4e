"""``mustelid.testing``'s stand-ins for the model and the OCR engine, and the small plugins that
make them (and a task no plugin registers) known to a host through the ordinary hooks."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Iterable

from pydantic import BaseModel

from mustelid import hookimpl
from mustelid.ocr import OcrLine
from mustelid.tasks import Capabilities, Generation, PermanentError, Task

FAKE = "testing-fake"     # the name the fakes register under, as backend and as OCR engine

FakeReply = str | dict | BaseModel | Generation | Callable[[list, dict], Any]


@dataclasses.dataclass
class Call:
    messages: list[dict[str, str]]
    schema: dict[str, Any]
    max_tokens: int
    images: list[Any] = dataclasses.field(default_factory=list)


class FakeBackend:
    """A backend that answers with the JSON you give it, one reply per generation.

    Each reply is a dict, a pydantic model, raw text (to test invalid JSON), a ``Generation`` (to
    test truncation: ``finish_reason="length"``) or ``callable(messages, schema)`` returning one
    of those. The last reply repeats, so a single reply also answers the host's re-ask.
    ``calls`` records what the task sent: the rendered messages, the schema and any images.
    ``vision=True`` makes it a backend that can see (``capabilities``); without it, it refuses
    images as a real text-only backend must.
    """

    def __init__(self, *replies: FakeReply, model_id: str = "fake-model", vision: bool = False):
        if not replies:
            raise ValueError("FakeBackend needs at least one reply")
        self.replies = list(replies)
        self.model_id = model_id
        self.vision = vision
        self.calls: list[Call] = []
        self.closed = False

    def capabilities(self) -> Capabilities:
        return Capabilities(vision=self.vision)

    def generate(self, messages: list[dict[str, str]], schema: dict[str, Any],
                 max_tokens: int, *, images: list[Any] | None = None) -> Generation:
        if images and not self.vision:
            raise PermanentError("vision_unavailable", "the fake backend was made without vision")
        self.calls.append(Call(messages, schema, max_tokens, list(images or [])))
        reply = self.replies[min(len(self.calls), len(self.replies)) - 1]
        if callable(reply):
            reply = reply(messages, schema)
        if isinstance(reply, Generation):
            return reply
        if isinstance(reply, BaseModel):
            text = reply.model_dump_json()
        elif isinstance(reply, str):
            text = reply
        else:
            text = json.dumps(reply)
        prompt_words = sum(len(m.get("content", "").split()) for m in messages)
        return Generation(text, "stop", prompt_tokens=prompt_words,
                          completion_tokens=len(text.split()), model_id=self.model_id)

    def close(self) -> None:
        self.closed = True


class FakeOcr:
    """An OCR engine that "reads" the given lines from any file. Plain strings get stacked boxes
    (one 40-pixel row each); pass ``mustelid.ocr.OcrLine`` objects to control the boxes."""

    def __init__(self, lines: Iterable[str | OcrLine]):
        self.lines = [
            line if isinstance(line, OcrLine)
            else OcrLine(line, (10, 10 + 40 * i, 10 + 12 * max(1, len(line)), 40 + 40 * i))
            for i, line in enumerate(lines)
        ]
        self.paths: list[str] = []

    def read(self, path: str) -> list[OcrLine]:
        self.paths.append(path)
        return list(self.lines)


class FakesPlugin:
    """Registers the stand-ins through the ordinary hooks, under the name ``testing-fake``."""

    def __init__(self, backend: Any, ocr: Any):
        self.backend, self.ocr = backend, ocr

    @hookimpl
    def register_backends(self, register):
        if self.backend is not None:
            register(FAKE, lambda config: self.backend)

    @hookimpl
    def register_ocr_engines(self, register):
        if self.ocr is not None:
            register(FAKE, lambda: self.ocr)


class OneTaskPlugin:
    """Makes a Task instance that no plugin registers known to the host (ingest needs that)."""

    def __init__(self, task: Task):
        self.task = task

    @hookimpl
    def register_tasks(self, register):
        register(self.task)
