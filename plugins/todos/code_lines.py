"""Does a line read as code or as prose? Learned from text, not from notes: character n-grams
(two to four characters, case folded) and tokens, weighed by a naive Bayes fit on lines of
source files of many languages against lines of documentation, both as a Debian system ships
them (``train_code.py``), kept in ``code_model.json`` beside this module.

Why learned: the statement patterns of ``source_code.py`` know the languages they were written
for, and each blind batch of notes brought code they had not seen (Tcl's ``set g(name)
"TkDiff"``, Vim's ``let s:spc = ...``, OCaml's ``let rec ...``), whose lines were then offered
as to-dos. A line's characters say code or prose in a language no pattern names: ``s:``, ``$``,
``_`` inside words, ``(`` against a name, ``=`` between words.

Case is folded because OCR and handwriting fonts change it ("SET POSITION" is still Tcl), and
the fit saw it folded.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from mustelid import learn

MODEL_FILE = "code_model.json"
# At this log-odds or above a line reads as code. Chosen on the fit's own held-out files, not on
# notes: about 1 line of documentation in 80 reads as code there, and 4 lines of source in 5
# (train_code.py's report, docs/EVAL.md).
CODE = 3.0
_SPACES = re.compile(r"\s+")
_TOKENS = re.compile(r"\w+|[^\w\s]+")
_SIZES = (2, 3, 4)


def grams(line: str) -> set[str]:
    """The features of a line: its n-grams, a space at each end, runs of space as one; its
    tokens (runs of word characters, runs of punctuation)."""
    folded = line.lower()
    text = " " + _SPACES.sub(" ", folded.strip()) + " "
    found = {text[i:i + n] for n in _SIZES for i in range(len(text) - n + 1)}
    found.update("w:" + token for token in _TOKENS.findall(folded))
    return found


def reads_as_code(line: str) -> bool:
    """Whether ``line`` reads as code; never without a model."""
    return score(line, _weights()) >= CODE


def score(line: str, weights: dict[str, float]) -> float:
    """The log-odds that ``line`` is code rather than prose, its features' weights summed over
    the square root of their number (a long line is not surer for being long); 0 without a
    feature."""
    found = grams(line) if line.strip() else set()
    if not found:
        return 0.0
    return sum(weights.get(g, 0.0) for g in found) / math.sqrt(len(found))


@lru_cache(maxsize=1)
def _weights() -> dict[str, float]:
    model = learn.packaged(__package__, MODEL_FILE)
    return model["weights"] if model else {}
