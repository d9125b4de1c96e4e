"""Is the summary grounded? Every specific claim in it must be on the screen.

A claim is what a reader would take as a fact read off the screen: a number, a path, address or
file name, something quoted, an identifier, a proper name (a capitalised word inside a
sentence). Each must occur in the OCR text, compared without case, accents, spaces or
punctuation (OCR splits and joins words). Qwen 0.5B's summaries otherwise add background it
knows or guesses ("a popular IRC client", "on Windows", "version 2.1") as if the screen said it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from .output import SUMMARY_CHARS

_QUOTED = re.compile(r"[\"“”‘’'`]([^\"“”‘’'`]{2,60})[\"“”‘’'`]")
_TOKEN = re.compile(r"[^\s,;()\[\]{}<>!?\"“”‘’`]+")
_SENTENCE_END = re.compile(r"[.!?:]$")
# A capitalised word that starts no sentence and is not a name: words a summary uses for the
# screen itself. Everything else capitalised inside a sentence is taken as a name.
_PLAIN = {"i", "a", "an", "the", "ok", "id", "ui", "url", "pdf", "gui", "api", "faq"}


def _flat(text: str) -> str:
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text))
    return "".join(c for c in text.casefold() if c.isalnum())


def claims(summary: str) -> list[str]:
    """The specific claims in ``summary``, in order, each once."""
    found = [m.group(1).strip() for m in _QUOTED.finditer(summary)]
    rest = _QUOTED.sub(" ", summary)
    start = True                           # the next word starts a sentence
    for m in _TOKEN.finditer(rest):
        word = m.group(0).strip(".:'-")
        if word and _specific(word, start):
            found.append(word)
        start = bool(_SENTENCE_END.search(m.group(0)))
    return list(dict.fromkeys(c for c in found if _flat(c)))


def _specific(word: str, sentence_start: bool) -> bool:
    if any(c.isdigit() for c in word):
        return True                                            # 3.8, 404, 17:16, v2
    if "/" in word or "@" in word or "_" in word or re.search(r"[a-z]\.[a-z]", word, re.I):
        return True                                            # paths, mails, files, ids
    if re.search(r"[a-z][A-Z]", word):
        return True                                            # camelCase, WeeChat
    letters = [c for c in word if c.isalpha()]
    capital = bool(letters) and letters[0].isupper()
    return capital and not sentence_start and word.casefold() not in _PLAIN


def ungrounded(summary: str, screen_text: str) -> list[str]:
    """The claims of ``summary`` that the screen's text does not hold."""
    screen = _flat(screen_text)
    return [c for c in claims(summary) if _flat(c) not in screen]


_ECHO_WORDS = 4           # a run of the request's words this long is copied, not written


def instructions(messages: list[dict[str, str]], variables: dict[str, Any]) -> str:
    """The request's own words: the rendered prompt with the screen's values taken out."""
    text = "\n".join(m.get("content", "") for m in messages)
    for value in sorted((str(v) for v in variables.values() if str(v).strip()), key=len,
                        reverse=True):
        text = text.replace(value, "\n")
    return text


def echoed(summary: str, asked: str, screen_text: str) -> list[str]:
    """Runs of ``_ECHO_WORDS`` words of the request (``instructions``) that the summary repeats
    and the screen does not show: the model copying its instructions ("The lines that say most
    about it: ...", 22 of 580 summaries in the evals of sessions 26-31) instead of saying what
    the screen is."""
    grams = {g for line in asked.splitlines() for g in _grams(_words(line))}
    screen = _flat(screen_text)
    return [g for g in dict.fromkeys(_grams(_words(summary)))
            if g in grams and _flat(g) not in screen]


def _words(text: str) -> list[str]:
    return re.findall(r"[^\W_]+", unicodedata.normalize("NFKD", text).casefold())


def _grams(words: list[str]) -> list[str]:
    return [" ".join(words[i:i + _ECHO_WORDS]) for i in range(len(words) - _ECHO_WORDS + 1)]


def without(summary: str, unsupported: list[str]) -> str:
    """``summary`` without the sentences that make an unsupported claim."""
    sentences = re.split(r"(?<=[.!?])\s+", summary.strip())
    kept = [s for s in sentences if not any(c in s or c in " ".join(_words(s))
                                            for c in unsupported)]
    return " ".join(kept).strip()


def picture_summary(lines: list[str], limit: int = SUMMARY_CHARS) -> str:
    """What a near-textless screen says, in code's words: that it is mostly a picture, and its
    few lines of text."""
    if not lines:
        return "A picture: no text was found on it."
    words = [l for l in lines if any(c.isalpha() for c in l)][:3]
    head = "Mostly a picture, with little text"
    text = head + (": " + "; ".join(words) if words else ".")
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
