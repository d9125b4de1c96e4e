"""The router's prompt: the OCR lines, numbered, and the menu of kinds with each task's hint."""

from __future__ import annotations

import logging
import unicodedata

from mustelid import OcrLine

from .choice import Candidate
from .ignore import OTHER

log = logging.getLogger("mustelid.plugins.router")

# The router's prompt shows the OCR text once for all candidates, as numbered lines: ~11 tokens
# a line, so 48 lines are ~530 tokens (~2 s of prefill at ~250 tok/s). Longer texts show their
# head (titles, a shop's name) and tail (a receipt's totals); the middle matters least.
MAX_LINES_SHOWN = 48
LINE_CHARS = 90
MAX_HINT_CHARS = 600


def menu(candidates: dict[str, Candidate]) -> str:
    """``- name: description`` per kind, each followed by its task's router hint, then other."""
    lines = []
    for name, c in candidates.items():
        lines.append(f"- {name}: {c.task.description}")
        try:
            hint = c.task.router_hint(c.evidence)
        except Exception as e:
            log.warning("router: %s.router_hint failed: %r", name, e)
            hint = ""
        lines += [f"  {line.strip()}" for line in clip(hint, MAX_HINT_CHARS).splitlines()
                  if line.strip()]
    lines.append(f"- {OTHER}: none of these.")
    return "\n".join(lines)


def fold(text: str) -> str:
    # NFKC folds full-width punctuation from CJK-capable OCR models; whitespace runs become one.
    return " ".join(unicodedata.normalize("NFKC", text).split())


def numbered(lines: list[OcrLine]) -> str:
    """``[n] text`` per OCR line in ``mustelid.ocr.reading_order``, 1-based: a task whose
    arguments point at line numbers (screenshots) numbers its lines the same way. A long text
    shows its first and last lines with the numbers kept, so they stay meaningful."""
    shown = [f"[{n}] {l.text[:LINE_CHARS]}" for n, l in enumerate(lines, 1)]
    if len(shown) > MAX_LINES_SHOWN:
        head = MAX_LINES_SHOWN * 3 // 5
        shown = shown[:head] + ["[...]"] + shown[head - MAX_LINES_SHOWN:]
    return "\n".join(shown)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit("\n", 1)[0] + "\n[...]"
