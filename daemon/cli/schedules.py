"""`mustelid schedules`: each schedule with its next fire, its last fire and that job's state."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from mustelid.cli.app import State, pass_state
from mustelid.cli.listing import Listing, listing_options

COLUMNS = ["name", "task", "cron", "next_fire", "last_fire", "last_key", "last_state", "source",
           "note"]
CSV_COLUMNS = ["name", "task", "cron", "next_fire", "pending", "last_fire", "last_key",
               "last_job_id", "last_state", "source", "error"]


@click.command()
@listing_options(default_limit=100, what="schedules")
@pass_state
def schedules(state: State, listing: Listing) -> None:
    """Scheduled jobs: cron (local time), next fire, last fire and its job.

    Works with the daemon stopped; a `pending` fire is one the daemon missed and will run once
    when it next starts. --since/--until: the last fire.
    """
    from mustelid.scheduler import Scheduler

    rows = Scheduler.build(state.config, state.host, state.ledger).status()
    rows = [r for r in rows if _fired_within(r["last_fire"], listing)][:listing.limit]
    if listing.fmt != "table":
        listing.emit(rows, CSV_COLUMNS)     # JSON: every key; CSV: the times as stored (ISO)
        return
    for row in rows:
        row["note"] = (f"error: {row['error']}" if row["error"]
                       else f"missed {_short(row['pending'])}: runs at next start"
                       if row["pending"] else "")
        for key in ("next_fire", "last_fire"):
            row[key] = _short(row[key])
    listing.emit(rows, COLUMNS, title="schedules")


def _fired_within(last_fire: str | None, listing: Listing) -> bool:
    """Whether the last fire is inside --since/--until; compared as instants, since fires are
    stored in local time with their offset and the bounds in UTC."""
    if listing.since is None and listing.until is None:
        return True
    if not last_fire:
        return False
    when = _instant(last_fire)
    return (listing.since is None or when >= _instant(listing.since)) and (
        listing.until is None or when < _instant(listing.until))


def _instant(value: str) -> dt.datetime:
    when = dt.datetime.fromisoformat(value)
    return when if when.tzinfo else when.astimezone()


def _short(value: Any) -> str | None:
    """Local wall time to the minute: '2026-11-22 18:00'."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value).astimezone().strftime("%Y-%m-%d %H:%M")
