"""``mustelid search``: full-text search over every stored result and the text of its input."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from mustelid.cli.app import State, json_option, pass_state

COLUMNS = ["job_id", "task", "file", "snippet"]


def _instant(value: str, *, end_of_day: bool) -> str:
    """A ``--since``/``--until`` value as the UTC ISO instant the store compares with: a day
    (YYYY-MM-DD, local time) starts at its midnight, or for ``--until`` ends at the next one; a
    date and time without an offset is local time."""
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            raise click.BadParameter(f"{value!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    else:
        when = dt.datetime.combine(day + dt.timedelta(days=end_of_day), dt.time())
    if when.tzinfo is None:
        when = when.astimezone()                  # naive: the local time zone
    return when.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")


@click.command()
@click.argument("text", nargs=-1, required=True)
@click.option("--task", help="Only results of this task (router-filed ones count as theirs).")
@click.option("--since", metavar="DAY", help="Only inputs first seen on or after DAY (YYYY-MM-DD).")
@click.option("--until", metavar="DAY", help="Only inputs first seen on or before DAY.")
@click.option("--raw", is_flag=True,
              help='Pass FTS5 query syntax through: starbu*, "exact phrase", a OR b.')
@click.option("-n", "--limit", default=20, show_default=True)
@json_option
@pass_state
def search(state: State, text: tuple[str, ...], task: str | None, since: str | None,
           until: str | None, raw: bool, limit: int, as_json: bool) -> None:
    """Find stored results whose answer or input text (OCR) matches TEXT, best first."""
    from mustelid.cli.output import emit_table
    from mustelid.store.search import SearchError
    from mustelid.store.search import search as run_search

    bounds = {"since": since and _instant(since, end_of_day=False),
              "until": until and _instant(until, end_of_day=True)}
    try:
        rows = run_search(state.db, " ".join(text), task=task, limit=limit, raw=raw, **bounds)
    except SearchError as e:
        raise click.ClickException(str(e)) from None
    if as_json or not sys.stdout.isatty():
        emit_table(rows, COLUMNS, title="results", as_json=as_json)
    else:
        _print_highlighted(rows)


def _print_highlighted(rows: list[dict[str, Any]]) -> None:
    """The table on a terminal, with the matched words in each snippet highlighted."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mustelid.cli.output import clean

    table = Table(title="results")
    for c in COLUMNS:
        table.add_column(c, no_wrap=c == "job_id")
    for row in rows:
        snippet, at = Text(), 0
        for start, end in row["marks"]:
            # Each piece is cleaned on its own: escaping changes lengths, so the offsets must
            # be applied to the raw text first.
            snippet.append(clean(row["snippet"][at:start]))
            snippet.append(clean(row["snippet"][start:end]), style="bold reverse")
            at = end
        snippet.append(clean(row["snippet"][at:]))
        table.add_row(clean(row["job_id"]), clean(row["task"]), clean(row["file"]), snippet)
    Console(markup=False, highlight=False).print(table)
