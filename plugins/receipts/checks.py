"""What ``check`` adds to the per-field grounding: checks across fields, the line items (kept
only when they can all be purchases), and provenance, for a value and for its absence."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from mustelid import Evidence

from .candidates import row_amounts
from .confidence import FIELDS, probability, receipt_confidence, signals, total_options
from .expense import LineItem, RecordedExpense

# Rounding slack for "the items cannot cost more than the total": cash rounding, per-item tax.
ITEMS_TOLERANCE = Decimal("0.05")


def consistency_problems(result: RecordedExpense, evidence: Evidence) -> list[str]:
    """Semantic checks across fields: the total against the subtotal + tax + service printed
    above it; the currency must be one whose mark is printed."""
    problems = []
    expected = evidence.data.get("printed_sum")
    totals = {Decimal(v) for v in total_options(evidence.data)}
    if expected is not None and abs(result.total - Decimal(expected)) > ITEMS_TOLERANCE \
            and any(abs(a - Decimal(expected)) <= ITEMS_TOLERANCE for a in totals):
        # Only when that sum is itself printed as the total: then another printed amount, not
        # this one, is what was paid. Printed anywhere was not enough: with TAX 0.00 the sum is
        # the subtotal, printed on its own row, while the tax was in a GST summary below
        # (SUB-TOTAL 45.28, TAX 0.00, TOTAL 48.00, GST 2.72): a right total sent to review.
        problems.append(f"total {result.total} is not the subtotal plus tax and service "
                        f"printed above it ({expected})")
    printed = evidence.data.get("currencies") or []
    if printed and result.currency is not None and result.currency not in printed:
        problems.append(f"currency {result.currency} does not match the marks printed "
                        f"({', '.join(printed)})")
    return problems


def add_items(result: RecordedExpense, evidence: Evidence) -> None:
    """The priced rows as line items, with their rows as provenance (see ``fitting_items``)."""
    texts = [r["text"] for r in evidence.data.get("rows") or []]
    lines, dropped = fitting_items(evidence.data.get("item_lines") or [], result.total, texts)
    assert result.provenance is not None
    result.items = [LineItem(name=i["name"], quantity=i["quantity"], price=Decimal(i["price"]))
                    for i in lines]
    if dropped:
        result.provenance["items"] = {"dropped": dropped}
        return
    result.provenance["items"] = [row_provenance({"rows": [i["row"]]}, evidence) for i in lines]


# Money taken off below the items: what the items may add up to beyond the total.
_MONEY_OFF = re.compile(r"DISC|LESS\b|VOUCHER|SAVING|PROMO")


def fitting_items(lines: list[dict[str, Any]], total: Decimal, rows: list[str] | None = None
                  ) -> tuple[list[dict[str, Any]], str | None]:
    """The item lines that can all be purchases paid by ``total`` (with ``rows``, the receipt's
    row texts, for the discounts and subtotals printed), and why none are kept when they cannot.

    The items may add up to the total plus the discounts printed, or to an amount printed on the
    receipt (the subtotal before discount and service). A line that repeats the total, or the
    sum of the lines above it, is a total or subtotal row the table did not label: it goes, the
    others stay. Rows that still add up to more are not all purchases (a deposit, a points line,
    a second copy): then none are kept rather than recording a wrong list."""
    texts = rows or []
    printed = {Decimal(v) for t in texts for v in row_amounts(t)}
    off = sum((Decimal(v) for t in texts if _MONEY_OFF.search(t.upper())
               for v in row_amounts(t)[-1:]), Decimal(0))
    ceiling = total * Decimal("1.01") + ITEMS_TOLERANCE + off

    def fits(kept: list[dict[str, Any]]) -> bool:
        plain = sum((Decimal(i["price"]) for i in kept), Decimal(0))
        # Prices are line amounts (qty 2, price = both); the unit reading is the fallback.
        spent = sum((Decimal(i["price"]) * i["quantity"] for i in kept), Decimal(0))
        return min(plain, spent) <= ceiling or plain in printed - {total} and plain > total

    if not lines or fits(lines):
        return lines, None
    kept, running = [], Decimal(0)
    for line in lines:
        price = Decimal(line["price"])
        if kept and (price == running or price == total):
            continue
        kept.append(line)
        running += price
    if kept and fits(kept):
        return kept, None
    plain = sum((Decimal(i["price"]) for i in lines), Decimal(0))
    return [], (f"the priced rows add up to {plain}, more than the total {total}: "
                f"not all of them are purchases")


def missing_provenance(field: str, evidence: Evidence) -> dict[str, str]:
    """Why a field is null: provenance for an absence."""
    data = evidence.data
    if field == "date":
        why = "a date is printed but none was chosen as the purchase date" \
            if data.get("dates") else "no date legible on the receipt"
    elif field == "merchant":
        why = "no header row looks like a business name"
    else:
        why = "no currency mark printed and no default_currency configured"
    return {"missing": why}


def row_provenance(candidate: dict[str, Any] | None, evidence: Evidence) -> dict[str, Any] | None:
    """The first row a value was printed on, with its OCR line boxes (0-1000 grid)."""
    if not candidate or not candidate.get("rows"):
        return None
    row = evidence.data["rows"][candidate["rows"][0]]
    lines = evidence.data["lines"]
    return {"text": row["text"], "boxes": [lines[i]["box"] for i in row["lines"]],
            "ocr_score": min((lines[i]["score"] for i in row["lines"]), default=None)}


def add_confidence(result: RecordedExpense, evidence: dict[str, Any]) -> None:
    """Each field's measured signals and calibrated confidence, kept in its provenance, and
    the receipt's (``provenance["confidence"]``): see ``confidence``."""
    assert result.provenance is not None
    if "model_confidence" not in evidence:
        # The backend does not say how sure it was (no choice decoding): the calibration was
        # fitted on those probabilities and does not apply, so nothing is claimed.
        return
    sure = {}
    for name in FIELDS:
        value = getattr(result, name)
        value = value.isoformat() if name == "date" and value is not None else value
        value = str(value) if value is not None else None
        where = result.provenance.get(name)
        where = where if isinstance(where, dict) else {}
        sig = signals(name, value, evidence, where.get("ocr_score"))
        sure[name] = probability(name, sig)
        result.provenance[name] = {**where, "signals": {k: round(v, 4) for k, v in sig.items()},
                                   "confidence": sure[name]}
    result.provenance["confidence"] = receipt_confidence(sure)
