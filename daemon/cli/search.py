"""``mustelid search``: full-text search over every stored result."""

from __future__ import annotations

import click

from mustelid.cli.app import State, json_option, pass_state

COLUMNS = ["job_id", "task", "file", "snippet"]


@click.command()
@click.argument("text", nargs=-1, required=True)
@click.option("--task", help="Only results of this task (router-filed ones count as theirs).")
@click.option("--raw", is_flag=True,
              help='Pass FTS5 query syntax through: starbu*, "exact phrase", a OR b.')
@click.option("-n", "--limit", default=20, show_default=True)
@json_option
@pass_state
def search(state: State, text: tuple[str, ...], task: str | None, raw: bool, limit: int,
           as_json: bool) -> None:
    """Find stored results whose text matches TEXT, best first."""
    from mustelid.cli.output import emit_table
    from mustelid.store.search import SearchError
    from mustelid.store.search import search as run_search

    try:
        rows = run_search(state.db, " ".join(text), task=task, limit=limit, raw=raw)
    except SearchError as e:
        raise click.ClickException(str(e)) from None
    emit_table(rows, COLUMNS, title="results", as_json=as_json)
