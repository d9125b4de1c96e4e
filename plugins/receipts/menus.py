"""The candidates as the prompt shows them: most likely first, with the words printed beside
them, so that a small model chooses among values it can see on the receipt."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .candidates import Candidate, Row, row_label
from .merchants import COMPANY_WORDS
from .totals import total_labels

MAX_ITEMS_SHOWN = 3   # item names in the prompt, for the category: ~6 prompt tokens each


def amount_menu(amounts: list[Candidate], rows: list[Row], only_totals: bool = False,
                paid: Decimal | None = None) -> str:
    """One line per amount: the value and the words printed beside it; ``paid`` (cash given less
    change, by arithmetic) is marked, since its own label may say SUBTOTAL or be unreadable."""
    texts = {i: r.text for i, r in enumerate(rows)}
    if only_totals:
        texts.update(total_labels(rows))
    totals = total_labels(rows) if only_totals else {}
    lines = []
    for c in amounts:
        shown = [r for r in c.rows if not only_totals or r in totals] or c.rows
        labels = "; ".join(dict.fromkeys(row_label(texts[r]) for r in shown[:3]))
        if paid is not None and Decimal(c.value) == paid:
            labels += "; equals cash given less change"
        lines.append(f"{c.value}  ({labels})")
    return "\n".join(lines)


def item_menu(items: list[dict[str, Any]]) -> str:
    # Names only, a few: they tell the model what kind of shop this is (the category).
    return "; ".join(i["name"][:20] for i in items[:MAX_ITEMS_SHOWN]) or "(none)"


def merchant_menu(rows: list[str]) -> str:
    if not rows:
        return "(none legible)"
    marked = [f"{r}{'  (company word)' if COMPANY_WORDS.search(r.upper()) else ''}" for r in rows]
    return "\n".join(marked)


def date_menu(dates: list[Candidate]) -> str:
    if not dates:
        return "(none found: use null)"
    return "\n".join(f"{c.value}  (printed {c.printed})" for c in dates)


def currency_hint(found: list[str], default: str) -> str:
    if found:
        return "Currency marks: " + ", ".join(found) + "."
    if default:
        return f"Currency marks: none (usual here: {default})."
    return "Currency marks: none."
