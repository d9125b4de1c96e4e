"""One grammar for every listing command: ``--json``, ``--csv``, ``-n/--limit`` and
``--since/--until``, with the same names, help texts and date parsing everywhere (issue 15).

    @listing_options(default_limit=50)
    def jobs(state, listing: Listing, ...):
        rows = ...                               # filtered with listing.since / listing.until
        listing.emit(rows, COLUMNS, title="jobs")

Also the job-ID helpers every command shares: ``short_ids`` (the shortest unique prefix, as git
shows) and ``resolve_job`` (a unique prefix to the job, or one clear error line).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import functools
import sys
from typing import Any, Callable, Iterable

import click

from mustelid.cli.app import State
from mustelid.cli.output import clean, emit_table

MIN_ID_PREFIX = 8       # as git's default abbreviation: short enough to type, long enough to read


def instant(value: str, *, end_of_day: bool) -> str:
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


def _day(value: str) -> str:
    """The local calendar day a ``--since``/``--until`` value names (for tables of dated rows,
    such as expenses, whose dates are days)."""
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        try:
            return dt.datetime.fromisoformat(value).date().isoformat()
        except ValueError:
            raise click.BadParameter(f"{value!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None


@dataclasses.dataclass
class Listing:
    """What the shared options asked for. ``since``/``until``: UTC ISO instants (``until`` is
    exclusive: the end of the day it names); ``since_day``/``until_day``: the days as written
    (both inclusive), for rows dated by day."""

    fmt: str = "table"          # table | json | csv
    limit: int = 50
    since: str | None = None
    until: str | None = None
    since_day: str | None = None
    until_day: str | None = None

    @property
    def as_json(self) -> bool:
        return self.fmt == "json"

    def within(self, when: str | None) -> bool:
        """Whether an ISO UTC timestamp (as the store writes them) is inside the window; a row
        without one is inside only when no bound is set."""
        if self.since is None and self.until is None:
            return True
        if not when:
            return False
        return (self.since is None or when >= self.since) and (
            self.until is None or when < self.until)

    def within_day(self, day: str | None) -> bool:
        """Same for a row dated by a day (YYYY-MM-DD), both bounds inclusive."""
        if self.since_day is None and self.until_day is None:
            return True
        if not day:
            return False
        day = day[:10]
        return (self.since_day is None or day >= self.since_day) and (
            self.until_day is None or day <= self.until_day)

    def emit(self, rows: Iterable[dict[str, Any]], columns: list[str],
             title: str | None = None, *, state: State | None = None,
             id_key: str | None = None) -> None:
        """Print ``rows``; with ``state`` and ``id_key``, a table shows that column's job IDs
        as their shortest unique prefixes (JSON and CSV keep them whole)."""
        rows = list(rows)
        if self.fmt == "table" and state is not None and id_key:
            rows = with_short_ids(state, rows, id_key)
        if self.fmt == "csv":
            emit_csv(rows, columns)
        else:
            emit_table(rows, columns, title=title, as_json=self.as_json)


def emit_csv(rows: Iterable[dict[str, Any]], columns: list[str]) -> None:
    """RFC 4180 CSV (the csv module quotes commas, quotes and newlines); text from files and
    models has its control characters escaped, so it cannot repaint the terminal the CSV is
    printed on nor reach the program that reads it (issue 13)."""
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _csv_value(row.get(c)) for c in columns})


def _csv_value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return clean(value)


def listing_options(default_limit: int = 50, *, what: str = "rows") -> Callable:
    """Add ``--json``, ``--csv``, ``-n/--limit``, ``--since`` and ``--until`` to a command and
    pass it one ``listing`` argument (a ``Listing``) in their place."""

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapper(*args: Any, as_json: bool, as_csv: bool, limit: int, since: str | None,
                    until: str | None, **kwargs: Any) -> Any:
            if as_json and as_csv:
                raise click.UsageError("--json or --csv, not both")
            listing = Listing(
                fmt="json" if as_json else "csv" if as_csv else "table", limit=limit,
                since=since and instant(since, end_of_day=False),
                until=until and instant(until, end_of_day=True),
                since_day=since and _day(since), until_day=until and _day(until))
            return f(*args, listing=listing, **kwargs)

        for option in reversed([
            click.option("--json", "as_json", is_flag=True, help="Print JSON."),
            click.option("--csv", "as_csv", is_flag=True, help="Print CSV."),
            click.option("-n", "--limit", default=default_limit, show_default=True,
                         help=f"Show at most this many {what}."),
            click.option("--since", metavar="DAY",
                         help="Only from DAY on (YYYY-MM-DD or YYYY-MM-DDTHH:MM, local time)."),
            click.option("--until", metavar="DAY",
                         help="Only up to the end of DAY (YYYY-MM-DD or YYYY-MM-DDTHH:MM)."),
        ]):
            wrapper = option(wrapper)
        return wrapper

    return decorate


def short_ids(state: State, ids: Iterable[str]) -> dict[str, str]:
    """Each job ID's shortest prefix that no other job shares, at least ``MIN_ID_PREFIX``."""
    return state.ledger.short_ids(list(ids), MIN_ID_PREFIX)


def with_short_ids(state: State, rows: list[dict[str, Any]], key: str = "job_id"
                   ) -> list[dict[str, Any]]:
    """Rows for a table: ``key`` shortened to its unique prefix (JSON and CSV keep it whole)."""
    short = short_ids(state, [r[key] for r in rows if r.get(key)])
    return [{**r, key: short.get(r[key], r[key])} if r.get(key) else r for r in rows]


def resolve_job(state: State, job_id: str) -> dict[str, Any]:
    """The job a full ID or a unique prefix names, or a one-line error."""
    from mustelid.store.jobs import AmbiguousJob, UnknownJob

    try:
        return state.ledger.resolve(job_id)
    except (AmbiguousJob, UnknownJob) as e:
        raise click.ClickException(str(e)) from None
