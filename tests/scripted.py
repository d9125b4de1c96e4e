"""Test doubles shared by the task unit tests (screenshots, todos): the shipped prompt templates
read from the source tree, and a backend that plays back scripted answers."""

from __future__ import annotations

import json
from pathlib import Path

from mustelid import Generation
from mustelid.prompts import render_text

REPO = Path(__file__).resolve().parent.parent


class SourcePrompts:
    """The shipped template from the source tree (what ctx.prompts renders when installed)."""

    def render(self, name, **variables):
        text = (REPO / "prompts" / f"{name}.txt").read_text(encoding="utf-8")
        return render_text(text, **variables)


class ScriptedBackend:
    """Returns the queued answers in order, recording what it was asked. Unlike
    mustelid.testing.FakeBackend it does not repeat its last answer: a generation nobody
    scripted fails the test (IndexError)."""

    model_id = "scripted"

    def __init__(self, *answers):
        self.answers = list(answers)
        self.calls = []

    def generate(self, messages, schema, max_tokens):
        self.calls.append({"messages": messages, "schema": schema, "max_tokens": max_tokens})
        return Generation(json.dumps(self.answers.pop(0)), "stop", model_id=self.model_id)
