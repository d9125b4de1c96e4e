"""A note's text as it comes in: a plain-text file, or another task's stored result."""

from __future__ import annotations

from typing import Any

MAX_TEXT_CHARS = 20_000


_TEXT_FIELDS = ("text", "key_text", "summary", "title")


def result_text(data: Any) -> list[str]:
    """The text a stored result carries, for todos from another task's result. Fields named
    text / key_text / summary / title come first (a screenshot's key text, a summary's text);
    a result with none of them gives every string of two words or more."""
    lines: list[str] = []
    if isinstance(data, dict):
        for key in _TEXT_FIELDS:
            value = data.get(key)
            lines += [v for v in (value if isinstance(value, list) else [value])
                      if isinstance(v, str) and v.strip()]
    if lines:
        return lines

    def walk(value: Any) -> None:
        if isinstance(value, str) and len(value.split()) >= 2:
            lines.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(data)
    return lines


def read_text(path: str) -> str:
    """A plain-text file's text, at most ``MAX_TEXT_CHARS`` of it."""
    with open(path, "rb") as f:
        data = f.read(MAX_TEXT_CHARS * 4)
    # The sniffer calls UTF-16 with a byte-order mark text/plain too; everything else is UTF-8.
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    return data.decode(encoding, errors="replace")[:MAX_TEXT_CHARS]
