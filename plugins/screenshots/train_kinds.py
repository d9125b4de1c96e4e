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

from mustelid import learn

from .kind_model import probabilities

C = 0.3


def samples(report: dict[str, Any]) -> list[tuple[dict[str, float], str]]:
    """(features, labelled kind) of every screen whose features the report kept."""
    out = []
    for row in report.get("results", []):
        kind = (row.get("fields") or {}).get("kind") or {}
        if kind.get("features") and kind.get("expected"):
            out.append((kind["features"], kind["expected"]))
    return out


def fit(data: list[tuple[dict[str, float], str]], c: float = C) -> dict[str, Any]:
    return learn.fit(data, c, screens=len(data))


def right(model: dict[str, Any], held: list[tuple[dict[str, float], str]]) -> int:
    """How many of ``held`` (features, labelled kind) ``model`` names the right kind of."""
    count = 0
    for feats, kind in held:
        probs = probabilities(feats, model)
        count += max(probs, key=lambda k: probs[k]) == kind
    return count


def left_out(batches: dict[str, list[tuple[dict[str, float], str]]]) -> dict[str, tuple[int, int]]:
    """Per batch: screens right, screens, predicted by a fit on the other batches."""
    out = {}
    for name, held in batches.items():
        model = fit([s for other, rows in batches.items() if other != name for s in rows])
        out[name] = (right(model, held), len(held))
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
