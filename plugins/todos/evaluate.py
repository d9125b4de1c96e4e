"""How ``mustelid eval`` judges extracted todos: the rules of the notes-dev README ("How answers
are scored"), so that a folder labelled that way is scored the way it says.

Labels: ``todos`` (each a string or a list of alternative strings), ``todos_optional``, and
``none: true`` on an input with no action item. Text is compared as tokens: Unicode NFKC then
NFKD, accents dropped, case-folded, apostrophes removed, then only runs of letters and digits.

- A produced todo (its title or its quoted line, whichever matches better) matches a label (or
  one of its alternatives) when the Jaccard overlap of their token sets is at least 0.5, or when
  one contains the other as a run of whole tokens and the shorter has at least two tokens.
  Pairs are made one to one, best Jaccard first. An unmatched todo that matches an entry of
  ``todos_optional`` is ignored; on a ``none`` input every todo counts as false.
- Metrics, summed over the folder: ``precision`` (matched todos / counted todos), ``recall``
  (labels matched / labels), ``false_on_none`` (``none`` inputs with at least one todo / ``none``
  inputs) and ``done_taken`` (false todos that match, by title or quote and the rule above, a
  line the text marks as finished / todos produced). The last two are better lower. A failed or held input produced nothing.

Finished items are in neither list of the labels, so ``done_taken`` finds them in the input's
own lines (the evidence ``prepare`` made: the text file, or the OCR text of an image). This is
the evaluator's own reading of the README's marks, deliberately not the task's filter, so that
a gap in the filter shows here. A line is finished when it carries a mark: a ticked box
(``[x]``, ``☑``, ``✓``, ``✅``) or a lone ``x`` leading it, ``DONE`` in capitals (OCR may
lose one letter's case: ``DoNE``), ``(done``, ``[done]``, ``Done:`` or ``done -`` leading it,
or ``~~struck~~`` text; or when it stands in a section whose heading says done (``DONE``,
``Done:``, ``Completed``, ``Finished``, ``Implemented features`` ...; the heading itself is no
item). Such a section runs to the next heading of the same rank or
higher: a heading ending in a colon is minor and ends at any heading; a decorated, underlined,
``#`` or capitals heading is major and ends only at another major one.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

LABEL_KEYS = ("todos", "todos_optional", "none")
_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019\u02bc"), None)

_TICKED = re.compile(r"^\s*(?:[-*+•]\s*)?(?:\[[xX✓✔]\]|[☑✓✔✅])|^\s*x\s+\S|^\s*[xX](?:\t|\s{2,})\S")
_DONE_MARK = re.compile(r"\((?i:\s*done)\b|\[(?i:\s*done\s*)\]|~~.+~~")
_DONE_WORD = re.compile(r"\b[dD][oO0][nN][eE]\b")
_DONE_LEAD = re.compile(r"^\W*done\s*[:\-–]", re.I)
_DONE_HEADINGS = {"done", "done items", "completed", "complete", "finished", "implemented",
                  "implemented features", "already done"}
_UNDERLINE = re.compile(r"^\s*[=\-~*#_]{3,}\s*$")


def tokens(text: Any) -> list[str]:
    """Letters-and-digits runs of ``text`` after NFKC, NFKD, dropping accents and apostrophes,
    and case-folding (the README's normalisation)."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", str(text or "")))
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    return re.findall(r"[^\W_]+", text.translate(_APOSTROPHES))


def truth(labels: dict[str, Any]) -> dict[str, Any]:
    """The notes-dev label as it is; an empty dict (nothing to score) without ``todos``."""
    if "todos" not in labels:
        return {}
    return {k: labels[k] for k in LABEL_KEYS if k in labels}


def _contains(long: list[str], short: list[str]) -> bool:
    return len(short) >= 2 and f" {' '.join(short)} " in f" {' '.join(long)} "


def similarity(a: list[list[str]], b: list[list[str]]) -> float | None:
    """The best Jaccard overlap between any text of ``a`` and any of ``b`` (token lists) among
    the pairs that match at all; None when none does."""
    best = None
    for x in a:
        for y in b:
            if not x or not y:
                continue
            jaccard = len(set(x) & set(y)) / len(set(x) | set(y))
            if jaccard >= 0.5 or _contains(x, y) or _contains(y, x):
                best = jaccard if best is None else max(best, jaccard)
    return best


def _alternatives(entry: Any) -> list[list[str]]:
    return [tokens(e) for e in (entry if isinstance(entry, list) else [entry])]


def pair(produced: list[list[list[str]]], labels: list[list[list[str]]]) -> dict[int, int]:
    """One-to-one pairs, produced index -> label index, best-scoring pairs first."""
    scored = sorted((-s, i, k) for i, p in enumerate(produced) for k, l in enumerate(labels)
                    if (s := similarity(p, l)) is not None)
    pairs: dict[int, int] = {}
    for _, i, k in scored:
        if i not in pairs and k not in pairs.values():
            pairs[i] = k
    return pairs


def _heading(line: str, following: str) -> str | None:
    """"minor", "major" or None (see the module docstring)."""
    stripped, words = line.strip(), tokens(line)
    if not words or len(words) > 5 or _UNDERLINE.match(stripped):
        return None
    if stripped.endswith(":") and not re.match(r"[-*+•]\s", stripped):
        return "minor"
    decorated = not stripped[0].isalnum() and not stripped[-1].isalnum() \
        and stripped[-1] not in ".,;)?!" and not re.match(r"[-*+•]\s", stripped)
    if decorated or stripped.startswith("#") or _UNDERLINE.match(following) \
            or (stripped.isupper() and len(words) <= 3):
        return "major"
    return None


def finished_lines(lines: list[str]) -> set[int]:
    """Indexes of the lines the text marks as finished, by a mark or by their section."""
    done: set[int] = set()
    section: str | None = None      # the rank of the heading that opened a done section
    for i, line in enumerate(lines):
        rank = _heading(line, lines[i + 1] if i + 1 < len(lines) else "")
        if " ".join(tokens(line)) in _DONE_HEADINGS and (rank or len(line.strip()) < 40):
            section = rank or "major"    # the heading itself is no item: neither done nor to do
            continue
        if rank is not None and (section == "minor" or rank == "major"):
            section = None
        if section or _TICKED.match(line) or _DONE_MARK.search(line) or _DONE_LEAD.match(line) \
                or _capital_done(line):
            done.add(i)
    return done


def _capital_done(line: str) -> bool:
    """``DONE`` in capitals; OCR may lose one letter's case or read the O as a zero (``DoNE``,
    ``D0NE``), while "done" in prose ("check the mapping is done") has at most one capital."""
    return any(sum(c.isupper() or c == "0" for c in m.group()) >= 3
               for m in _DONE_WORD.finditer(line))


def takes_finished(todo: list[list[str]], lines: list[str], finished: set[int]) -> bool:
    """Does a todo (its title and quote as tokens) match a finished line, by the rule that pairs
    todos with labels? The title counts as well as the quote: a model may quote one line and
    title the next."""
    return any(similarity(todo, [tokens(lines[i])]) is not None for i in finished)


def judge(labels: dict[str, Any], data: dict[str, Any] | None, evidence: dict[str, Any] | None
          ) -> tuple[dict[str, tuple[int, int]], dict[str, dict[str, Any]]]:
    """One input's counters and the detail its report row shows."""
    todos = (data or {}).get("todos") or []
    produced = [[tokens(t.get("title")), tokens(t.get("source_quote"))] for t in todos]
    none = bool(labels.get("none"))
    wanted = [] if none else [_alternatives(e) for e in labels.get("todos", [])]
    optional = [] if none else [_alternatives(e) for e in labels.get("todos_optional", [])]
    pairs = pair(produced, wanted)
    unmatched = [i for i in range(len(todos)) if i not in pairs]
    ignored = [i for i in unmatched if any(similarity(produced[i], o) is not None
                                           for o in optional)]
    false = [i for i in unmatched if i not in ignored]
    lines = list((evidence or {}).get("lines") or [])
    finished = finished_lines(lines)
    done = [i for i in false if takes_finished(produced[i], lines, finished)]
    scores = {
        "precision": (len(pairs), len(pairs) + len(false)),
        "recall": (len(pairs), len(wanted)),
        "false_on_none": (int(bool(todos)), 1) if none else (0, 0),
        "done_taken": (len(done), len(todos)),
    }
    detail = _detail(labels, todos, pairs, false, ignored, done)
    # What the note model read, and the label it would learn from (``train_notes``).
    note = (evidence or {}).get("note") or {}
    if note.get("features"):
        detail |= {"features": note["features"], "has_todos": note.get("has_todos"),
                   "none": none}
    return scores, {"todos": detail}


def _detail(labels: dict[str, Any], todos: list[dict[str, Any]], pairs: dict[int, int],
            false: list[int], ignored: list[int], done: list[int]) -> dict[str, Any]:
    entries = [] if labels.get("none") else labels.get("todos", [])
    first = [e[0] if isinstance(e, list) and e else e for e in entries]
    missed = [first[k] for k in range(len(entries)) if k not in pairs.values()]
    title = [t.get("title") for t in todos]
    quote = [t.get("source_quote") for t in todos]
    why = "; ".join(f"{what}: {' | '.join(str(x) for x in items)}" for what, items in (
        ("missed", missed), ("false", [title[i] for i in false if i not in done]),
        ("done item taken", [title[i] for i in done])) if items)
    return {"expected": first, "got": title, "quotes": quote,
            "match": not missed and not false, "why": why,
            "matched": [[first[k], title[i]] for i, k in sorted(pairs.items())],
            "missed": missed, "false": [title[i] for i in false],
            "ignored": [title[i] for i in ignored], "done_taken": [title[i] for i in done]}
