"""Calendar periods (a day, an ISO week) that schedules and summaries are keyed by."""

from __future__ import annotations

import datetime as dt

PERIODS = ("day", "week")


def period_bounds(kind: str, day: dt.date) -> tuple[dt.date, dt.date, str]:
    """The period of ``kind`` containing ``day``: (first day, day after the last day, key)."""
    if kind == "day":
        return day, day + dt.timedelta(days=1), day.isoformat()
    if kind == "week":
        start = day - dt.timedelta(days=day.weekday())
        year, week, _ = day.isocalendar()
        return start, start + dt.timedelta(days=7), f"{year}-W{week:02d}"
    raise ValueError(f"unknown period {kind!r} (expected one of {', '.join(PERIODS)})")
