"""``mustelid search``: full-text search over every stored result and the text of its input."""

from __future__ import annotations

import sys
from typing import Any

import click

from mustelid.cli.app import State, pass_state
from mustelid.cli.listing import Listing, listing_options, with_short_ids

COLUMNS = ["job_id", "task", "file", "snippet"]


@click.command()
@click.argument("text", nargs=-1, required=True)
@click.option("--task", help="Only results of this task (router-filed ones count as theirs).")
@click.option("--raw", is_flag=True,
              help='Pass FTS5 query syntax through: starbu*, "exact phrase", a OR b.')
@listing_options(default_limit=20, what="results")
@pass_state
def search(state: State, text: tuple[str, ...], task: str | None, raw: bool,
           listing: Listing) -> None:
    """Find stored results whose answer or input text (OCR) matches TEXT, best first
    (--since/--until: when the input was first seen)."""
    from mustelid.store.search import SearchError
    from mustelid.store.search import search as run_search

    try:
        rows = run_search(state.db, " ".join(text), task=task, limit=listing.limit, raw=raw,
                          since=listing.since, until=listing.until)
    except SearchError as e:
        raise click.ClickException(str(e)) from None
    if listing.fmt != "table" or not sys.stdout.isatty():
        listing.emit(rows, COLUMNS, title="results", state=state, id_key="job_id")
    else:
        _print_highlighted(with_short_ids(state, rows))


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
