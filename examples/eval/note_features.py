"""Each labelled note's features and label, as `mustelid eval todos DIR --json` reports them,
without asking the model: the todos task's ``prepare`` only (OCR for pictures). One report per
folder, the input of the note model's fit:

    python examples/eval/note_features.py OUTDIR FOLDER...
    python -m mustelid.plugins.todos.train_notes OUTDIR/*.json > plugins/todos/note_model.json

A folder's report is skipped when it exists in OUTDIR already. OCR is cached in
OUTDIR/ocr_cache.pkl (``cached_ocr.py``); wrap the first run in `flock` on a shared machine (OCR
uses both cores).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    from cached_ocr import CachedOcr
    from mustelid import JobInput, PermanentError
    from mustelid.evaluate import input_mime

    outdir = Path(sys.argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    cached = CachedOcr(outdir / "ocr_cache.pkl")
    ctx, task = cached.ctx, cached.host.tasks["todos"]
    for folder in map(Path, sys.argv[2:]):
        out = outdir / f"{folder.name}.json"
        if out.exists():
            continue
        rows = []
        for path in sorted(folder.iterdir()):
            label = path.with_suffix(".json")
            if path.suffix.lower() not in (".txt", ".png", ".jpg", ".jpeg") or not label.exists():
                continue
            truth = json.loads(label.read_text("utf-8"))
            job = JobInput(id="features", task="todos", path=str(path),
                           original_name=path.name, mime=input_mime(path))
            try:
                note = task.prepare(job, ctx).data.get("note") or {}
            except PermanentError:       # no text: nothing to learn from
                continue
            rows.append({"name": path.stem, "fields": {"todos": {
                "features": note.get("features"), "has_todos": note.get("has_todos"),
                "none": bool(truth.get("none")), "expected": truth.get("todos") or []}}})
        out.write_text(json.dumps({"folder": str(folder), "results": rows}), "utf-8")
        print(folder, len(rows), flush=True)
    cached.save()


if __name__ == "__main__":
    main()
