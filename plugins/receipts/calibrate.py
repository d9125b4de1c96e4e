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
are at least ``--target`` right on the tuning receipts, among the thresholds accepting at least
``--min-acceptance`` of them; when none reaches it, the one of those with the most accurate
accepted receipts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from .confidence import FIELDS, SIGNALS, fitted_probability

L2 = 1.0         # ridge penalty on the weights (not the bias)
STEPS = 50


def samples(report: dict[str, Any], field: str) -> list[tuple[list[float], int]]:
    out = []
    for row in report.get("results", []):
        scored = (row.get("fields") or {}).get(field)
        if scored and scored.get("signals") and scored["signals"].get("found", 1.0):
            out.append(([scored["signals"][s] for s in SIGNALS], int(bool(scored["match"]))))
    return out


def fit(data: list[tuple[list[float], int]]) -> dict[str, float]:
    """Newton's method (iteratively reweighted least squares) on the penalised log loss: a few
    features and a few hundred rows converge in a handful of steps.

    The targets are Platt's smoothed ones, (N+ + 1) / (N+ + 2) for a right field and
    1 / (N- + 2) for a wrong one, not 1 and 0: when every tuning sample of a field is right
    (a hundred dates, all found and right), plain targets drive the bias to infinity and every
    later answer, wrong ones included, to a confidence of 1.0. Smoothed, a field right 100 times
    in 100 is fitted towards 101/102, not 1."""
    k = len(SIGNALS) + 1                     # the bias last, not penalised
    positives = sum(1 for _, y in data if y)
    negatives = len(data) - positives
    right, wrong = (positives + 1) / (positives + 2), 1 / (negatives + 2)
    beta = [0.0] * k
    for _ in range(STEPS):
        grad = [L2 * b for b in beta[:-1]] + [0.0]
        hess = [[(L2 if i == j and i < k - 1 else 0.0) for j in range(k)] for i in range(k)]
        for x, y in data:
            xs = [*x, 1.0]
            z = sum(b * v for b, v in zip(beta, xs))
            p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
            for i in range(k):
                grad[i] += (p - (right if y else wrong)) * xs[i]
                for j in range(k):
                    hess[i][j] += p * (1 - p) * xs[i] * xs[j]
        step = _solve(hess, grad)
        beta = [b - s for b, s in zip(beta, step)]
        if max(abs(s) for s in step) < 1e-6:
            break
    return {"bias": round(beta[-1], 4), **{s: round(b, 4) for s, b in zip(SIGNALS, beta)}}


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the matrix is small and positive definite)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[pivot] = m[pivot], m[c]
        if abs(m[c][c]) < 1e-12:
            continue
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            for j in range(c, n + 1):
                m[r][j] -= f * m[c][j]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        if abs(m[r][r]) >= 1e-12:
            x[r] = (m[r][n] - sum(m[r][j] * x[j] for j in range(r + 1, n))) / m[r][r]
    return x


def trade_off(report: dict[str, Any], weights: dict[str, dict[str, float]]
              ) -> list[dict[str, float]]:
    """For each candidate threshold: the share of receipts accepted and of their fields right."""
    receipts = []
    for row in report.get("results", []):
        fields = row.get("fields") or {}
        if not all(fields.get(f, {}).get("signals") for f in FIELDS):
            continue       # failed or refused: nothing to accept
        sure = math.prod(fitted_probability(weights[f], fields[f]["signals"]) for f in FIELDS)
        receipts.append((sure, sum(bool(fields[f]["match"]) for f in FIELDS)))
    total = len(report.get("results", [])) or 1
    table = []
    grid = {0.0, 0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99}
    grid |= {round(sure, 2) for sure, _ in receipts}    # every threshold that changes something
    for threshold in sorted(grid):
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
    parser.add_argument("--min-acceptance", type=float, default=0.5,
                        help="accept at least this share of the tuning receipts (default 0.5)")
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
    # A threshold that files only a few receipts is no default: 16 accepted receipts all right
    # is no evidence of 99 %, and a user would review nearly everything.
    useful = [t for t in table if t["acceptance_rate"] >= args.min_acceptance]
    reached = [t for t in useful if t["accepted_accuracy"] is not None
               and t["accepted_accuracy"] >= args.target]
    if reached:
        threshold = reached[0]["threshold"]
    else:
        # The target is out of reach: the surest threshold that still files a useful share,
        # rather than one that holds every receipt.
        threshold = max(useful, key=lambda t: (t["accepted_accuracy"] or 0, t["threshold"])
                        )["threshold"] if useful else 0.0
    json.dump({"fitted_on": args.report, "cases": len(report.get("results", [])),
               "target": args.target, "target_reached": bool(reached), "threshold": threshold, "weights": weights,
               "trade_off": table}, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
