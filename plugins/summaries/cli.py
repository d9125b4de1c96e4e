"""``mustelid summary``: print the latest day or week summary, or compute the current one now."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click

from mustelid import PERIODS, period_bounds
from mustelid.cli import State, clean, emit_json, json_option, pass_state


def latest(db: Any, period: str) -> dict[str, Any] | None:
    from mustelid.records import select    # imports sqlite-utils: kept out of `mustelid --help`

    rows = select(db, "summaries", {"period": period}, order_by=["-start"], limit=1)
    return rows[0] if rows else None


@click.command()
@click.option("--period", type=click.Choice(PERIODS), default="day", show_default=True)
@click.option("--now", "compute_now", is_flag=True,
              help="Compute the current period's summary now (works with the daemon stopped).")
@json_option
@pass_state
def summary(state: State, period: str, compute_now: bool, as_json: bool) -> None:
    """Print the latest day or week summary: spending, todos, screenshots."""
    from mustelid.records import first      # imports sqlite-utils: kept out of `mustelid --help`

    if compute_now:
        today = dt.datetime.now().astimezone().date()
        job = state.run_now("summaries", {"period": period, "date": today.isoformat()})
        if job["state"] != "done":
            raise click.ClickException(
                f"summary job {job['id']} is {job['state']}: {clean(job['reason'])} "
                f"{clean(job['last_error'])}")
        key = period_bounds(period, today)[2]
        row = first(state.db, "summaries", {"id": f"{period}:{key}"})
    else:
        row = latest(state.db, period)
    if row is None:
        raise click.ClickException(
            f"no {period} summary yet; `mustelid summary --period {period} --now` makes one")
    if as_json:
        emit_json({**row, "data": json.loads(row["data"])})
        return
    click.echo("\n".join(clean(line) for line in row["markdown"].splitlines()))
    if row["path"]:
        click.echo(f"\n(written to {clean(row['path'])})", err=True)
