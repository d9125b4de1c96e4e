"""Line items: the priced rows above the total, with a name, a quantity and a price.

Filled by code from the evidence, never generated: copying items cost a 0.5B model more answer
tokens than the rest of the answer, for the field it got wrong most often.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .candidates import Candidate, Row, has_amount, row_amounts, row_label
from .expense import MAX_ITEMS, MAX_QUANTITY
from .totals import PAYMENT_LABEL, ROUNDING_LABEL, TAX_LABEL, is_total_label, total_labels


def item_prices(amounts: list[Candidate], rows: list[Row]) -> list[Candidate]:
    """Amounts an item can cost: printed above the first total row, on a row that is not a
    total, tax, rounding or payment line. The total, the cash handed over and the change are
    never an item's price; offering them let the model list items that cost more than the total."""
    labelled = total_labels(rows)
    end = min(labelled) if labelled else len(rows)
    out = []
    for c in amounts:
        ok = [r for r in c.rows if r < end and not TAX_LABEL.search(rows[r].text.upper())
              and not PAYMENT_LABEL.search(rows[r].text.upper())
              and not ROUNDING_LABEL.search(rows[r].text.upper())
              and not is_total_label(rows[r].text) and Decimal(c.value) > 0]
        if ok:
            out.append(c)
    return out


# A quantity printed on an item row: "2 X", "1 PC", "QTY 2", or a lone small integer.
_QUANTITY = re.compile(r"(?<![\w.,/])(\d{1,2})\s?(?:[xX*@]|PCS?\b|UNITS?\b)|\bQTY\s*:?\s*(\d{1,2})\b"
                       r"|(?<![\w.,/-])(\d{1,2})(?![\w.,/:-])")
# "Item(s) : 4  Qty(s) : 5": a count of the items, not one of them.
_ITEM_SUMMARY = re.compile(r"\bITEMS?\b\s*\(?S?\)?\s*:|\bQTY\(?S?\)?\s*:|\bNO\.? OF ITEMS")
# Barcodes and article numbers (6+ digits) say nothing a reader of the item list needs.
_CODE = re.compile(r"(?<![\w.])\d{6,}(?![\w.])")


def item_lines(prices: list[Candidate], rows: list[Row]) -> list[dict[str, Any]]:
    """Priced rows that can be purchased items: name, quantity, price, and the row.

    The price is the row's last amount (the line total) among ``prices`` (``item_prices``);
    the name is the row's words, or the next row's when the priced row holds only a code and
    numbers (item tables often print the description on its own line); the quantity is a
    small standalone integer on the row ("2 x", "QTY 2", "1 PC"), else 1."""
    allowed = {c.value for c in prices}
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        on_row = [v for v in row_amounts(row.text) if v in allowed]
        if not on_row or _ITEM_SUMMARY.search(row.text.upper()):
            continue
        label = _CODE.sub(" ", row_label(row.text))
        if sum(ch.isalpha() for ch in label) < 4 and i + 1 < len(rows) \
                and not has_amount(rows[i + 1].text) \
                and not _ITEM_SUMMARY.search(rows[i + 1].text.upper()):
            label = f"{rows[i + 1].text} {label}".strip()
        qty = _QUANTITY.search(label)
        quantity = int(next(g for g in qty.groups() if g)) if qty else 1
        if qty:
            label = label[:qty.start()] + " " + label[qty.end():]
        name = " ".join(label.split())[:40].strip()
        if sum(ch.isalpha() for ch in name) < 2:
            continue
        item = {"name": name, "quantity": quantity if 1 <= quantity <= MAX_QUANTITY else 1,
                "price": on_row[-1]}
        if any(item == {k: o[k] for k in item} for o in out):
            continue
        out.append({**item, "row": i})
        if len(out) == MAX_ITEMS:
            break
    return out
