"""Fit the receipts confidence (``confidence.py``) on receipts you tune on, and pick the
acceptance threshold there.

    mustelid eval receipts DIR --names '*[13579]' --json > tune.json
    python -m mustelid.plugins.receipts.calibrate tune.json > calibration.json

then copy ``calibration.json`` beside ``confidence.py`` (or keep the printed table) and check
the result on receipts you did not tune on (``mustelid eval receipts DIR --names '*[02468]'``:
``accepted_accuracy``, ``acceptance_rate`` and ``reliability``).

Per field, a logistic regression of "the field was right" on its signals, with an L2 penalty
(a hundred receipts have few wrong fields: the penalty keeps one odd receipt from deciding a
weight). The threshold is the lowest receipt confidence at which the accepted receipts' fields
are at least ``--target`` right on the tuning receipts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from .confidence import FIELDS, SIGNALS

L2 = 0.5         # penalty on the weights (not the bias), per receipt-sized sample
STEPS = 3000
RATE = 0.1


def samples(report: dict[str, Any], field: str) -> list[tuple[list[float], int]]:
    out = []
    for row in report.get("results", []):
        scored = (row.get("fields") or {}).get(field)
        if scored and scored.get("signals"):
            out.append(([scored["signals"][s] for s in SIGNALS], int(bool(scored["match"]))))
    return out


def fit(data: list[tuple[list[float], int]]) -> dict[str, float]:
    """Plain gradient descent on the penalised log loss: a few features, a few hundred rows."""
    n = len(data)
    w = [0.0] * len(SIGNALS)
    b = 0.0
    for _ in range(STEPS):
        gw, gb = [L2 * x / n for x in w], 0.0
        for x, y in data:
            z = b + sum(wi * xi for wi, xi in zip(w, x))
            p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
            for i, xi in enumerate(x):
                gw[i] += (p - y) * xi / n
            gb += (p - y) / n
        w = [wi - RATE * g for wi, g in zip(w, gw)]
        b -= RATE * gb
    return {"bias": round(b, 4), **{s: round(wi, 4) for s, wi in zip(SIGNALS, w)}}


def _probability(weights: dict[str, float], signals: dict[str, float]) -> float:
    z = weights["bias"] + sum(weights[s] * signals[s] for s in SIGNALS)
    return 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))


def trade_off(report: dict[str, Any], weights: dict[str, dict[str, float]]
              ) -> list[dict[str, float]]:
    """For each candidate threshold: the share of receipts accepted and of their fields right."""
    receipts = []
    for row in report.get("results", []):
        fields = row.get("fields") or {}
        if not all(fields.get(f, {}).get("signals") for f in FIELDS):
            continue       # failed or refused: nothing to accept
        sure = math.prod(_probability(weights[f], fields[f]["signals"]) for f in FIELDS)
        receipts.append((sure, sum(bool(fields[f]["match"]) for f in FIELDS)))
    total = len(report.get("results", [])) or 1
    table = []
    for threshold in (0.0, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99):
        kept = [right for sure, right in receipts if sure >= threshold]
        table.append({"threshold": threshold, "acceptance_rate": round(len(kept) / total, 4),
                      "accepted_accuracy": round(sum(kept) / (len(FIELDS) * len(kept)), 4)
                      if kept else None})
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", help="mustelid eval receipts ... --json output")
    parser.add_argument("--target", type=float, default=0.99,
                        help="accepted receipts' field accuracy to reach (default 0.99)")
    args = parser.parse_args(argv)
    with open(args.report, encoding="utf-8") as f:
        report = json.load(f)
    weights = {}
    for field in FIELDS:
        data = samples(report, field)
        if not data:
            print(f"no {field} signals in {args.report}: run the eval at this version",
                  file=sys.stderr)
            return 1
        weights[field] = fit(data)
    table = trade_off(report, weights)
    reached = [t for t in table if t["accepted_accuracy"] is not None
               and t["accepted_accuracy"] >= args.target]
    threshold = reached[0]["threshold"] if reached else table[-1]["threshold"]
    json.dump({"fitted_on": args.report, "cases": len(report.get("results", [])),
               "target": args.target, "threshold": threshold, "weights": weights,
               "trade_off": table}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
