"""The key lines of a screen, chosen by code: the lines that together cover most of what the
screen is about.

What a screen is about recurs: a chat's channel and its speakers, the function an editor shows,
the file an error names, the words of a document's subject. A term (a word of three letters or
more that is not a common word) weighs as many lines as it occurs on (up to five), twice when
it reads as a name (capitalised, or an identifier: ``human_readable``, ``#irssi``,
``q3-sales.db``), three times more when it names a file or a path. Key lines are picked
greedily, each the line whose terms not yet covered weigh most, starting from what the title
already covers. A mail's Subject and From lines and the first definition in code (a shell
function's ``name() {`` too) are taken first, as they say what the rest is; an error message
counts extra. A row of key bindings ("i:Exit -:PrevPg") is the program's, like a menu bar.

Why code and not the model: on screens-dev's tuning half the 0.5B model's key lines and summary
together mentioned 16 of 36 labelled key facts; the title and these lines alone mention 29
(25 of 36 on the half not tuned on).
"""

from __future__ import annotations

import re
from collections import Counter

from .kinds import BUTTON, ERROR_WORDS
from .output import MAX_KEY_LINES
from .titles import is_menu_bar

SHOWN_KEY_LINES = 3   # of the key lines, the first picked are the prompt's (prefill is time)
# A heading: a line set at least this much taller than the screen's median line. Pages name
# their subject in one ("Startup How-To", "2.7.6. Debugging Options"); the 128 screens of
# screens-dev and screens-fresh7 to 9 hold 1.4 such lines on average (``heading``).
HEADING = 1.3
_TOKEN = re.compile(r"[#@]?[^\W_][\w.\-/@#]*[^\W_]|[^\W\d_]")
_NAME_LIKE = re.compile(r"[_#@./-]|[a-z][A-Z]|[A-Za-z]\d|\d[A-Za-z]|^[A-Z]")
_HEADER = re.compile(r"^(from|subject)\s?:", re.I)
_SUBJECT = re.compile(r"^\s*subject\s?:", re.I)
_FROM = re.compile(r"^\s*from\s?:", re.I)
# A file's name or a path: what an editor shows, an error names, a viewer opened. A term of one
# counts three times (a web address is a page's, not a file's). Measured: docs/EVAL.md.
_FILE = re.compile(r"^(?!https?:)(?:.*[\w-]\.[a-z][a-z0-9]{0,4}$|.*/)")
DEFINITION = re.compile(r"^\s*(\(?(def\w*|class|function|func|fn|struct|sub|interface)\b|"
                         r"[A-Z_][A-Z0-9_]+\(|[A-Za-z_][\w-]*\s*\(\)\s*\{\s*$)")
_COMMON = set("""the and for are but not you all any can had her was one our out day get has
him his how man new now old see two way who did its let put say she too use that with have this
will your from they know want been good much some time very when come here just like long make
many more only over such take than them well were what which while would there their about
after again also could every first other these those into then being should where does done
each most must same why because under between through during before above below upon""".split())


def terms(line: str) -> dict[str, bool]:
    """The line's terms (case-folded) -> whether the term reads as a name there."""
    out: dict[str, bool] = {}
    for token in _TOKEN.findall(line):
        token = token.strip(".-/")
        key = token.casefold()
        if len(token) < 3 or key in _COMMON or token.isdigit():
            continue
        out[key] = out.get(key, False) or bool(_NAME_LIKE.search(token))
    return out


def heading(texts: list[str], heights: list[float], title_line: int | None) -> int | None:
    """The 1-based number of the screen's tallest line when it is a heading: ``HEADING`` times
    the median line's height or more, holding a term, not the title bar nor a menu bar."""
    if not heights:
        return None
    median = sorted(heights)[len(heights) // 2] or 1.0
    tall = [(h, n) for n, (h, text) in enumerate(zip(heights, texts), 1)
            if h >= HEADING * median and n != title_line and terms(text) and not is_menu_bar(text)]
    return max(tall)[1] if tall else None


def key_lines(texts: list[str], title_line: int | None = None,
              heights: list[float] | None = None) -> list[int]:
    """1-based numbers of up to ``MAX_KEY_LINES`` lines, in the order picked (the surest
    first); ``heights``: each line's height, to find a heading."""
    per_line = [terms(t) for t in texts]
    seen: Counter[str] = Counter()
    named: set[str] = set()
    for found in per_line:
        seen.update(found.keys())     # the terms, not the dict: Counter adds its values
        named.update(t for t, is_name in found.items() if is_name)

    def weight(term: str) -> int:
        return min(seen[term], 5) * (2 if term in named else 1) * (3 if _FILE.search(term) else 1)

    covered = set(per_line[title_line - 1]) if title_line else set()
    # A mail's subject and the first definition in code say what the rest is: taken first,
    # not weighed against longer lines whose many terms outscored them ("(let ((fill-column
    # ..." over "(defun erc-fill-static ()"). Measured on screens-dev: docs/EVAL.md.
    # A manual page's one-line description follows its NAME heading ("tar - an archiving ...").
    described = next((n + 1 for n, text in enumerate(texts[:-1], 1) if text.strip() == "NAME"
                      and " - " in texts[n]), None)
    chosen = [n for n in (_first(texts, per_line, _SUBJECT, title_line),
                          _first(texts, per_line, _FROM, title_line),
                          _first(texts, per_line, DEFINITION, title_line), described,
                          heading(texts, heights or [], title_line)) if n]
    chosen = list(dict.fromkeys(chosen))[:MAX_KEY_LINES - 1]
    for n in chosen:
        covered |= per_line[n - 1].keys()
    while len(chosen) < MAX_KEY_LINES:
        best: tuple[int, int] | None = None
        for n, text in enumerate(texts, 1):
            # A menu bar or a button's label says nothing about this screen in particular.
            if n in chosen or n == title_line or is_menu_bar(text) or BUTTON.match(text.strip()):
                continue
            score = sum(weight(t) for t in per_line[n - 1].keys() - covered)
            if score and _HEADER.match(text):
                score += 6
            if score and DEFINITION.match(text):
                score += 4
            if score and ERROR_WORDS.search(text):
                score += 2
            if score and (best is None or score > best[0]):
                best = (score, n)
        if best is None:
            break
        chosen.append(best[1])
        covered |= per_line[best[1] - 1].keys()
    return chosen


def _first(texts: list[str], per_line: list[dict[str, bool]], pattern: re.Pattern[str],
           title_line: int | None) -> int | None:
    """The 1-based number of the first line (not the title bar) that matches and holds a term."""
    return next((n for n, text in enumerate(texts, 1)
                 if n != title_line and per_line[n - 1] and pattern.match(text)), None)


# What the model reads beside the key lines. Prefill is most of a screen's model time (~5 ms a
# token on two cores; a full screen's 60 lines were ~1,000 tokens), and the summary draws on the
# key lines; the rest is context: the top of the screen in reading order, within a budget.
# 600 -> 450 (session 14): on screens-dev the same odd-half scores, the even half one kind and
# two key facts more, 155 -> 141 s in all (the one value tried; docs/EVAL.md). 450 -> 200
# (session 29), on screens-dev, fresh10 and fresh11 (98 screens, two of the sets never tuned
# on): the same kinds and titles, one key fact more, 19-25 % fewer prompt tokens and 16-21 %
# less model time (the machine's prefill is ~11 ms a token now, not ~5).
PROMPT_CHARS = 200
PROMPT_LINE_CHARS = 70
_LETTER = re.compile(r"[^\W\d_]")


def context_lines(texts: list[str], keys: list[int], title_line: int | None) -> list[int]:
    """1-based numbers of the lines shown to the model besides the key lines: the title bar,
    then lines in reading order that hold a word (three letters or more: not a clock, an icon or
    a rule) and are not a menu bar, until ``PROMPT_CHARS`` characters (each line counted up to
    ``PROMPT_LINE_CHARS``, where the prompt cuts it)."""
    chosen = [title_line] if title_line else []
    used = 0
    for n, text in enumerate(texts, 1):
        if n in keys or n == title_line or len(_LETTER.findall(text)) < 3 or is_menu_bar(text):
            continue
        used += min(len(text), PROMPT_LINE_CHARS)
        if used > PROMPT_CHARS:
            break
        chosen.append(n)
    return sorted(chosen)
