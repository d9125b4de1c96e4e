"""Fit the kind of screen (``kind_model.py``) on labelled screens, one eval report per batch:

    mustelid eval screenshots screens-dev/ --json > dev.json      # one report per folder
    python -m mustelid.plugins.screenshots.train_kinds dev.json fresh.json ... > kind_model.json

then copy ``kind_model.json`` beside ``kind_model.py``. Each report row carries the screen's
features (the eval's ``kind`` detail) and its labelled kind. Before fitting on all of them,
each report is left out in turn and predicted by a fit on the others: that score, per report,
goes to stderr and is the one to believe (a batch made after the fit is the next best).

A softmax regression on standardised features with an L2 penalty, as scikit-learn's
``LogisticRegression(C=...)`` fits it (``C=0.3``; 0.1 to 3 scored 168-170 of 192 screens
left out, batch by batch, on the seven batches before screens-fresh7). Gradient descent in numpy: a few hundred screens and a few
dozen features.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .kind_model import probabilities

C = 0.3
STEPS = 4000


def samples(report: dict[str, Any]) -> list[tuple[dict[str, float], str]]:
    """(features, labelled kind) of every screen whose features the report kept."""
    out = []
    for row in report.get("results", []):
        kind = (row.get("fields") or {}).get("kind") or {}
        if kind.get("features") and kind.get("expected"):
            out.append((kind["features"], kind["expected"]))
    return out


def fit(data: list[tuple[dict[str, float], str]], c: float = C) -> dict[str, Any]:
    import numpy as np       # a dependency of OCR; only fitting needs it

    names = sorted(data[0][0])
    kinds = sorted({kind for _, kind in data})
    x = np.array([[f.get(n, 0.0) for n in names] for f, _ in data], float)
    mean, scale = x.mean(0), x.std(0)
    scale[scale == 0] = 1.0
    x = (x - mean) / scale
    y = np.zeros((len(data), len(kinds)))
    y[np.arange(len(data)), [kinds.index(kind) for _, kind in data]] = 1
    w, b = np.zeros((len(names), len(kinds))), np.zeros(len(kinds))
    penalty = 1 / (c * len(data))        # sklearn's C * sum(loss) + |w|^2 / 2, per sample
    rate = 0.5
    for _ in range(STEPS):
        z = x @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= rate * (x.T @ (p - y) / len(data) + penalty * w)
        b -= rate * (p - y).mean(0)
    return {"features": names, "kinds": kinds, "mean": mean.round(6).tolist(),
            "scale": scale.round(6).tolist(), "weights": w.T.round(6).tolist(),
            "bias": b.round(6).tolist(), "C": c, "screens": len(data)}


def left_out(batches: dict[str, list[tuple[dict[str, float], str]]]) -> dict[str, tuple[int, int]]:
    """Per batch: screens right, screens, predicted by a fit on the other batches."""
    out = {}
    for name, held in batches.items():
        model = fit([s for other, rows in batches.items() if other != name for s in rows])
        right = 0
        for feats, kind in held:
            probs = probabilities(feats, model)
            right += max(probs, key=lambda k: probs[k]) == kind
        out[name] = (right, len(held))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path,
                        help="`mustelid eval screenshots DIR --json` reports, one per batch")
    args = parser.parse_args(argv)
    batches = {str(p): samples(json.loads(p.read_text("utf-8"))) for p in args.reports}
    if len(batches) > 1:
        scores = left_out(batches)
        for name, (right, count) in scores.items():
            print(f"left out {name}: {right}/{count}", file=sys.stderr)
        right = sum(r for r, _ in scores.values())
        print(f"left out, all: {right}/{sum(n for _, n in scores.values())}", file=sys.stderr)
    model = fit([s for rows in batches.values() for s in rows])
    json.dump(model, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
