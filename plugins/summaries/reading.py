"""The period's rows, read through ``mustelid.records`` (no SQL here), and the money added up.

Which rows belong to a period, in local time:
- expenses by their receipt ``date``; one without a legible date by the day it was recorded;
- todos: *new* if created in the period; *overdue* if not done and due before the period's end
  (or before today, for the period still running);
- screenshots created in the period.
The todos and screenshots tables belong to other plugins: when one is missing the summary says
so instead of failing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from mustelid.records import newest_per_input, select

from .result import CurrencySpend, ScreenshotItem, Spend, TodoItem


def local_day(value: Any, tz: dt.tzinfo | None) -> dt.date | None:
    """The local calendar day of a stored timestamp or date; naive values are already local."""
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return t.astimezone(tz).date() if t.tzinfo is not None else t.date()


def _in_period(value: Any, start: dt.date, end: dt.date, tz: dt.tzinfo | None) -> bool:
    day = local_day(value, tz)
    return day is not None and start <= day < end


def _widened(start: dt.date, end: dt.date) -> tuple[str, str]:
    # Stored timestamps are UTC: a day either side of the local period catches every candidate,
    # which local_day() then filters exactly.
    return (start - dt.timedelta(days=1)).isoformat(), (end + dt.timedelta(days=1)).isoformat()


def _created_in(db: Any, table: str, start: dt.date, end: dt.date, tz) -> list[dict]:
    rows = select(db, table, ranges={"created": _widened(start, end)}, order_by=["id"])
    return [r for r in rows if _in_period(r["created"], start, end, tz)]


def read_expenses(db: Any, start: dt.date, end: dt.date, tz, notes: list[str]) -> list[dict]:
    if not db["expenses"].exists():
        notes.append("No expenses table: the receipts plugin has not recorded anything yet.")
        return []
    dated = select(db, "expenses", ranges={"date": (start.isoformat(), end.isoformat())})
    undated = [r for r in select(db, "expenses", {"date": None},
                                 ranges={"created": _widened(start, end)})
               if _in_period(r["created"], start, end, tz)]
    rows = sorted(dated + undated, key=lambda r: r["id"])
    if {"job_id", "file_sha256"} <= set(db["expenses"].columns_dict):
        # A reprocessed or corrected receipt keeps one row per version: count the newest only.
        newest = newest_per_input(db, "expenses")
        rows = [r for r in rows if r["job_id"] in newest]
    return rows


def read_todos(db: Any, start: dt.date, end: dt.date, cutoff: dt.date, tz,
               notes: list[str]) -> tuple[list[dict], list[dict]]:
    table = db["todos"]
    if not table.exists():
        notes.append("No todos table: the todos plugin is not installed or has found none.")
        return [], []
    missing = {"id", "title", "due", "done", "created"} - set(table.columns_dict)
    if missing:
        notes.append(f"The todos table lacks {', '.join(sorted(missing))}; todos left out.")
        return [], []
    new = _created_in(db, "todos", start, end, tz)
    # `due < cutoff` as text compares the calendar day first, whether due is a date or a time.
    overdue = [r for r in select(db, "todos", ranges={"due": (None, cutoff.isoformat())},
                                 order_by=["due", "id"])
               if r["due"] != "" and (r["done"] is None or r["done"] == 0)]
    return new, overdue


def read_screenshots(db: Any, start: dt.date, end: dt.date, tz, notes: list[str]) -> list[dict]:
    table = db["screenshots"]
    if not table.exists():
        notes.append("No screenshots table: the screenshots plugin is not installed or has "
                     "described none.")
        return []
    if "created" not in table.columns_dict:
        notes.append("The screenshots table has no `created` column; screenshots left out.")
        return []
    return _created_in(db, "screenshots", start, end, tz)


# -- adding up ----------------------------------------------------------------------------------


def spending(expenses: list[dict], notes: list[str]) -> list[CurrencySpend]:
    """Per currency: the total, and the same money split by category and by merchant."""
    groups: dict[str, dict[str, Any]] = {}
    for row in expenses:
        try:
            amount = Decimal(str(row["total"]))
        except InvalidOperation:
            notes.append(f"Expense {row.get('id')} has an unreadable total {row['total']!r}.")
            continue
        g = groups.setdefault(row.get("currency") or "???",
                              {"count": 0, "total": Decimal(0), "cat": {}, "merchant": {}})
        g["count"] += 1
        g["total"] += amount
        _add(g["cat"], row.get("category") or "other", row.get("category") or "other", amount)
        merchant = " ".join(str(row.get("merchant") or "?").split())
        _add(g["merchant"], merchant.casefold(), merchant, amount)
    return [
        CurrencySpend(currency=cur, count=g["count"], total=g["total"],
                      by_category=_ranked(g["cat"]), by_merchant=_ranked(g["merchant"]))
        for cur, g in sorted(groups.items(), key=lambda kv: (-kv[1]["count"], kv[0]))
    ]


def _add(groups: dict, key: str, name: str, amount: Decimal) -> None:
    # Merchants group case-insensitively (OCR gives "STARBUCKS" and "Starbucks"); the first
    # spelling seen names the group.
    entry = groups.setdefault(key, {"name": name, "count": 0, "total": Decimal(0)})
    entry["count"] += 1
    entry["total"] += amount


def _ranked(groups: dict) -> list[Spend]:
    return [Spend(**g) for g in sorted(groups.values(), key=lambda g: (-g["total"], g["name"]))]


def todo_item(row: dict) -> TodoItem:
    priority = row.get("priority")
    return TodoItem(id=row["id"], title=str(row.get("title") or "")[:300],
                    due=str(row["due"]) if row.get("due") else None,
                    priority=str(priority) if priority not in (None, "") else None)


def screenshot_item(row: dict) -> ScreenshotItem:
    return ScreenshotItem(**{k: (str(row[k])[:500] if row.get(k) is not None else None)
                             for k in ("title", "kind", "summary")}, id=row["id"])
