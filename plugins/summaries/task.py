"""The ``summaries`` task: computed from the database, without the model."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

from mustelid import Evidence, JobInput, PermanentError, Task, TaskContext, period_bounds

from .markdown import render_markdown, write_atomic
from .reading import (read_expenses, read_screenshots, read_todos, screenshot_item, spending,
                      todo_item)
from .result import Summary

log = logging.getLogger("mustelid.plugins.summaries")


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

    def prepare(self, job: JobInput, ctx: TaskContext) -> Evidence:
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

    def compute(self, job: JobInput, evidence: Evidence, ctx: TaskContext) -> Summary:
        v, d = evidence.variables, evidence.data
        notes = list(v["notes"])
        summary = Summary(
            period=d["period"], key=d["key"], start=d["start"], end=d["end"],
            generated_at=v["now"], spending=spending(v["expenses"], notes),
            new_todos=[todo_item(r) for r in v["new"]],
            overdue_todos=[todo_item(r) for r in v["overdue"]],
            screenshots=[screenshot_item(r) for r in v["shots"]], notes=notes, markdown="",
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
