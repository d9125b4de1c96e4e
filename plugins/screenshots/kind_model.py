"""Which kind of screen it is, learned: a multinomial logistic regression over what code reads on
the screen (the weight of each kind's signs from ``kinds.py``, how much of the text reads as
code, prose, conversation or short labels, where the text sits on the screen), fitted on
labelled screens by ``train_kinds.py`` and kept in ``kind_model.json`` beside this module.

Why learned: the signs are right when they are clear, but deciding between rival signs by hand
(``kinds.clear_kind``, else the model's choice among the kinds with signs) named the right kind
of 16 in 24 screens of a batch made after the rules were written (screens-fresh6, issue 12).
The same signs weighed by a regression fitted on the batches before it named 20 of those 24;
fitted on dev and fresh..fresh6, it named 25 of the 29 screens with text of screens-fresh7,
made after it. Each of the eight batches left out of the fit in turn: 193 of 221
(docs/EVAL.md). The 0.5B model's own choice followed its summary more than the evidence. Refitted
in session 31 on all fifteen labelled batches (428 screens) with an editor's line-number gutter
as a feature: each batch left out in turn, 386 of 428 (381 without the gutter).

Without ``kind_model.json`` (a plugin author's fork, a deleted file) the task falls back to
the rules alone (``kinds.allowed_kinds``).
"""

from __future__ import annotations

import math
import re
import statistics
from functools import lru_cache
from typing import Any

from mustelid import learn

from . import kinds as k

MODEL_FILE = "kind_model.json"
_LAYOUT = ("span_x", "span_y", "ink", "mono", "left_align", "height_spread", "centred")
_DIGITS = re.compile(r"[\d\s.,:%/-]+")


def features(lines: list[dict[str, Any]]) -> dict[str, float]:
    """The screen's features: ``lines`` are the task's OCR lines (``text``, ``box`` on the
    0..1000 grid), in reading order."""
    texts = [line["text"] for line in lines]
    strip = [t.strip() for t in texts]
    signs = k.weigh_signs(texts)
    f = {f"sign_{kind}": float(signs.get(kind, (0, []))[0]) for kind in k.KIND_HELP}
    n = max(1, sum(1 for t in texts if len(k.LETTERS.findall(t)) >= 2))   # lines with words
    every = max(1, len(texts))
    f |= {
        "log_lines": math.log1p(n),
        "leading_time": len(k.message_times(texts)) / n,
        "speaker": sum(bool(k.SPEAKER.match(t)) for t in strip) / n,
        "mail_headers": float(len({m.group(1).lower() for t in strip
                                   if (m := k.MAIL_HEADER.match(t))})),
        "code": sum(bool(k.CODE.search(t)) for t in texts) / n,
        "prompts": float(min(5, sum(bool(k.PROMPT.match(t)) for t in texts))),
        "prose": sum(len(t) > 60 and len(k.PROSE_WORD.findall(t)) >= 8 for t in texts) / n,
        "error_words": float(min(4, len(k.distinct(k.ERROR_WORDS, texts)))),
        "buttons": float(min(4, len(k.distinct(k.BUTTON, strip)))),
        "three_words": sum(len(k.SENTENCE_WORD.findall(t)) >= 3 for t in texts) / n,
        "short": sum(len(t.split()) <= 2 for t in texts) / every,
        "numbers": sum(bool(_DIGITS.fullmatch(t)) for t in strip) / every,
        "log_length": math.log1p(statistics.mean(len(t) for t in texts) if texts else 0),
        "links": float(min(3, len(k.distinct(k.LINK, texts)))),
        "address_bar": float(min(2, len(k.distinct(k.ADDRESS_BAR, strip)))),
        "addresses": float(min(3, len(k.distinct(k.ADDRESS, texts)))),
        "few_lines": float(n <= 2),
        "gutter": float(_gutter(lines)),
    }
    return f | _layout([(line["text"], line["box"]) for line in lines])


_GUTTER_NUMBERS = 4      # bare numbers in one column that count on, one line after another
_GUTTER_EDGE = 15        # right edges this close (0..1000 grid) are one column


def _gutter(lines: list[dict[str, Any]]) -> bool:
    """An editor's line numbers: bare numbers in one column (their right edges together), down
    the screen, each one to three more than the one above (a wrapped line or a fold skips
    some). OCR reads them as lines of their own; code is what editors show with them."""
    numbers = sorted((line["box"][2], line["box"][1], int(line["text"].strip()))
                     for line in lines if line["text"].strip().isdigit()
                     and len(line["text"].strip()) <= 5)
    best: list[tuple[int, int, int]] = []
    column: list[tuple[int, int, int]] = []
    for entry in numbers:                       # single linkage on the right edge
        if column and entry[0] - column[-1][0] > _GUTTER_EDGE:
            best, column = max(best, column, key=len), []
        column.append(entry)
    best = sorted(max(best, column, key=len), key=lambda e: e[1])
    steps = [b[2] - a[2] for a, b in zip(best, best[1:])]
    return len(best) >= _GUTTER_NUMBERS and sum(1 <= s <= 3 for s in steps) >= 0.8 * len(steps)


def _layout(lines: list[tuple[str, list[int]]]) -> dict[str, float]:
    """Where the text sits: how much of the screen it spans and covers; whether its letters
    are of one width (a terminal's); how many left edges and heights it has; how much of it
    is a small block in the middle (a dialog)."""
    if not lines:
        return dict.fromkeys(_LAYOUT, 0.0)
    boxes = [[v / 1000 for v in box] for _, box in lines]
    x0, y0, x1, y1 = (list(c) for c in zip(*boxes))
    widths = [(b[2] - b[0]) / len(t) / (b[3] - b[1] + 0.001)
              for (t, _), b in zip(lines, boxes) if len(t) >= 8]
    heights = [b[3] - b[1] for b in boxes]
    return {
        "span_x": max(x1) - min(x0),
        "span_y": max(y1) - min(y0),
        "ink": sum((b[2] - b[0]) * (b[3] - b[1]) for b in boxes),
        "mono": (statistics.pstdev(widths) / (statistics.mean(widths) + 1e-6)
                 if len(widths) >= 3 else 1.0),
        "left_align": len({round(x * 40) for x in x0}) / len(x0),
        "height_spread": statistics.pstdev(heights) / (statistics.mean(heights) + 1e-6),
        "centred": sum(0.25 < (b[0] + b[2]) / 2 < 0.75 and 0.2 < (b[1] + b[3]) / 2 < 0.8
                       and b[2] - b[0] < 0.5 for b in boxes) / len(boxes),
    }


@lru_cache(maxsize=1)
def fitted() -> dict[str, Any] | None:
    """``kind_model.json`` as ``train_kinds`` wrote it, or None when there is none."""
    return learn.packaged(__package__, MODEL_FILE)


def probabilities(feats: dict[str, float], model: dict[str, Any]) -> dict[str, float]:
    """Each kind's probability under ``model`` (a standardised softmax regression)."""
    return learn.probabilities(feats, model)


def learned_kind(feats: dict[str, float]) -> tuple[str, float] | None:
    """The most probable kind and its probability, or None without a fitted model."""
    if (model := fitted()) is None:
        return None
    probs = probabilities(feats, model)
    kind = max(probs, key=lambda name: probs[name])
    return kind, probs[kind]
