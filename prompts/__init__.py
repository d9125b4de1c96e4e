"""Prompt templates, and the one function that finds them (``find_prompt``).

A template NAME is looked up in this order, and the first found wins:

1. the user's ``<config dir>/prompts/NAME.txt`` (``mustelid prompts edit NAME`` makes one);
2. ``prompts/NAME.txt`` inside the package of the task that asks: the task's ``prompt_package``,
   by default the package its class is defined in. This is how a plugin ships its prompts;
3. the ``*.txt`` files shipped beside this module (package data of ``mustelid.prompts``): the
   built-in tasks' prompts.

A template is plain text with ``--- system ---`` and ``--- user ---`` section markers and
``${name}`` placeholders (string.Template: JSON braces in examples need no escaping; a literal
``$`` is written ``$$``). A missing variable is an error, not a silently empty prompt.
"""

from __future__ import annotations

import re
import string
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

_SECTION = re.compile(r"^--- (system|user|assistant) ---\s*$", re.MULTILINE)
SHIPPED = "mustelid.prompts"


@dataclass
class PromptInfo:
    name: str
    source: str      # "user", "plugin" or "shipped"
    path: str


def find_prompt(name: str, *, override_dir: Path | None = None,
                package: str | None = None) -> PromptInfo:
    """The template ``name`` in effect: the user's override in ``override_dir``, else
    ``prompts/NAME.txt`` in ``package``, else the one shipped with mustelid. ``KeyError`` if
    there is none, or if ``name`` is not a plain file name."""
    if not _plain_name(name):
        raise KeyError(f"no prompt named {name!r}")
    file = f"{name}.txt"
    if override_dir is not None and (override_dir / file).is_file():
        return PromptInfo(name, "user", str(override_dir / file))
    if package:
        try:
            shipped_by_plugin = resources.files(package).joinpath("prompts", file)
        except (ModuleNotFoundError, TypeError):   # not an importable package
            shipped_by_plugin = None
        if shipped_by_plugin is not None and shipped_by_plugin.is_file():
            return PromptInfo(name, "plugin", str(shipped_by_plugin))
    shipped = resources.files(SHIPPED).joinpath(file)
    if shipped.is_file():
        return PromptInfo(name, "shipped", str(shipped))
    raise KeyError(f"no prompt named {name!r}")


def _plain_name(name: str) -> bool:
    # A name is a file stem in one folder: never a path that could climb out of it.
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")


def prompt_package(task: Any) -> str | None:
    """The package whose ``prompts/`` folder ships ``task``'s templates: its ``prompt_package``
    attribute if set, else the package its class is defined in (None for a lone module)."""
    declared = getattr(task, "prompt_package", None)
    if declared:
        return declared
    module = sys.modules.get(type(task).__module__)
    return getattr(module, "__package__", None) or None


class Prompts:
    """The templates as one user sees them: ``override_dir`` is their ``<config dir>/prompts``."""

    def __init__(self, override_dir: Path | None = None):
        self.override_dir = override_dir

    def list(self) -> list[PromptInfo]:
        """mustelid's shipped templates and the user's own, by name (the user's win)."""
        infos = {}
        for entry in resources.files(SHIPPED).iterdir():
            if entry.name.endswith(".txt"):
                infos[entry.name[:-4]] = PromptInfo(entry.name[:-4], "shipped", str(entry))
        if self.override_dir and self.override_dir.is_dir():
            for p in sorted(self.override_dir.glob("*.txt")):
                infos[p.stem] = PromptInfo(p.stem, "user", str(p))
        return [infos[k] for k in sorted(infos)]

    def source(self, name: str, package: str | None = None) -> PromptInfo:
        return find_prompt(name, override_dir=self.override_dir, package=package)

    def text(self, name: str, package: str | None = None) -> str:
        return Path(self.source(name, package).path).read_text(encoding="utf-8")

    def render(self, name: str, /, *, package: str | None = None,
               **variables: object) -> list[dict[str, str]]:
        """Render template ``name`` into chat messages; ``package``: the asking task's
        ``prompt_package(task)``, where a plugin's own templates are found."""
        info = self.source(name, package)
        text = Path(info.path).read_text(encoding="utf-8")
        return _render(text, variables, origin=info.path)


def render_text(text: str, /, **variables: object) -> list[dict[str, str]]:
    """Render a template's text into chat messages."""
    return _render(text, variables, origin=None)


def _render(text: str, variables: dict[str, object],
            origin: str | None) -> list[dict[str, str]]:
    bodies = _sections(text)
    if not bodies:
        raise ValueError("prompt template has no '--- system ---' / '--- user ---' sections")
    values = {k: str(v) for k, v in variables.items()}
    messages = []
    for role, body, first_line in bodies:
        template = string.Template(body)
        try:
            content = template.substitute(values)
        except ValueError:   # a "$" that starts no placeholder
            raise ValueError(_stray_dollars(body, origin, first_line)[0]) from None
        messages.append({"role": role, "content": content.strip()})
    return messages


def template_problems(text: str, origin: str | None = None) -> list[str]:
    """Everything that would make ``text`` fail to render whatever the variables, one line each
    with the file (``origin``), line and column: no sections, and each stray ``$``. Empty when
    the template is sound (``mustelid prompts check``)."""
    bodies = _sections(text)
    if not bodies:
        return [f"{origin or 'template'}: no '--- system ---' / '--- user ---' sections"]
    out = []
    for _role, body, first_line in bodies:
        out += _stray_dollars(body, origin, first_line)
    return out


def _sections(text: str) -> list[tuple[str, str, int]]:
    """(role, body, the body's first line number in ``text``) for each section; the text
    before the first marker is a comment area."""
    markers = list(_SECTION.finditer(text))
    out = []
    for marker, following in zip(markers, [*markers[1:], None]):
        raw = text[marker.end():following.start() if following else len(text)]
        body = raw.strip("\n")
        start = marker.end() + (len(raw) - len(raw.lstrip("\n")))
        out.append((marker.group(1), body, text.count("\n", 0, start) + 1))
    return out


def _stray_dollars(body: str, origin: str | None, first_line: int) -> list[str]:
    """Each ``$`` in a section's ``body`` that starts no placeholder, as where it is and the fix."""
    out = []
    for found in string.Template.pattern.finditer(body):
        if found.group("invalid") is None:
            continue
        before = body[:found.start("invalid")]
        line = first_line + before.count("\n")
        column = len(before) - (before.rfind("\n") + 1)
        where = f"{origin}, line {line}" if origin else f"line {line}"
        out.append(f"{where}, column {column}: '$' starts no ${{name}} placeholder; "
                   "write $$ for a literal $")
    return out
