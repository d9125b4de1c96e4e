"""The summary as Markdown, and its atomic write to the outbox."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

from .result import Summary

MAX_LISTED = 100       # todos / screenshots listed per section; the rest are counted

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")


def md(text: Any) -> str:
    """One line of untrusted text (OCR, model output) made inert in Markdown."""
    flat = " ".join(_CONTROL.sub(" ", str(text)).split())
    return _MD_SPECIAL.sub(r"\\\1", flat)


def render_markdown(s: Summary) -> str:
    out = [f"# {_title(s)}", "", f"_Generated {s.generated_at:%Y-%m-%d %H:%M} by mustelid._", "",
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


def _title(s: Summary) -> str:
    if s.period == "day":
        return f"Daily summary: {s.start:%A} {s.start.day} {s.start:%B %Y}"
    last = s.end - dt.timedelta(days=1)
    first = f"{s.start.day}" if s.start.month == last.month else f"{s.start.day} {s.start:%B}"
    return f"Weekly summary: {first} to {last.day} {last:%B %Y} ({s.key})"


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
