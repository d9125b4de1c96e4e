"""Values code finds on the screen without a model: URLs, e-mail addresses, dates, amounts and
names, offered to the model as numbered candidates (the model picks numbers, code copies)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

MAX_CANDIDATES = 20

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"'()]+", re.I)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# Whole month names or their abbreviations only: a bare prefix would read "Marketing 2" as 2 March.
_MON = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
        r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DATE_NUM = re.compile(r"(?<![\w./:-])(\d{1,2})([./])(\d{1,2})\2(\d{4}|\d{2})(?![\w./])")
_DATE_DAY_MON = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+" + _MON + r"(?:,?\s+(\d{4}))?\b", re.I)
_DATE_MON_DAY = re.compile(r"\b" + _MON + r"\s+(\d{1,2})(?:st|nd|rd|th)?(?:,\s*(\d{4}))?\b", re.I)
# Two or three capitalised words: people ("Maya Lindqvist"), also shops and products; the model
# decides which matter. Words that are calendar or interface vocabulary do not start a name.
_NAME = re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+){1,2}\b")
_NOT_NAMES = set("""january february march april may june july august september october november
december monday tuesday wednesday thursday friday saturday sunday mon tue wed thu fri sat sun
jan feb mar apr jun jul aug sep oct nov dec today tomorrow yesterday inbox reply forward error
search sign log add free new open save cancel retry close settings home menu hi dear best
thanks regards type""".split())
_AMOUNT = re.compile(
    r"(?:[$€£¥]\s?\d[\d,]*(?:\.\d{2})?"
    r"|\b\d[\d,]*\.\d{2}\s?(?:EUR|USD|GBP|CHF|JPY|CAD|AUD|MYR|SGD|INR)\b"
    r"|\b(?:EUR|USD|GBP|CHF|JPY|CAD|AUD|MYR|SGD|INR)\s?\d[\d,]*(?:\.\d{2})?)"
)


def find_candidates(lines: list[str]) -> list[dict[str, Any]]:
    """URLs, e-mail addresses, dates, amounts and names printed on the numbered lines, in reading
    order, one per distinct value: ``{"type", "value", "iso", "line"}`` (``line`` 1-based)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}

    def add(kind: str, value: str, number: int, iso: str | None = None) -> None:
        value = value.strip().rstrip(".,;:!?")
        if value and (kind, value.lower()) not in found:
            found[(kind, value.lower())] = {"type": kind, "value": value[:200], "iso": iso,
                                            "line": number}

    for number, text in enumerate(lines, 1):
        emails = [m.group(0) for m in _EMAIL.finditer(text)]
        for e in emails:
            add("email", e, number)
        for m in _URL.finditer(text):
            if not any(m.group(0) in e for e in emails):
                add("url", m.group(0), number)
        for printed, iso in find_dates(text):
            add("date", printed, number, iso)
        for m in _AMOUNT.finditer(text):
            add("amount", m.group(0), number)
        for m in _NAME.finditer(text):
            if not any(w.lower() in _NOT_NAMES for w in re.split(r"[ -]", m.group(0))):
                add("name", m.group(0), number)
    return list(found.values())[:MAX_CANDIDATES]


def find_dates(text: str) -> list[tuple[str, str | None]]:
    """Calendar dates printed in ``text``: ``(as printed, YYYY-MM-DD or None without a year)``.
    Numeric dates are read day-first unless that is impossible (12/25/2026)."""
    out: list[tuple[str, str | None]] = []
    for m in _DATE_ISO.finditer(text):
        out.append((m.group(0), _iso(int(m.group(1)), int(m.group(2)), int(m.group(3)))))
    for m in _DATE_NUM.finditer(text):
        a, b, year = int(m.group(1)), int(m.group(3)), int(m.group(4))
        year += 2000 if year < 100 else 0
        iso = _iso(year, b, a) or _iso(year, a, b)
        if iso:
            out.append((m.group(0), iso))
    for m in _DATE_DAY_MON.finditer(text):
        year = int(m.group(3)) if m.group(3) else None
        month = _MONTHS[m.group(2).lower()[:3]]
        out.append((m.group(0), _iso(year, month, int(m.group(1))) if year else None))
    for m in _DATE_MON_DAY.finditer(text):
        year = int(m.group(3)) if m.group(3) else None
        month = _MONTHS[m.group(1).lower()[:3]]
        out.append((m.group(0), _iso(year, month, int(m.group(2))) if year else None))
    return out


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return None
