"""What ``check`` adds to the per-field grounding: checks across fields, the line items (kept
only when they can all be purchases), and provenance, for a value and for its absence."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mustelid import Evidence

from .confidence import FIELDS, probability, receipt_confidence, signals
from .expense import LineItem, RecordedExpense

# Rounding slack for "the items cannot cost more than the total": cash rounding, per-item tax.
ITEMS_TOLERANCE = Decimal("0.05")


def consistency_problems(result: RecordedExpense, evidence: Evidence) -> list[str]:
    """Semantic checks across fields: the total against the subtotal + tax + service printed
    above it; the currency must be one whose mark is printed."""
    problems = []
    expected = evidence.data.get("printed_sum")
    amounts = {Decimal(c["value"]) for c in evidence.data.get("amounts", [])}
    if expected is not None and abs(result.total - Decimal(expected)) > ITEMS_TOLERANCE \
            and any(abs(a - Decimal(expected)) <= ITEMS_TOLERANCE for a in amounts):
        # Only when that sum is itself printed (as the total, or its cash-rounded form): then
        # another printed amount, not this one, is what was paid.
        problems.append(f"total {result.total} is not the subtotal plus tax and service "
                        f"printed above it ({expected})")
    printed = evidence.data.get("currencies") or []
    if printed and result.currency is not None and result.currency not in printed:
        problems.append(f"currency {result.currency} does not match the marks printed "
                        f"({', '.join(printed)})")
    return problems


def add_items(result: RecordedExpense, evidence: Evidence) -> None:
    """The priced rows as line items, with their rows as provenance. Rows that add up to more
    than the total are not all purchases (a deposit, a points line, a second copy): then none
    are kept, and provenance says why, rather than recording a wrong list."""
    lines = evidence.data.get("item_lines") or []
    items = [LineItem(name=i["name"], quantity=i["quantity"], price=Decimal(i["price"]))
             for i in lines]
    spent = sum((i.price * i.quantity for i in items), Decimal(0))
    # Prices may be line totals already (qty 2, price = both): accept either reading.
    plain = sum((i.price for i in items), Decimal(0))
    assert result.provenance is not None
    if items and min(spent, plain) > result.total * Decimal("1.01") + ITEMS_TOLERANCE:
        result.items = []
        result.provenance["items"] = {
            "dropped": f"the priced rows add up to {min(spent, plain)}, more than the total "
                       f"{result.total}: not all of them are purchases"}
        return
    result.items = items
    result.provenance["items"] = [row_provenance({"rows": [i["row"]]}, evidence) for i in lines]


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
