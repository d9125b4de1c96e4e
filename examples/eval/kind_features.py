"""The screenshots task's kind features of every labelled screen, without the model: one report
per folder that ``train_kinds`` reads, in seconds once the OCR is cached.

    python examples/eval/kind_features.py OUT_DIR FOLDER...
    python -m mustelid.plugins.screenshots.train_kinds OUT_DIR/*.json > /dev/null

The second command prints, per folder, how many screens a fit on the other folders names the
right kind (the left-out score) and the score over all of them; ``--shipped`` here prints the
shipped ``kind_model.json``'s score on each folder instead (in-sample on the folders it was
fitted on). The features are the ones ``mustelid eval screenshots DIR --json`` stores per screen;
screens without text are left out, as the task uses no fitted kind for them. OCR is cached in
OUT_DIR/ocr_cache.pkl; wrap the first run in `flock`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

PICTURES = (".png", ".jpg", ".jpeg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--shipped", action="store_true",
                        help="print the shipped kind model's score per folder")
    args = parser.parse_args()
    from cached_ocr import CachedOcr
    from mustelid import JobInput
    from mustelid.plugins.screenshots.kind_model import fitted
    from mustelid.plugins.screenshots.train_kinds import right, samples

    args.out.mkdir(parents=True, exist_ok=True)
    cached = CachedOcr(args.out / "ocr_cache.pkl")
    ctx, task = cached.ctx, cached.host.tasks["screenshots"]
    for folder in args.folders:
        rows = []
        for picture in sorted(p for p in folder.iterdir() if p.suffix.lower() in PICTURES):
            label = picture.with_suffix(".json")
            if not label.exists():
                continue
            job = JobInput(id="x", task="screenshots", path=str(picture), mime="image/png")
            data = task.prepare(job, ctx).data
            if data["lines"]:
                kind = json.loads(label.read_text("utf-8"))["kind"]
                rows.append({"name": picture.stem, "fields": {"kind": {
                    "features": data["kind_features"], "expected": kind}}})
        (args.out / f"{folder.name}.json").write_text(json.dumps({"results": rows}), "utf-8")
        if args.shipped:
            print(f"shipped model on {folder.name}: "
                  f"{right(fitted(), samples({'results': rows}))}/{len(rows)}")
    cached.save()


if __name__ == "__main__":
    main()
