"""How far each recorded field can be trusted, and whether the receipt is filed or waits for a
person (issue 11).

Each field gets *signals* that are measured, not guessed: how sure the model was of its choice
(the choice decoder's probability), whether the code's ranking agreed (the chosen value is the
first candidate), how many candidates there were, how well the OCR read the row, and a check
from elsewhere on the receipt (the total: the printed subtotal + tax adds up to it, or the same
amount is printed twice; the date: only one date is printed; the merchant: a company word).

A logistic model per field turns the signals into a probability that the field is right. Its
weights are *fitted*, on the receipts we tune on only (``python -m
mustelid.plugins.receipts.calibrate EVAL.json``, EVAL.json being ``mustelid eval receipts
--json`` over those receipts), and kept in ``calibration.json`` beside this module, so the
number the daemon stores is an observed rate, not a score. The receipt's confidence is the
product of its fields' (all must be right); below the threshold (``[plugin.receipts]
accept_threshold``) it waits in ``needs_review``.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

FIELDS = ("total", "date", "merchant")
SIGNALS = ("model", "first", "alone", "ocr", "agrees")
# Without a fitted calibration: the model's own probability, and this threshold.
FALLBACK_THRESHOLD = 0.8
# A field left null has no evidence behind it: "not printed" and "printed but missed" look the
# same, and on sroie-dev every null field the eval saw was a missed date (1 in the 100 tuning
# receipts; 5 in the 100 held out, 2 after compact dates were read). No signal can be fitted
# on so few; an even chance holds such a receipt.
NOT_FOUND = 0.5
# A merchant name that shows its own misreading or reads as an address
# (``merchants.doubtful_name``) is not fitted either: on sroie-dev all three such names the
# model chose were wrong; the fitted confidence accepted two of those receipts (0.897) and left
# the third just under the threshold (0.889). Too few to fit a weight on: the field is capped at
# an even chance, which holds the receipt for review.
DOUBTFUL = 0.5


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def total_options(data: dict[str, Any]) -> list[str]:
    """The values a receipt's total may take, from its prepared evidence: the amounts printed as
    the total (``total_shortlist``: rows labelled as a total, their cash-rounded forms), or
    every amount when none is."""
    return data.get("totals") or [c["value"] for c in data.get("amounts", [])]


def signals(field: str, value: Any, evidence: dict[str, Any],
            row_score: float | None) -> dict[str, float]:
    """The measured signals of one chosen field value (all in 0..1 but ``model``, a logit)."""
    data = evidence
    options = {"total": total_options(data),
               "date": [c["value"] for c in data.get("dates", [])],
               "merchant": data.get("merchants") or []}[field]
    model = (data.get("model_confidence") or {}).get(field)
    if model is None:     # a single option (nothing to choose) or a backend without choices
        # No option at all is not certainty: the field is null because nothing was found, and
        # a receipt's date or total missing is more often a candidate the finder missed.
        model = 1.0 if len(options) == 1 else 0.5
    from .merchants import doubtful_name

    return {
        "found": float(value is not None),     # not a fitted signal: see NOT_FOUND
        # Not fitted either: see DOUBTFUL.
        "plausible": float(not (field == "merchant" and value and doubtful_name(str(value)))),
        "model": _logit(model),
        "first": float(bool(options) and value == options[0]),
        "alone": 1.0 / max(1, len(options)),
        "ocr": float(row_score if row_score is not None else 0.5),
        "agrees": _agrees(field, value, data),
    }


def _agrees(field: str, value: Any, data: dict[str, Any]) -> float:
    if value is None:
        return 0.0
    if field == "total":
        # Arithmetic on the receipt: subtotal + tax, or cash tendered less change, gives it.
        sums = [Decimal(s) for s in (data.get("printed_sum"), data.get("paid")) if s is not None]
        same = [c for c in data.get("amounts", []) if Decimal(c["value"]) == Decimal(value)]
        rows = {r for c in same for r in c.get("rows", [])}
        return float(Decimal(value) in sums or len(rows) >= 2)
    if field == "date":
        return float(len({c["value"] for c in data.get("dates", [])}) == 1)
    from .merchants import COMPANY_WORDS
    return float(bool(COMPANY_WORDS.search(str(value).upper())))


@cache
def calibration() -> dict[str, Any]:
    """``calibration.json`` as ``calibrate`` wrote it, or {} when there is none."""
    try:
        text = resources.files(__package__).joinpath("calibration.json").read_text("utf-8")
        return json.loads(text)
    except (FileNotFoundError, ValueError):
        return {}


def weights() -> dict[str, dict[str, float]]:
    """The fitted weights per field; a field without any gets the model's own probability."""
    return calibration().get("weights") or {}


def default_threshold() -> float:
    """The acceptance threshold picked on the tuning receipts (``accept_threshold`` overrides)."""
    return float(calibration().get("threshold", FALLBACK_THRESHOLD))


def probability(field: str, sig: dict[str, float]) -> float:
    w = weights().get(field)
    return round(fitted_probability(w or {"model": 1.0}, sig), 4)


def fitted_probability(w: dict[str, float], sig: dict[str, float]) -> float:
    """The logistic model ``w`` on the signals, with the unfitted rules (NOT_FOUND, DOUBTFUL)."""
    if not sig.get("found", 1.0):
        return NOT_FOUND
    z = w.get("bias", 0.0) + sum(w.get(name, 0.0) * sig[name] for name in SIGNALS)
    p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
    return p if sig.get("plausible", 1.0) else min(p, DOUBTFUL)


def receipt_confidence(fields: dict[str, float]) -> float:
    """All fields must be right for the receipt to be: the product of their confidences."""
    return round(math.prod(fields.values()), 4) if fields else 0.0
