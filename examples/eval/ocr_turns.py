"""Which lines does RapidOCR's direction classifier turn, and which reading is better?

    python examples/eval/ocr_turns.py IMAGE_OR_GLOB... [--show]

Runs the default OCR engine (``mustelid.plugins.ocr_rapid``) over the images and, for every line
the 0/180-degree classifier takes for upside down (score above its threshold), reads the line
both ways with the recogniser. Prints, per folder, the lines read, the lines the classifier would
turn, and how many of those read better (higher recogniser score) as detected; ``--show`` lists
each with both readings. Used for docs/EVAL.md, "OCR: the direction classifier's turns,
checked" (session 17). No labels are involved.
"""

from __future__ import annotations

import collections
import glob
import sys


def main(argv: list[str]) -> None:
    import cv2
    from rapidocr.ch_ppocr_cls import TextClassifier
    from rapidocr.ch_ppocr_rec.typings import TextRecInput

    from mustelid.plugins.ocr_rapid import RapidOcrEngine

    show = "--show" in argv
    paths = sorted(p for a in argv if a != "--show" for p in (glob.glob(a) or [a]))
    engine = RapidOcrEngine()
    own = TextClassifier.__call__
    seen: list = []
    current = [""]

    def classify(self, images):                 # records what the classifier says, changes nothing
        out = own(self, images)
        for image, (label, score) in zip(images, out.cls_res):
            turned = "180" in label and score > self.cls_thresh
            seen.append((current[0], turned, image if turned else None))
        return out

    TextClassifier.__call__ = classify
    for path in paths:
        current[0] = path.rsplit("/", 2)[-2]
        engine.read(path)
    TextClassifier.__call__ = own
    recognizer = engine._get().text_rec.recognizer
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for folder, turned, image in seen:
        counts[folder]["lines"] += 1
        if not turned:
            continue
        counts[folder]["turned"] += 1
        both = recognizer(TextRecInput(img=[image, cv2.rotate(image, cv2.ROTATE_180)]))
        better = both.scores[0] > both.scores[1]
        counts[folder]["better as detected"] += better
        if show:
            print(f"{folder}: {both.txts[0]!r} {both.scores[0]:.2f} | turned: "
                  f"{both.txts[1]!r} {both.scores[1]:.2f}")
    total: collections.Counter = collections.Counter()
    for folder, c in sorted(counts.items()):
        total.update(c)
        print(f"{folder}: {dict(c)}")
    print(f"all {len(paths)} images: {dict(total)}")


if __name__ == "__main__":
    main(sys.argv[1:])
