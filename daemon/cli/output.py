"""Printing for the CLI: rich tables on a terminal, plain TSV when piped, JSON on request.

Every string that came from a file or a model is escaped before it reaches a terminal: a file
named with an escape sequence must not be able to repaint the user's screen.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from typing import Any, Iterable

import click

_NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")
# Cc: C0/C1 controls (ESC, CSI, BEL...). Cf: format characters, among them the bidi overrides
# and isolates (U+202A-202E, U+2066-2069) that make "gpj.exe" read as "exe.jpg", and zero-width
# characters. Zl/Zp: line and paragraph separators. Cs: lone surrogates, which is how Python
# carries a file name's undecodable bytes; printing one raises UnicodeEncodeError.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAMED = {"\n": "\\n", "\t": "\\t"}   # a tab would split a TSV row as surely as a newline


def _escape(m: re.Match) -> str:
    ch = m.group()
    if ch in _NAMED:
        return _NAMED[ch]
    if unicodedata.category(ch) not in _ESCAPED_CATEGORIES:
        return ch                         # ordinary letters in any script pass through
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:          # surrogateescape: show the original byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def clean(value: Any) -> str:
    """Text that is safe to print to a terminal: control, format and bidi characters become
    visible escapes (``\\x1b``, ``\\u202e``), so a file or model output cannot repaint the screen,
    reorder what the user reads, or split a row."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(
        value, (dict, list)) else str(value)
    return _NOT_PRINTABLE_ASCII.sub(_escape, text)


def emit_json(data: Any) -> None:
    # ensure_ascii keeps control characters escaped (\u001b), safe on any terminal
    click.echo(json.dumps(data, indent=2, default=str))


def emit_table(rows: Iterable[dict[str, Any]], columns: list[str], title: str | None = None,
               as_json: bool = False) -> None:
    rows = list(rows)
    if as_json:
        emit_json(rows)
        return
    if not sys.stdout.isatty():
        click.echo("\t".join(columns))
        for row in rows:
            click.echo("\t".join(clean(row.get(c)) for c in columns))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for row in rows:
        table.add_row(*(clean(row.get(c)) for c in columns))
    Console(markup=False).print(table)
