"""How ``mustelid eval`` judges a described screenshot: the rules of the screens-dev README
("How answers are scored"), so that a folder labelled that way is scored the way it says.

Labels: ``kind``, ``title``, ``must_mention`` (always), ``kind_also``, ``title_also``,
``expect_no_text`` (optional). Text is compared as tokens: Unicode NFKC then NFKD, accents
dropped, case-folded, apostrophes removed, then only runs of letters and digits
(``#debian.de`` -> ``debian de``). Metrics, summed over the folder:

- ``kind``: the produced kind equals ``kind``. ``kind_lenient``: or one of ``kind_also``, or a
  ``no_text`` failure on a screen labelled ``expect_no_text``.
- ``title``: the produced title matches ``title`` or one of ``title_also``: one normalised
  string contains the other (as a run of whole tokens: ``top`` is not in ``desktop``), or at
  least half of the wanted title's tokens occur in the produced one. ``title_strict``: the same against ``title`` alone.
- ``must_mention``: recall; a string is found when its normalised form occurs in the normalised
  title + summary + key lines, starting at a word boundary.
- ``failed_or_review``: inputs that produced nothing (failed, or held for review); lower is
  better. They count as misses everywhere else.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

LABEL_KEYS = ("kind", "kind_also", "title", "title_also", "must_mention", "expect_no_text")
_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019\u02bc"), None)


def tokens(text: Any) -> list[str]:
    """The README's normal form: NFKC, NFKD, accents dropped, case-folded, no apostrophes,
    runs of letters and digits."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", str(text or "")))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return re.findall(r"[^\W_]+", text.translate(_APOSTROPHES))


def truth(labels: dict[str, Any]) -> dict[str, Any]:
    """The screens-dev label as it is; an empty dict (nothing to score) without kind or title."""
    if "kind" not in labels and "title" not in labels:
        return {}
    return {k: labels[k] for k in LABEL_KEYS if k in labels}


def title_matches(produced: Any, wanted: Any) -> bool:
    have, want = tokens(produced), tokens(wanted)
    if not have or not want:
        return False
    joined_have, joined_want = f" {' '.join(have)} ", f" {' '.join(want)} "
    if joined_want in joined_have or joined_have in joined_want:
        return True
    present = set(have)
    return 2 * sum(t in present for t in want) >= len(want)


def mentioned(needle: Any, haystack: str) -> bool:
    """``needle`` occurs in ``haystack`` (already normalised, tokens joined by single spaces)
    starting at a word boundary."""
    return f" {' '.join(tokens(needle))}" in f" {haystack}"


def judge(labels: dict[str, Any], data: dict[str, Any] | None, reason: str | None,
          features: dict[str, float] | None = None,
          ) -> tuple[dict[str, tuple[int, int]], dict[str, dict[str, Any]]]:
    """One screenshot's counters and the detail its report row shows. The screen's kind
    features go with it: ``train_kinds`` fits the kind on reports."""
    data = data or {}
    kind, title = data.get("kind"), data.get("title")
    kinds = [labels.get("kind"), *labels.get("kind_also", [])]
    titles = [labels.get("title"), *labels.get("title_also", [])]
    said = " ".join(tokens(" ".join([title or "", data.get("summary") or "",
                                     *(data.get("key_text") or [])])))
    wanted = labels.get("must_mention", [])
    missing = [m for m in wanted if not mentioned(m, said)]
    no_text = not data and reason == "no_text" and bool(labels.get("expect_no_text"))
    strict = bool(data) and title_matches(title, labels.get("title"))
    lenient = bool(data) and any(title_matches(title, t) for t in titles)
    scores = {
        "kind": (int(bool(data) and kind == labels.get("kind")), 1),
        "kind_lenient": (int((bool(data) and kind in kinds) or no_text), 1),
        "title": (int(lenient), 1),
        "title_strict": (int(strict), 1),
        "must_mention": (len(wanted) - len(missing), len(wanted)),
        "failed_or_review": (int(not data), 1),
    }
    detail = {
        "kind": {"expected": labels.get("kind"), "also": kinds[1:], "got": kind,
                 "match": bool(scores["kind"][0]), "lenient": bool(scores["kind_lenient"][0]),
                 **({"features": features} if features else {})},
        "title": {"expected": labels.get("title"), "also": titles[1:], "got": title,
                  "match": lenient, "strict": strict},
        "must_mention": {"expected": wanted, "got": [m for m in wanted if m not in missing],
                         "match": not missing,
                         "why": f"not mentioned: {'; '.join(missing)}" if missing else "",
                         # What was searched, so that a miss can be read without a rerun.
                         "summary": data.get("summary"), "key_text": data.get("key_text")},
    }
    return scores, detail
