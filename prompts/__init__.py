"""Prompt templates: the ``*.txt`` files shipped beside this module (package data of
``mustelid.prompts``), each overridable by a same-named file in the user's config dir
(``<config dir>/prompts/NAME.txt``).

A template is plain text with ``--- system ---`` and ``--- user ---`` section markers and
``${name}`` placeholders (string.Template: JSON braces in examples need no escaping). A missing
variable is an error, not a silently empty prompt.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_SECTION = re.compile(r"^--- (system|user|assistant) ---\s*$", re.MULTILINE)


@dataclass
class PromptInfo:
    name: str
    source: str      # "shipped" or "user"
    path: str


class Prompts:
    def __init__(self, override_dir: Path | None = None):
        self.override_dir = override_dir

    def _shipped(self) -> dict[str, str]:
        out = {}
        for entry in resources.files("mustelid.prompts").iterdir():
            if entry.name.endswith(".txt"):
                out[entry.name[:-4]] = str(entry)
        return out

    def list(self) -> list[PromptInfo]:
        infos = {n: PromptInfo(n, "shipped", p) for n, p in self._shipped().items()}
        if self.override_dir and self.override_dir.is_dir():
            for p in sorted(self.override_dir.glob("*.txt")):
                infos[p.stem] = PromptInfo(p.stem, "user", str(p))
        return [infos[k] for k in sorted(infos)]

    def source(self, name: str) -> PromptInfo:
        for info in self.list():
            if info.name == name:
                return info
        raise KeyError(f"no prompt named {name!r}")

    def text(self, name: str) -> str:
        return Path(self.source(name).path).read_text(encoding="utf-8")

    def render(self, name: str, /, **variables: object) -> list[dict[str, str]]:
        """Render a template into chat messages."""
        return render_text(self.text(name), **variables)


def render_text(text: str, /, **variables: object) -> list[dict[str, str]]:
    parts = _SECTION.split(text)
    # parts = [preamble, role, body, role, body, ...]; the preamble is a comment area.
    if len(parts) < 3:
        raise ValueError("prompt template has no '--- system ---' / '--- user ---' sections")
    messages = []
    for role, body in zip(parts[1::2], parts[2::2]):
        content = string.Template(body.strip("\n")).substitute(
            {k: str(v) for k, v in variables.items()}
        )
        messages.append({"role": role, "content": content.strip()})
    return messages
