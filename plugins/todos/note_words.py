"""The words of a note, as features of whether it holds to-dos (``note_model.py``).

The hand-written features say how a note's lines read (tags, asks, marks, versions, prose); the
words say what it is about: a licence speaks of copyright and warranty, an install guide of
building and configuring, a changelog of releases. Which words, and how much each weighs, is
learned from the labelled notes (``train_notes.py`` keeps the words at least ``MIN_NOTES`` of
them hold). Measured with each batch left out of the fit in turn (docs/EVAL.md, session 27).

Not counted (``STOP``): words that say how a text is written, not what it is about, and the
ones that would teach the model the labelled notes' bias. The labelled notes are all software's
files, where "you", "your", "please" and "we" mark a README or a FAQ; in a person's note they
are how a task is asked ("Please send the draft to Ann"). Fitted with them, "you" was the word
that most marked a note as holding no to-dos.
"""

from __future__ import annotations

import re
from collections import Counter

PREFIX = "w_"          # a word's feature name: "w_copyright"
MIN_NOTES = 8          # a word the fit uses is in at least this many labelled notes
MAX_WORDS = 400        # a long note's first distinct words (the evidence keeps them)

_WORD = re.compile(r"[^\W\d_]{3,}")
STOP = frozenset("""
    the and for are but not all any can had was one has how may now say too who why yet from
    with this that have will been they them their there these those what when where which
    while would could should about after again also into just more most much must only other
    over some such than then very each here were does did doing being both few let off per via
    upon isn aren don doesn didn won wouldn shouldn couldn
    you your yours yourself yourselves our ours ourselves she her hers herself him his himself
    its itself myself themselves please thanks thank
""".split())


def word_features(lines: list[str]) -> dict[str, float]:
    """``{"w_<word>": 1.0}`` for each distinct word of three letters or more in ``lines``
    (lower-cased, not in ``STOP``), the first ``MAX_WORDS`` of them."""
    seen: dict[str, None] = {}
    for word in (w for line in lines for w in _WORD.findall(line.lower())):
        if word not in STOP:
            seen.setdefault(word)
            if len(seen) >= MAX_WORDS:
                break
    return {PREFIX + w: 1.0 for w in seen}


def vocabulary(samples: list[dict[str, float]], min_notes: int = MIN_NOTES) -> list[str]:
    """The word features at least ``min_notes`` of ``samples`` hold, sorted."""
    counts = Counter(name for feats in samples for name in feats if name.startswith(PREFIX))
    return sorted(name for name, n in counts.items() if n >= min_notes)


def dense(feats: dict[str, float], words: list[str]) -> dict[str, float]:
    """``feats`` with every word of ``words`` present (0.0 when the note lacks it) and no
    other word: the fit needs the same features in every sample."""
    out = {name: value for name, value in feats.items() if not name.startswith(PREFIX)}
    return out | {w: feats.get(w, 0.0) for w in words}
