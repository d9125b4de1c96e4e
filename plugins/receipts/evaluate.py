"""How receipts are judged by ``mustelid eval`` and keyed for review examples.

Comparison rules (docs/EVAL.md), chosen to match how a person checks a receipt:
- total: the decimal amount; currency marks, letters, spaces and thousands separators are
  ignored ("RM 1,234.50" == "1234.5"); a lone comma before 1-2 final digits is a decimal comma.
- date: the calendar day. Printed forms (25/12/2018, 29 MAR 2018, 17-03-18, 2018-03-30) are
  read with the receipts task's own date reader, day first unless only the other order is a
  real date (12/28/2017).
- merchant: case and whitespace ignored ("BOOK TA .K(TAMAN DAYA)" == "book ta.k (taman daya)").
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from .candidates import Row, find_dates
from .merchants import squash

# SROIE's labels (company, date, address, total as printed) -> the task's fields. Address is
# not something record_expense records, so it is not scored.
SROIE_FIELDS = {"company": "merchant", "date": "date", "total": "total"}


def truth(labels: dict[str, Any], own_fields: set[str]) -> dict[str, Any]:
    if "company" in labels and "merchant" not in labels:
        out = {ours: labels[theirs] for theirs, ours in SROIE_FIELDS.items() if theirs in labels}
    else:
        out = {k: v for k, v in labels.items() if k in own_fields}
    if "items" in labels:   # line items, scored by evaluate_items (e.g. examples/eval/sroie-items)
        items = labels["items"]
        if not isinstance(items, list) or not all(
                isinstance(i, dict) and i.get("name") and i.get("price") is not None
                for i in items):
            raise ValueError('"items" must be a list of {"name", "quantity", "price"} objects')
        out["items"] = items
    return out


def money(value: Any) -> str | None:
    if value is None:
        return None
    text = re.sub(r"[^0-9.,]", "", str(value))
    if not re.search(r"\d", text):
        return str(value).strip().casefold() or None
    if "." in text and "," in text:
        decimal_mark = "." if text.rfind(".") > text.rfind(",") else ","
        thousands = "," if decimal_mark == "." else "."
        text = text.replace(thousands, "").replace(decimal_mark, ".")
    elif "," in text:
        text = text.replace(",", ".") if re.search(r",\d{1,2}$", text) and text.count(",") == 1 \
            else text.replace(",", "")
    elif text.count(".") > 1:
        text = text.replace(".", "")   # 1.234.567: dots as thousands separators
    try:
        amount = Decimal(text.strip("."))
    except InvalidOperation:
        return str(value).strip().casefold()
    if amount.as_tuple().exponent > -2:
        amount = amount.quantize(Decimal("0.01"))
    return str(amount)


def day(value: Any, order: str = "DMY") -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return text
    found = find_dates([Row(text, [])], order)
    return found[0].value if found else text.casefold()


def text(value: Any) -> str | None:
    if value is None:
        return None
    return "".join(str(value).split()).casefold()


def normalise(field: str, value: Any) -> Any:
    if field == "total":
        return money(value)
    if field == "date":
        return day(value)
    return text(value)


def merchant_key(merchant: Any) -> str | None:
    """The merchant as letters and digits only: the same shop however OCR spaced its name."""
    if not merchant:
        return None
    return squash(str(merchant)) or None


# Confidence bins of the reliability table: where a threshold would sit, finely near 1.
BINS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0001)


def add_confidence(detail: dict[str, dict[str, Any]], data: dict[str, Any] | None) -> None:
    """Each scored field's stored confidence and signals, for the reliability table and for
    fitting the calibration (``calibrate``)."""
    provenance = (data or {}).get("provenance") or {}
    for name, row in detail.items():
        where = provenance.get(name)
        if isinstance(where, dict) and "confidence" in where:
            row["confidence"] = where["confidence"]
            row["signals"] = where.get("signals")


def acceptance(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``accepted_accuracy`` (share of fields right among accepted receipts), ``acceptance_rate``
    and the reliability table (field confidence bin -> observed accuracy)."""
    accepted = [r for r in rows if r.get("accepted")]
    # Fields only: the line items are scored apart (evaluate_items), not as one field.
    fields = [f for r in accepted for name, f in r["fields"].items() if name != "items"]
    scored = [f for r in rows for f in r["fields"].values() if "confidence" in f]
    table = []
    for low, high in zip(BINS, BINS[1:]):
        inside = [f for f in scored if low <= f["confidence"] < high]
        if inside:
            table.append({"from": low, "to": min(high, 1.0), "fields": len(inside),
                          "mean_confidence": round(sum(f["confidence"] for f in inside)
                                                   / len(inside), 4),
                          "accuracy": round(sum(bool(f["match"]) for f in inside)
                                            / len(inside), 4)})
    return {
        "accepted_accuracy": round(sum(bool(f["match"]) for f in fields) / len(fields), 4)
        if fields else None,
        "acceptance_rate": round(len(accepted) / len(rows), 4) if rows else None,
        "reliability": table,
    }
