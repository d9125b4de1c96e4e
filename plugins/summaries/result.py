"""What the summaries task answers: exact totals per currency and the period's lists."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel


class Spend(BaseModel):
    name: str
    count: int
    total: Decimal


class CurrencySpend(BaseModel):
    currency: str
    count: int
    total: Decimal
    by_category: list[Spend]
    by_merchant: list[Spend]


class TodoItem(BaseModel):
    id: int | str
    title: str
    due: str | None = None
    priority: str | None = None


class ScreenshotItem(BaseModel):
    id: int | str
    title: str | None = None
    kind: str | None = None
    summary: str | None = None


class Summary(BaseModel):
    period: Literal["day", "week"]
    key: str                       # 2026-11-22 or 2026-W47
    start: dt.date
    end: dt.date                   # exclusive
    generated_at: dt.datetime
    spending: list[CurrencySpend]
    new_todos: list[TodoItem]
    overdue_todos: list[TodoItem]
    screenshots: list[ScreenshotItem]
    notes: list[str]
    markdown: str
    outbox_file: str | None = None  # where persist writes the Markdown (the daemon's outbox)
