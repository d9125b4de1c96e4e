"""Printing for the CLI: rich tables on a terminal, plain TSV when piped, JSON on request.

Every string that came from a file or a model is escaped before it reaches a terminal: a file
named with an escape sequence must not be able to repaint the user's screen.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Iterable

import click

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(
        value, (dict, list)) else str(value)
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\n", "\\n"))


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
