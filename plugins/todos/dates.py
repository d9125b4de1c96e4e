"""Due dates: code finds the date words in a text ("tomorrow", "by Friday", "next Monday",
"14 May", "28/05") and resolves each against a reference day; the model may only copy one of
the phrases found (see the package docstring)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

PHRASE_CHARS = 60      # "before the end of the month" is 27; longer matches are not offered

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_DAY_ABBR = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3,
             "fri": 4, "sat": 5, "sun": 6}
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
            "eight": 8, "nine": 9, "ten": 10}
_PREP = r"(?:(?:by|on|before|until|till|due|for)\s+(?:the\s+)?)?"
# Whole month names or their abbreviations only: a bare prefix would read "Marketing 2" as 2 March.
# "Tue, 12 May": a weekday written before a date belongs to the date, not a second phrase.
_DOW = r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+)?"
_MON = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
        r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")

# Each pattern: (regex, resolver(match, today, date_order) -> date | None). Order matters: the
# first pattern to claim a span of text keeps it ("Tue 19 May" is a date, not a Tuesday).
_PATTERNS: list[tuple[re.Pattern[str], Any]] = []


def _pattern(regex: str, flags: int = re.I):
    def register(fn):
        _PATTERNS.append((re.compile(regex, flags), fn))
        return fn
    return register


@_pattern(_PREP + r"\b(\d{4})-(\d{2})-(\d{2})\b")
def _iso_date(m, today, order):
    return _date(int(m.group(1)), int(m.group(2)), int(m.group(3)))


@_pattern(_PREP + _DOW + r"(?<![\w.])(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})(?![\w.])")
def _numeric_with_year(m, today, order):
    a, b, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
    return _day_month(a, b, year + (2000 if year < 100 else 0), order)


# Without a year only the slash form counts: "1.2 kg" and "v2.3" are not dates.
@_pattern(_PREP + _DOW + r"(?<![\w./])(\d{1,2})/(\d{1,2})(?![\w/])")
def _numeric_no_year(m, today, order):
    a, b = int(m.group(1)), int(m.group(2))
    return _nearest(today, lambda y: _day_month(a, b, y, order))


@_pattern(_PREP + _DOW + r"\b(\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?\s+" + _MON
          + r"(?:,?\s+(\d{4}))?\b")
def _day_mon(m, today, order):
    day, month = int(m.group(1)), _MONTHS[m.group(2).lower()[:3]]
    if m.group(3):
        return _date(int(m.group(3)), month, day)
    return _nearest(today, lambda y: _date(y, month, day))


@_pattern(_PREP + _DOW + r"\b" + _MON + r"\s+(\d{1,2})(?:st|nd|rd|th)?(?:,?\s+(\d{4}))?\b")
def _mon_day(m, today, order):
    month, day = _MONTHS[m.group(1).lower()[:3]], int(m.group(2))
    if m.group(3):
        return _date(int(m.group(3)), month, day)
    return _nearest(today, lambda y: _date(y, month, day))


@_pattern(_PREP + r"\b(?:the\s+)?day\s+after\s+tomorrow\b")
def _day_after_tomorrow(m, today, order):
    return today + dt.timedelta(days=2)


@_pattern(_PREP + r"\b(today|tonight|this\s+(?:morning|afternoon|evening)|end\s+of\s+(?:the\s+)?day"
          r"|eod)\b")
def _today(m, today, order):
    return today


@_pattern(_PREP + r"\b(tomorrow|tmrw|tmr)\b")
def _tomorrow(m, today, order):
    return today + dt.timedelta(days=1)


@_pattern(_PREP + r"\bin\s+(\d{1,2}|a|one|two|three|four|five|six|seven|eight|nine|ten)\s+"
          r"(day|week)s?\b")
def _in_n(m, today, order):
    n = int(m.group(1)) if m.group(1).isdigit() else _NUMBERS[m.group(1).lower()]
    return today + dt.timedelta(days=n * (7 if m.group(2).lower() == "week" else 1))


@_pattern(_PREP + r"\b(?:(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?week|this\s+week)\b")
def _end_of_week(m, today, order):
    return today + dt.timedelta(days=max(0, 4 - today.weekday()))   # Friday, or today if later


@_pattern(_PREP + r"\b(?:this\s+|the\s+)?weekend\b")
def _weekend(m, today, order):
    return today + dt.timedelta(days=max(0, 5 - today.weekday()))   # Saturday, or today


@_pattern(_PREP + r"\bnext\s+week\b")
def _next_week(m, today, order):
    return today + dt.timedelta(days=7 - today.weekday())             # next Monday


@_pattern(_PREP + r"\b(?:(?:the\s+)?end\s+of\s+(?:the\s+|this\s+)?month|month\s+end)\b")
def _end_of_month(m, today, order):
    first_of_next = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first_of_next - dt.timedelta(days=1)


@_pattern(_PREP + r"\bnext\s+month\b")
def _next_month(m, today, order):
    return (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


@_pattern(_PREP + r"\b(?:(next|this|coming)\s+)?(" + "|".join(_WEEKDAYS) + r")\b")
def _weekday(m, today, order):
    return _resolve_weekday(_WEEKDAYS.index(m.group(2).lower()), m.group(1), today)


# Abbreviations only when capitalised: "sat" and "wed" are also ordinary words.
@_pattern(r"(?i:" + _PREP + r")\b(?:(?i:(next|this|coming))\s+)?"
          r"(Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)\b", 0)
def _weekday_abbr(m, today, order):
    return _resolve_weekday(_DAY_ABBR[m.group(2).lower()], m.group(1), today)


def _resolve_weekday(target: int, qualifier: str | None, today: dt.date) -> dt.date:
    """"Friday" / "by Friday": the next Friday after today (on a Friday, people write "today").
    "this Friday": this week's, today included. "next Friday": the Friday of next week."""
    ahead = (target - today.weekday()) % 7
    qualifier = (qualifier or "").lower()
    if qualifier == "this":
        return today + dt.timedelta(days=ahead)
    plain = today + dt.timedelta(days=ahead or 7)
    if qualifier == "next":
        next_monday = today + dt.timedelta(days=7 - today.weekday())
        return plain if plain >= next_monday else plain + dt.timedelta(days=7)
    return plain


def _date(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _day_month(a: int, b: int, year: int, order: str) -> dt.date | None:
    first, second = ((b, a), (a, b)) if order.upper() == "MDY" else ((a, b), (b, a))
    return _date(year, first[1], first[0]) or _date(year, second[1], second[0])


def _nearest(today: dt.date, make) -> dt.date | None:
    """A date written without a year: the occurrence nearest to today ("5 Jan" seen on 20 Dec
    is next January; "3 May" seen on 5 May is two days overdue, not next year)."""
    dates = [d for d in (make(today.year + k) for k in (-1, 0, 1)) if d]
    return min(dates, key=lambda d: abs((d - today).days)) if dates else None


@dataclasses.dataclass
class DuePhrase:
    phrase: str        # as printed, spaces collapsed: "by Friday"
    due: str           # ISO date it means, relative to the reference day
    line: int          # 0-based source line it was found on


def find_due_phrases(lines: list[str], today: dt.date, order: str = "DMY") -> list[DuePhrase]:
    """Every date phrase in ``lines``, in reading order, resolved against ``today``."""
    found: list[DuePhrase] = []
    for i, text in enumerate(lines):
        taken: list[tuple[int, int]] = []
        hits = []
        for pattern, resolve in _PATTERNS:
            for m in pattern.finditer(text):
                if any(m.start() < end and start < m.end() for start, end in taken):
                    continue
                due = resolve(m, today, order)
                if due is not None and len(" ".join(m.group(0).split())) <= PHRASE_CHARS:
                    taken.append((m.start(), m.end()))
                    hits.append((m.start(), " ".join(m.group(0).split()), due))
        found += [DuePhrase(p, d.isoformat(), i) for _, p, d in sorted(hits)]
    return found


def parse_due(phrase: str, today: dt.date, order: str = "DMY") -> dt.date | None:
    """The date a single phrase means, or None ("by Friday" -> the coming Friday)."""
    hits = find_due_phrases([phrase], today, order)
    return dt.date.fromisoformat(hits[0].due) if hits else None
