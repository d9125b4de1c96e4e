"""`mustelid schedules`: each schedule with its next fire, its last fire and that job's state."""

from __future__ import annotations

import datetime as dt

import click

from mustelid.cli.app import State, json_option, pass_state

COLUMNS = ["name", "task", "cron", "next_fire", "last_fire", "last_key", "last_state", "source",
           "note"]


@click.command()
@json_option
@pass_state
def schedules(state: State, as_json: bool) -> None:
    """Scheduled jobs: cron (local time), next fire, last fire and its job.

    Works with the daemon stopped; a `pending` fire is one the daemon missed and will run once
    when it next starts.
    """
    from mustelid.cli.output import emit_table
    from mustelid.scheduler import Scheduler

    rows = Scheduler.build(state.config, state.host, state.ledger).status()
    if as_json:
        emit_table(rows, COLUMNS, as_json=True)
        return
    for row in rows:
        row["note"] = (f"error: {row['error']}" if row["error"]
                       else f"missed {_short(row['pending'])}: runs at next start"
                       if row["pending"] else "")
        for key in ("next_fire", "last_fire"):
            row[key] = _short(row[key])
    emit_table(rows, COLUMNS, title="schedules")


def _short(value: str | None) -> str | None:
    """Local wall time to the minute: '2026-11-22 18:00'."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M")
