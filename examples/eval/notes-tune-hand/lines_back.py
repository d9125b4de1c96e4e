"""How many of a note's own lines a picture of it gives back, laid out (docs/EVAL.md, "Todos:
handwritten notes, a fifth set").

For each handNN.jpg: OCR it, lay it out (``mustelid.laid_out_text``), and count the source
lines of its text that one laid-out line matches (letters and digits compared, similarity
>= 0.8), and the laid-out lines much longer than the source line they best match (two source
lines joined). Run it alone: it OCRs 48 pictures.

    flock /tmp/mustelid-cpu.lock python examples/eval/notes-tune-hand/lines_back.py
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from PIL import Image

from mustelid import OcrLine, clean_text, laid_out_text
from mustelid.plugins.ocr_rapid import RapidOcrEngine

HERE = Path(__file__).resolve().parent
TEXTS = [t for name in ("notes-tune", "notes-tune2")
         for t in sorted((HERE.parent / name).glob("*.txt"))]


def squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def main() -> None:
    engine = RapidOcrEngine()
    back = total = joined = 0
    for k, text in enumerate(TEXTS, 1):
        picture = HERE / f"hand{k:02d}.jpg"
        read = [OcrLine(clean_text(l.text), l.box, l.score) for l in engine.read(str(picture))]
        laid = [squash(t) for t in laid_out_text(read, Image.open(picture)) if squash(t)]
        source = [squash(t) for t in text.read_text(encoding="utf-8").splitlines() if squash(t)]
        for line in source:
            total += 1
            back += max((similarity(line, t) for t in laid), default=0.0) >= 0.8
        for t in laid:
            best = max(source, key=lambda line: similarity(line, t))
            joined += len(t) > 1.3 * len(best) + 5
    print(f"source lines given back whole: {back} of {total}; "
          f"laid-out lines holding two source lines: {joined}")


if __name__ == "__main__":
    main()
