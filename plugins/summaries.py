"""Summaries: a day's or a week's spending, todos and screenshots (``write_summary``).

Computed from the database, without the model: sums and lists are exact work for code, and a
0.5B model would add them up wrong. Totals are ``Decimal`` sums of the stored decimal strings,
kept per currency (ringgit plus euros is no number at all). The task only reads, through
``ctx.read_db()``; the daemon (or ``mustelid summary --now``) writes the ``summaries`` row and the
Markdown file in the outbox from ``persist``.

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
import json
import logging
import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import click
from pydantic import BaseModel

from mustelid import Evidence, JobInput, PermanentError, Task, hookimpl
from mustelid.scheduler import PERIODS, period_bounds

log = logging.getLogger("mustelid.plugins.summaries")

MAX_LISTED = 100       # todos / screenshots listed per section; the rest are counted


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


# -- reading the period's rows ------------------------------------------------------------------


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


def _widened(start: dt.date, end: dt.date) -> list[str]:
    # Stored timestamps are UTC: a day either side of the local period catches every candidate,
    # which local_day() then filters exactly.
    return [(start - dt.timedelta(days=1)).isoformat(), (end + dt.timedelta(days=1)).isoformat()]


def read_expenses(db: Any, start: dt.date, end: dt.date, tz, notes: list[str]) -> list[dict]:
    if not db["expenses"].exists():
        notes.append("No expenses table: the receipts plugin has not recorded anything yet.")
        return []
    rows = db["expenses"].rows_where(
        "(date >= ? AND date < ?) OR (date IS NULL AND created >= ? AND created < ?)",
        [start.isoformat(), end.isoformat(), *_widened(start, end)], order_by="id",
    )
    rows = [r for r in rows if r["date"] or _in_period(r["created"], start, end, tz)]
    if {"job_id", "file_sha256"} <= set(db["expenses"].columns_dict):
        # A reprocessed or corrected receipt keeps one row per version: count the newest only.
        from mustelid.store.reviews import newest_per_input

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
    new = [r for r in table.rows_where("created >= ? AND created < ?", _widened(start, end),
                                       order_by="id")
           if _in_period(r["created"], start, end, tz)]
    # `due < cutoff` as text compares the calendar day first, whether due is a date or a time.
    overdue = list(table.rows_where("(done IS NULL OR done = 0) AND due IS NOT NULL AND due != ''"
                                    " AND due < ?", [cutoff.isoformat()], order_by="due, id"))
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
    return [r for r in table.rows_where("created >= ? AND created < ?", _widened(start, end),
                                        order_by="id")
            if _in_period(r["created"], start, end, tz)]


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


def _todo(row: dict) -> TodoItem:
    priority = row.get("priority")
    return TodoItem(id=row["id"], title=str(row.get("title") or "")[:300],
                    due=str(row["due"]) if row.get("due") else None,
                    priority=str(priority) if priority not in (None, "") else None)


def _shot(row: dict) -> ScreenshotItem:
    return ScreenshotItem(**{k: (str(row[k])[:500] if row.get(k) is not None else None)
                             for k in ("title", "kind", "summary")}, id=row["id"])


# -- Markdown -----------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")


def md(text: Any) -> str:
    """One line of untrusted text (OCR, model output) made inert in Markdown."""
    flat = " ".join(_CONTROL.sub(" ", str(text)).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def render_markdown(s: Summary) -> str:
    last = s.end - dt.timedelta(days=1)
    if s.period == "day":
        title = f"Daily summary: {s.start:%A} {s.start.day} {s.start:%B %Y}"
    else:
        first = f"{s.start.day}" if s.start.month == last.month else f"{s.start.day} {s.start:%B}"
        title = f"Weekly summary: {first} to {last.day} {last:%B %Y} ({s.key})"
    out = [f"# {title}", "", f"_Generated {s.generated_at:%Y-%m-%d %H:%M} by mustelid._", "",
           "## Spending", ""]
    if not s.spending:
        out += ["No expenses recorded.", ""]
    for c in s.spending:
        out += [f"**{md(c.currency)} {c.total}** across {c.count} expense"
                f"{'s' if c.count != 1 else ''}", ""]
        for label, lines in (("Category", c.by_category), ("Merchant", c.by_merchant)):
            out += [f"| {label} | Expenses | Total |", "|---|---:|---:|"]
            out += [f"| {md(x.name)} | {x.count} | {x.total} |" for x in lines]
            out.append("")
    out += ["## Todos", ""]
    for label, items in (("New", s.new_todos), ("Overdue", s.overdue_todos)):
        out.append(f"### {label} ({len(items)})")
        out.append("")
        for t in items[:MAX_LISTED]:
            extra = ", ".join(x for x in (f"due {md(t.due)}" if t.due else "",
                                          f"priority {md(t.priority)}" if t.priority else "") if x)
            out.append(f"- {md(t.title)}" + (f" ({extra})" if extra else ""))
        if len(items) > MAX_LISTED:
            out.append(f"- and {len(items) - MAX_LISTED} more")
        out.append("" if items else "None.\n")
    out += [f"## Screenshots ({len(s.screenshots)})", ""]
    for sh in s.screenshots[:MAX_LISTED]:
        kind = f" ({md(sh.kind)})" if sh.kind else ""
        about = f": {md(sh.summary)}" if sh.summary else ""
        out.append(f"- **{md(sh.title or 'untitled')}**{kind}{about}")
    if len(s.screenshots) > MAX_LISTED:
        out.append(f"- and {len(s.screenshots) - MAX_LISTED} more")
    if not s.screenshots:
        out.append("None.")
    if s.notes:
        out += ["", "## Notes", ""] + [f"- {md(n)}" for n in s.notes]
    return "\n".join(out).rstrip() + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Readers of the outbox (sync tools, editors) see the old file or the new one, never half:
    write a temporary file beside it, fsync, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# -- the task -----------------------------------------------------------------------------------


class Summaries(Task):
    name = "summaries"
    function = "write_summary"
    description = "Summarise a day or week: spending, new and overdue todos, screenshots."
    version = "1"
    input_kind = "period"
    uses_model = False
    routable = False               # never offered for inbox files
    accepts = ()
    Output = Summary

    def prepare(self, job: JobInput, ctx: Any) -> Evidence:
        now = ctx.now()
        kind = job.params.get("period", "day")
        try:
            day = dt.date.fromisoformat(job.params["date"]) if job.params.get("date") \
                else now.date()
            start, end, key = period_bounds(kind, day)
        except (TypeError, ValueError) as e:
            raise PermanentError("bad_params", f"cannot summarise {job.params!r}: {e}") from None
        db, tz, notes = ctx.read_db(), now.tzinfo, []
        expenses = read_expenses(db, start, end, tz, notes)
        new, overdue = read_todos(db, start, end, min(now.date(), end), tz, notes)
        shots = read_screenshots(db, start, end, tz, notes)
        outbox = Path(ctx.config.outbox_dir) / "summaries" / f"{kind}-{key}.md"
        return Evidence(
            variables={"expenses": expenses, "new": new, "overdue": overdue, "shots": shots,
                       "notes": notes, "now": now, "outbox": str(outbox)},
            data={"period": kind, "key": key, "start": start.isoformat(), "end": end.isoformat(),
                  "expense_ids": [r["id"] for r in expenses],
                  "todo_ids": sorted({r["id"] for r in new + overdue}),
                  "screenshot_ids": [r["id"] for r in shots]},
        )

    def compute(self, job: JobInput, evidence: Evidence, ctx: Any) -> Summary:
        v, d = evidence.variables, evidence.data
        notes = list(v["notes"])
        summary = Summary(
            period=d["period"], key=d["key"], start=d["start"], end=d["end"],
            generated_at=v["now"], spending=spending(v["expenses"], notes),
            new_todos=[_todo(r) for r in v["new"]],
            overdue_todos=[_todo(r) for r in v["overdue"]],
            screenshots=[_shot(r) for r in v["shots"]], notes=notes, markdown="",
            outbox_file=v["outbox"],
        )
        summary.markdown = render_markdown(summary)
        return summary

    def check(self, result: Summary, evidence: Evidence) -> list[str]:
        problems = []
        for c in result.spending:
            for label, parts in (("category", c.by_category), ("merchant", c.by_merchant)):
                if sum((p.total for p in parts), Decimal(0)) != c.total or \
                        sum(p.count for p in parts) != c.count:
                    problems.append(f"{c.currency} by {label} does not add up to {c.total}")
        return problems

    def persist(self, db: Any, job: dict[str, Any], result: Summary) -> None:
        # The file first: if it cannot be written (outbox unwritable, disk full) the summary is
        # still committed and `mustelid summary` prints it; raising here would fail the job.
        written = None
        if result.outbox_file:
            try:
                write_atomic(Path(result.outbox_file), result.markdown)
                written = result.outbox_file
            except OSError as e:
                log.warning("could not write %s: %s", result.outbox_file, e)
        # One row per period: recomputing it (`summary --now`, a later fire) replaces the row.
        db["summaries"].upsert({
            "id": f"{result.period}:{result.key}",
            "period": result.period,
            "key": result.key,
            "start": result.start.isoformat(),
            "end": result.end.isoformat(),
            "job_id": job["id"],
            "generated_at": result.generated_at.isoformat(),
            "data": result.model_dump_json(exclude={"markdown"}),
            "markdown": result.markdown,
            "path": written,
        }, pk="id")


def latest(db: Any, period: str) -> dict[str, Any] | None:
    if not db["summaries"].exists():
        return None
    rows = list(db["summaries"].rows_where("period = ?", [period], order_by="start DESC",
                                           limit=1))
    return rows[0] if rows else None


# -- registration -------------------------------------------------------------------------------


@hookimpl
def register_tasks(register):
    register(Summaries())


@hookimpl
def register_migrations(register):
    from sqlite_utils.migrations import Migrations

    migrations = Migrations("summaries")

    @migrations()
    def m001_summaries(db):
        # One row per period ("day:2026-11-22", "week:2026-W47"): a recomputed summary replaces
        # the old one, so the table never holds two answers for one period. `data` is the
        # validated result as JSON (totals as decimal strings); `path` the Markdown file written
        # in the outbox, NULL if it could not be written.
        db["summaries"].create(
            {"id": str, "period": str, "key": str, "start": str, "end": str, "job_id": str,
             "generated_at": str, "data": str, "markdown": str, "path": str},
            pk="id", not_null={"period", "key", "start", "end"},
        )
        db["summaries"].create_index(["period", "start"])

    register(migrations)


@hookimpl
def register_commands(cli):
    from mustelid.cli import State, json_option, pass_state

    @cli.command()
    @click.option("--period", type=click.Choice(PERIODS), default="day", show_default=True)
    @click.option("--now", "compute_now", is_flag=True,
                  help="Compute the current period's summary now (works with the daemon stopped).")
    @json_option
    @pass_state
    def summary(state: State, period: str, compute_now: bool, as_json: bool) -> None:
        """Print the latest day or week summary: spending, todos, screenshots."""
        from mustelid.cli.output import clean, emit_json

        if compute_now:
            from mustelid.scheduler import run_now

            today = dt.datetime.now().astimezone().date()
            job = run_now(state.config, state.host, state.ledger, "summaries",
                          {"period": period, "date": today.isoformat()})
            if job["state"] != "done":
                raise click.ClickException(
                    f"summary job {job['id']} is {job['state']}: {clean(job['reason'])} "
                    f"{clean(job['last_error'])}")
            key = period_bounds(period, today)[2]
            row = next(iter(state.db["summaries"].rows_where("id = ?", [f"{period}:{key}"])))
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
