"""Fit whether a note holds to-dos (``note_model.py``) on labelled notes, one eval report per
batch:

    mustelid eval todos notes-dev/ --json > dev.json        # one report per folder
    python -m mustelid.plugins.todos.train_notes dev.json fresh.json ... > note_model.json

then copy ``note_model.json`` beside ``note_model.py``. Each report row carries the note's
features and whether its label says it has no action item (``none``); a note labelled with
neither to-dos nor ``none`` teaches nothing and is skipped. Before fitting on all of them, each
report is left out in turn and predicted by a fit on the others: what that fit would have done
at the threshold (notes with to-dos kept, notes without set aside), per report, goes to stderr
and is the figure to believe.

A logistic regression on standardised features with an L2 penalty (``mustelid.learn``,
``C=0.3``, the screenshots' kind model's setting).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from collections.abc import Iterator
from typing import Any

from mustelid import learn

from .note_model import NONE, THRESHOLD, TODOS, has_todos
from .note_words import dense, vocabulary

C = 0.3


def labelled(report: dict[str, Any]) -> list[tuple[str, dict[str, float], str]]:
    """(name, features, label) of every note whose features the report kept and whose label
    says."""
    out = []
    for row in report.get("results", []):
        todos = (row.get("fields") or {}).get("todos") or {}
        if todos.get("features") and (todos.get("none") or todos.get("expected")):
            out.append((row["name"], todos["features"], NONE if todos.get("none") else TODOS))
    return out


def samples(report: dict[str, Any]) -> list[tuple[dict[str, float], str]]:
    """(features, label) of every note ``labelled`` finds."""
    return [(feats, label) for _, feats, label in labelled(report)]


def fit(data: list[tuple[dict[str, float], str]], c: float = C) -> dict[str, Any]:
    """The model of ``data``, over the hand-written features and the words enough of its
    notes hold (``note_words``)."""
    words = vocabulary([feats for feats, _ in data])
    return learn.fit([(dense(feats, words), label) for feats, label in data], c,
                     notes=len(data), words=len(words))


def fits_left_out(batches: dict[str, list[tuple[dict[str, float], str]]]
                  ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each batch's name and the model fitted on every other batch."""
    for name in batches:
        yield name, fit([s for other, rows in batches.items() if other != name for s in rows])


def left_out(batches: dict[str, list[tuple[dict[str, float], str]]],
             threshold: float = THRESHOLD) -> dict[str, tuple[int, int, int, int]]:
    """Per batch, predicted by a fit on the others: (notes with to-dos kept, of, notes without
    set aside, of)."""
    out = {}
    for name, model in fits_left_out(batches):
        held = batches[name]
        kept = sum(has_todos(f, model) >= threshold for f, label in held if label == TODOS)
        caught = sum(has_todos(f, model) < threshold for f, label in held if label == NONE)
        out[name] = (kept, sum(label == TODOS for _, label in held),
                     caught, sum(label == NONE for _, label in held))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path,
                        help="`mustelid eval todos DIR --json` reports, one per batch")
    args = parser.parse_args(argv)
    batches = {str(p): samples(json.loads(p.read_text("utf-8"))) for p in args.reports}
    if len(batches) > 1:
        scores = left_out(batches)
        for name, (kept, todo, caught, none) in scores.items():
            print(f"left out {name}: with to-dos kept {kept}/{todo}, without set aside "
                  f"{caught}/{none}", file=sys.stderr)
        total = [sum(s[i] for s in scores.values()) for i in range(4)]
        print(f"left out, all: with to-dos kept {total[0]}/{total[1]}, without set aside "
              f"{total[2]}/{total[3]}", file=sys.stderr)
    model = fit([s for rows in batches.values() for s in rows])
    json.dump(model, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
