"""Where the OCR engine's time goes: detection and recognition timed apart, per picture.

    flock /tmp/mustelid-cpu.lock python examples/eval/ocr_split.py PICTURE...

Prints each picture's size, total, detection and recognition seconds and its line count, then
the medians. The engine is the one the tasks use (``plugins/ocr_rapid.py``), warmed on the first
picture before the clock starts; run it alone on the machine.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any


class _Timed:
    """A stage of the engine (its detector or recogniser) that adds its wall time to ``spent``."""

    def __init__(self, inner: Any, spent: dict[str, float], key: str):
        self.inner, self.spent, self.key = inner, spent, key

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.spent[self.key] += time.perf_counter() - started

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def main() -> None:
    from PIL import Image

    from mustelid.plugins.ocr_rapid import RapidOcrEngine

    files = sys.argv[1:]
    if not files:
        sys.exit(__doc__)
    engine = RapidOcrEngine()
    inner = engine._get()
    spent = {"det": 0.0, "rec": 0.0}
    inner.text_det = _Timed(inner.text_det, spent, "det")
    inner.text_rec = _Timed(inner.text_rec, spent, "rec")
    engine.read(files[0])                     # warm: sessions built, pages faulted in
    rows = []
    for path in files:
        spent.update(det=0.0, rec=0.0)
        started = time.perf_counter()
        lines = engine.read(path)
        total = time.perf_counter() - started
        with Image.open(path) as im:
            size = im.size
        rows.append((total, spent["det"], spent["rec"]))
        print(f"{path}\t{size[0]}x{size[1]}\ttotal {total:.2f}\tdet {spent['det']:.2f}\t"
              f"rec {spent['rec']:.2f}\t{len(lines)} lines", flush=True)
    medians = [statistics.median(r[i] for r in rows) for i in range(3)]
    print("median\ttotal {:.2f}\tdet {:.2f}\trec {:.2f}".format(*medians))


if __name__ == "__main__":
    main()
