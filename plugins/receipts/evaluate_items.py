"""How ``mustelid eval`` judges a receipt's line items against labelled ones (docs/EVAL.md,
"Line items, measured"; labels such as examples/eval/sroie-items/).

A produced item matches a labelled item when both hold:
- price: the same amount (``9.000`` == ``9.00`` == ``RM 9.00``), read like the total;
- name: after ``name_key`` (case, whitespace and punctuation ignored) the names are equal, or
  one contains the other and the shorter keeps at least ``NAME_SHARE`` of the longer's
  characters. Containment forgives a code or a tax mark printed inside the name line, or a
  name cut at the schema's length; the share keeps a word or two from matching a long name.
Matching is one to one (a maximum matching: each labelled line is found at most once, so two
copies of one produced line do not both count). Metrics, summed over the labelled receipts:
``items_precision`` = matched / produced, ``items_recall`` = matched / labelled,
``items_quantity`` = matched items whose quantity equals the label's / matched.
"""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from typing import Any

from .evaluate import money

ITEMS = "items"          # the labels' key, and the name of the item detail in a report row
NAME_SHARE = 0.8         # shortest share of the longer name a contained name must keep


def name_key(name: Any) -> str:
    """Letters and digits only, case folded: "KF Modelling-Clay (1 pc)" -> "kfmodellingclay1pc"."""
    return "".join(ch for ch in str(name or "").casefold() if ch.isalnum())


def names_match(label: Any, produced: Any) -> bool:
    a, b = name_key(label), name_key(produced)
    if not a or not b:
        return False
    short, long = sorted((a, b), key=len)
    return short == long or (short in long and len(short) >= NAME_SHARE * len(long))


def amount(value: Any) -> Decimal | None:
    text = money(value)
    try:
        return Decimal(text) if text is not None else None
    except InvalidOperation:
        return None


def same_item(label: dict[str, Any], produced: dict[str, Any]) -> bool:
    price = amount(label.get("price"))
    return price is not None and price == amount(produced.get("price")) \
        and names_match(label.get("name"), produced.get("name"))


def same_quantity(label: dict[str, Any], produced: dict[str, Any]) -> bool:
    try:
        return Decimal(str(label.get("quantity", 1))) == Decimal(str(produced.get("quantity", 1)))
    except InvalidOperation:
        return False


def match(labelled: list[dict[str, Any]], produced: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(labelled index, produced index) pairs of a maximum one-to-one matching (augmenting
    paths): greedy first-come pairing could take the only partner of a later line."""
    fits = [[j for j, p in enumerate(produced) if same_item(label, p)] for label in labelled]
    owner: dict[int, int] = {}   # produced index -> labelled index

    def claim(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or claim(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i in range(len(labelled)):
        claim(i, set())
    return sorted((i, j) for j, i in owner.items())


def _show(item: dict[str, Any]) -> str:
    return f"{item.get('name')!s} x{item.get('quantity', 1)} {item.get('price')!s}"


def score_items(labelled: list[dict[str, Any]], data: dict[str, Any] | None
                ) -> tuple[dict[str, tuple[int, int]], dict[str, Any]]:
    """One receipt's item counters and its report detail. No answer (failed, or held for a
    reason other than low confidence) produced no items: every labelled line is missed."""
    produced = [i for i in ((data or {}).get(ITEMS) or []) if isinstance(i, dict)]
    pairs = match(labelled, produced)
    quantity_right = sum(same_quantity(labelled[i], produced[j]) for i, j in pairs)
    found = {i for i, _ in pairs}
    used = {j for _, j in pairs}
    missed = [_show(x) for i, x in enumerate(labelled) if i not in found]
    extra = [_show(x) for j, x in enumerate(produced) if j not in used]
    wrong_qty = [f"{labelled[i].get('name')}: x{produced[j].get('quantity')} for "
                 f"x{labelled[i].get('quantity', 1)}" for i, j in pairs
                 if not same_quantity(labelled[i], produced[j])]
    why = "; ".join(part for part in (
        f"missed {', '.join(missed)}" if missed else "",
        f"extra {', '.join(extra)}" if extra else "",
        f"quantity {', '.join(wrong_qty)}" if wrong_qty else "") if part)
    detail = {"expected": labelled, "got": produced,
              "match": not missed and not extra and not wrong_qty,
              "labelled": len(labelled), "produced": len(produced), "matched": len(pairs),
              "quantity_right": quantity_right, "why": why or None}
    counters = {"items_precision": (len(pairs), len(produced)),
                "items_recall": (len(pairs), len(labelled)),
                "items_quantity": (quantity_right, len(pairs))}
    return counters, detail


def wilson(hits: int, of: int, z: float = 1.96) -> list[float] | None:
    """The Wilson score interval (95 % by default) of a rate hits / of."""
    if not of:
        return None
    p = hits / of
    centre = (p + z * z / (2 * of)) / (1 + z * z / of)
    spread = z * math.sqrt(p * (1 - p) / of + z * z / (4 * of * of)) / (1 + z * z / of)
    return [round(max(0.0, centre - spread), 4), round(min(1.0, centre + spread), 4)]


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The items' figures over report rows, with 95 % Wilson intervals (items counted as
    independent trials; lines of one receipt are not, so the intervals are a lower bound on
    the uncertainty). Empty when no row had item labels: reports without them keep their keys."""
    scored = [r["fields"][ITEMS] for r in rows if ITEMS in r.get("fields", {})]
    if not scored:
        return {}
    labelled = sum(d["labelled"] for d in scored)
    produced = sum(d["produced"] for d in scored)
    matched = sum(d["matched"] for d in scored)
    quantity_right = sum(d["quantity_right"] for d in scored)

    def rate(hits: int, of: int) -> float | None:
        return round(hits / of, 4) if of else None

    return {"items_receipts": len(scored), "items_labelled": labelled,
            "items_produced": produced, "items_matched": matched,
            "items_precision": rate(matched, produced), "items_recall": rate(matched, labelled),
            "items_quantity_accuracy": rate(quantity_right, matched),
            "items_wilson95": {"precision": wilson(matched, produced),
                               "recall": wilson(matched, labelled)}}
