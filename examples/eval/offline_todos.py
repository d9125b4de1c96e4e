"""Every line the todos task's rules would offer, scored as if the model's review kept them all:
what a rule changes on every labelled note, in seconds and without the model.

    python examples/eval/offline_todos.py OUT.json FOLDER...
    python examples/eval/offline_todos.py OUT.json FOLDER... --left-out FEATURES_DIR

Prints the totals (precision, recall, no-item notes given any line, done items taken) and
writes each note's scores, false and missed lines to OUT.json; compare two runs note by note to
see what a change did. ``--left-out``: each folder's notes are judged by a note model fitted on
the other folders' reports in FEATURES_DIR (``note_features.py`` writes them, one per folder),
the honest figure for the note model's part; notes without a report there are skipped. OCR of
pictures is cached beside OUT.json (``ocr_cache.pkl``); wrap the first run in `flock`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def left_out_p(features_dir: Path) -> dict[str, float]:
    """P(to-dos) of every labelled note ("folder/name"), by a fit on the other folders' notes."""
    from mustelid.plugins.todos import train_notes
    from mustelid.plugins.todos.note_model import has_todos

    rows = {p.stem: train_notes.labelled(json.loads(p.read_text("utf-8")))
            for p in sorted(features_dir.glob("*.json"))}
    batches = {name: [(feats, label) for _, feats, label in held] for name, held in rows.items()}
    return {f"{name}/{n}": has_todos(feats, model)
            for name, model in train_notes.fits_left_out(batches) for n, feats, _ in rows[name]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--left-out", type=Path, metavar="FEATURES_DIR")
    args = parser.parse_args()
    from cached_ocr import CachedOcr
    from mustelid import JobInput, PermanentError
    from mustelid.evaluate import input_mime
    from mustelid.plugins.todos import evaluate, task as todos_task
    from mustelid.plugins.todos.lines import title_of

    args.out.parent.mkdir(parents=True, exist_ok=True)
    cached = CachedOcr(args.out.parent / "ocr_cache.pkl")
    host, ctx = cached.host, cached.ctx
    given = left_out_p(args.left_out) if args.left_out else None
    current = [""]
    judged = todos_task.judged

    def judged_left_out(lines):
        note = judged(lines)
        if note["has_todos"] is not None:
            note["has_todos"] = given[current[0]]
        return note

    if given is not None:
        todos_task.judged = judged_left_out
    task, out, totals = host.tasks["todos"], {}, {}
    for folder in args.folders:
        for path in sorted(folder.iterdir()):
            label = path.with_suffix(".json")
            if path.suffix.lower() not in (".txt", ".png", ".jpg", ".jpeg") or not label.exists():
                continue
            current[0] = f"{folder.name}/{path.stem}"
            if given is not None and current[0] not in given:
                continue
            job = JobInput(id="x", task="todos", path=str(path), original_name=path.name,
                           mime=input_mime(path))
            try:
                data = task.prepare(job, ctx).data
            except PermanentError:
                data = {}
            quotes = data.get("quotes") or []
            # Titled as the task titles them (``Todos.check``).
            answer = {"todos": [{"title": title_of(q), "source_quote": q} for q in quotes]}
            scores, detail = evaluate.judge(evaluate.truth(json.loads(label.read_text())),
                                            answer, data)
            out[current[0]] = {"s": scores, "false": detail["todos"]["false"],
                               "missed": detail["todos"]["missed"]}
            for key, (a, b) in scores.items():
                totals[key] = [totals.get(key, [0, 0])[0] + a, totals.get(key, [0, 0])[1] + b]
    cached.save()
    args.out.write_text(json.dumps(out, indent=0))
    print(len(out), "notes:", {k: f"{a}/{b} = {a / max(b, 1):.2%}" for k, (a, b) in totals.items()})


if __name__ == "__main__":
    main()
