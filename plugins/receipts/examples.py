"""Corrected examples: a receipt from the same shop that a person corrected in review
(``mustelid review``) shows the model which printed line that shop's total is on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mustelid import TaskContext
from mustelid.records import corrected_examples

from .candidates import Candidate, Row, row_label
from .evaluate import merchant_key
from .merchants import squash


def corrected_example(ctx: TaskContext, merchants: list[str]) -> dict[str, Any] | None:
    """The newest receipt from one of these merchants that a person corrected in review,
    reduced to what helps here: its answer and the words printed beside its total. None
    without a database, a correction, or a matching merchant."""
    read_db = getattr(ctx, "read_db", None)
    config = getattr(ctx, "config", None)
    db_path = getattr(config, "db_path", None)
    if read_db is None or db_path is None or not merchants:
        return None
    try:
        if not db_path.exists():
            return None
        found = corrected_examples(read_db(), "receipts", [merchant_key(m) for m in merchants])
    except Exception:   # an example is a hint: a locked or old database must not fail the job
        return None
    if not found:
        return None
    ex = found[0]
    data, evidence = ex["data"], ex["evidence"]
    label = None
    rows = evidence.get("rows", [])
    for cand in evidence.get("amounts", []):
        if data.get("total") is not None and Decimal(cand["value"]) == Decimal(data["total"]):
            label = row_label(rows[cand["rows"][0]]["text"]) if cand.get("rows") else None
            break
    return {"job_id": ex["job_id"], "merchant": data.get("merchant"), "total": data.get("total"),
            "date": data.get("date"), "currency": data.get("currency"), "total_label": label,
            "corrected": ex["corrected"]}


def prefer_label(totals: list[Candidate], rows: list[Row], label: str | None) -> list[Candidate]:
    """Put first the candidate printed beside the same words as the corrected example's total
    ("TOTAL ROUNDED"): the same shop prints its receipts the same way."""
    if not label:
        return totals
    want = squash(label)
    same = [c for c in totals if any(squash(row_label(rows[r].text)) == want for r in c.rows)]
    return same + [c for c in totals if c not in same] if same else totals


def example_text(example: dict[str, Any]) -> str:
    lines = [f"A person checked an earlier receipt from {example['merchant']} and corrected "
             f"{', '.join(example['corrected'])}. Its right answer:"]
    if example.get("total_label"):
        lines.append(f"- total {example['total']}, printed beside \"{example['total_label']}\"")
    else:
        lines.append(f"- total {example['total']}")
    if example.get("date"):
        lines.append(f"- date {example['date']}")
    lines.append("This shop prints its receipts the same way: choose the same kind of line here.")
    return "\n".join(lines)
