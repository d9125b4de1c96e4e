"""Evidence: what code finds in a receipt's OCR text without a model.

The OCR lines become visual rows (keeping which lines are on each row, for provenance); the rows
yield candidates: every money-looking amount, every calendar date, the currency marks. Ranking
them is left to ``totals`` and ``merchants``; the model only chooses among what is found here.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from mustelid import OcrLine, clean_text, row_groups

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_MON = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"

# 1,234.56 / 1234.56 / 12.5 is not money (a quantity or weight), so two decimals are required;
# the look-arounds keep dates (12.01.19) and long codes from yielding fragments.
# A percentage (GST 6.00%, "grew 12.40%") is a rate, not money. Tills print cents below one unit
# without the zero ("Rounding Adjustment RM .01", "CHANGE RM .00"): a dot after a space counts.
_AMOUNT_DOT = re.compile(
    r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+|(?<![\w]))\.(\d{2})(?![\d]|[.,]\d|\s?%)")
_AMOUNT_COMMA = re.compile(r"(?<![\d.,])(\d{1,3}(?:\.\d{3})+|\d+),(\d{2})(?![\d]|[.,]\d|\s?%)")
# Whole amounts count only right after a currency mark (JPY, KRW receipts have no decimals).
_AMOUNT_WHOLE = re.compile(
    r"(?:[$€£¥₩]|\bRM|\bJPY|\bKRW)\s?(\d{1,3}(?:,\d{3})+|\d+)(?![\d.,])"
)

# No spaces around separators, no letter before: "HC03-7 - 15" is a product code, not a date.
# OCR often drops the space between a date and its time ("09/02/201811:40",
# "2018-01-0522:55:25"): a time glued on ends a date as well as a non-word character does.
_DATE_END = r"(?=\d{1,2}:\d{2}|(?![\w]))"
_DATE_NUMERIC = re.compile(r"(?<![\w./-])(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})" + _DATE_END)
_DATE_YMD = re.compile(r"(?<![\w./-])(\d{4})([./-])(\d{1,2})\2(\d{1,2})" + _DATE_END)
# Read only when no date is found above: a separator OCR lost between day and month
# ("2703/2018"), a date printed without separators ("27032018", "20180304"), a date glued to a
# code before it ("REG #19-18/03/2018").
_DATE_NO_SEP = re.compile(r"(?<![\w./-])(\d{2})(\d{2})([./-]?)((?:19|20)\d{2})" + _DATE_END)
_DATE_COMPACT_YMD = re.compile(r"(?<![\w./-])((?:19|20)\d{2})(\d{2})(\d{2})" + _DATE_END)
_DATE_GLUED = re.compile(r"(?<=[\w-])(\d{1,2})([./])(\d{1,2})\2((?:19|20)\d{2})" + _DATE_END)
_DATE_DAY_MON = re.compile(
    r"(?<!\d)(\d{1,2})(?:st|nd|rd|th)?[\s./-]*" + _MON + r"[\s./,-]*(\d{4}|\d{2})(?!\d)", re.I
)
_DATE_MON_DAY = re.compile(
    r"\b" + _MON + r"\s*(\d{1,2})(?:st|nd|rd|th)?,?\s*(\d{4})(?!\d)", re.I
)

# Printed marks -> ISO 4217. "$" alone is ambiguous, so it only counts when nothing better shows.
_CURRENCY_MARKS = [
    (re.compile(r"\bRM\b|\bMYR\b|\bRM(?=\s?\d)"), "MYR"),
    (re.compile(r"\bS\$|\bSGD\b"), "SGD"),
    (re.compile(r"\bA\$|\bAUD\b"), "AUD"),
    (re.compile(r"\bC\$|\bCAD\b"), "CAD"),
    (re.compile(r"€|\bEUR\b"), "EUR"),
    (re.compile(r"£|\bGBP\b"), "GBP"),
    (re.compile(r"¥|\bJPY\b"), "JPY"),
    (re.compile(r"₹|\bINR\b|\bRs\.?(?=\s?\d)"), "INR"),
    (re.compile(r"\bCHF\b"), "CHF"),
    (re.compile(r"\bUSD\b|\bUS\$"), "USD"),
]
_DOLLAR = re.compile(r"\$")

MAX_AMOUNTS = 40   # long receipts: enough for every total-like row, bounded for prompt size
MAX_DATES = 6


@dataclass
class Row:
    """One visual row: its text and the OCR lines (indexes into the job's line list) on it."""

    text: str
    lines: list[int]


@dataclass
class Candidate:
    value: str                    # canonical form: "33.90", "2019-01-12", "MYR"
    printed: str                  # as printed: "33.90", "12-01-19"
    rows: list[int] = field(default_factory=list)


def group_rows(lines: list[OcrLine]) -> list[Row]:
    """Rows in reading order, keeping which OCR line each came from (for provenance).

    The rows are ``mustelid.row_groups``'s; provenance keeps which OCR lines each holds."""
    index = {id(line): i for i, line in enumerate(lines)}
    return [Row(" ".join(l.text for l in g), [index[id(l)] for l in g])
            for g in row_groups(lines)]


def find_amounts(rows: list[Row]) -> list[Candidate]:
    """Every money-looking number, in reading order, one candidate per distinct value."""
    text = "\n".join(r.text for r in rows)
    use_comma = not _AMOUNT_DOT.search(text) and bool(_AMOUNT_COMMA.search(text))
    found: dict[str, Candidate] = {}
    for i, row in enumerate(rows):
        hits = []
        pattern = _AMOUNT_COMMA if use_comma else _AMOUNT_DOT
        for m in pattern.finditer(row.text):
            whole = re.sub(r"[.,]", "", m.group(1)) or "0"
            hits.append((m.group(0), f"{int(whole)}.{m.group(2)}"))
        for m in _AMOUNT_WHOLE.finditer(row.text):
            hits.append((m.group(1), str(int(m.group(1).replace(",", "")))))
        for printed, value in hits:
            cand = found.setdefault(value, Candidate(value, printed))
            if i not in cand.rows:
                cand.rows.append(i)
    return list(found.values())[:MAX_AMOUNTS]


def _make_date(year: int, month: int, day: int) -> dt.date | None:
    if year < 100:
        year += 2000
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def find_dates(rows: list[Row], order: str = "DMY") -> list[Candidate]:
    """Calendar dates printed on the receipt, as ISO. ``order`` (DMY or MDY, from the config)
    decides ambiguous numeric dates; the other reading is used only when the first is impossible
    (12/25/2018 is read month-first even in DMY mode)."""
    found: dict[str, Candidate] = {}
    for i, row in enumerate(rows):
        for m in _DATE_NUMERIC.finditer(row.text):
            _add_date(found, _day_month(m.group(1), m.group(3), m.group(4), order), m.group(0), i)
        for m in _DATE_YMD.finditer(row.text):
            date = _make_date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
            _add_date(found, date, m.group(0), i)
        for m in _DATE_DAY_MON.finditer(row.text):
            date = _make_date(int(m.group(3)), _MONTHS[m.group(2).lower()[:3]], int(m.group(1)))
            _add_date(found, date, m.group(0), i)
        for m in _DATE_MON_DAY.finditer(row.text):
            date = _make_date(int(m.group(3)), _MONTHS[m.group(1).lower()[:3]], int(m.group(2)))
            _add_date(found, date, m.group(0), i)
    if not found:
        for i, row in enumerate(rows):
            for m in _DATE_NO_SEP.finditer(row.text):
                date = _day_month(m.group(1), m.group(2), m.group(4), order)
                _add_date(found, date, m.group(0), i)
            for m in _DATE_COMPACT_YMD.finditer(row.text):
                date = _make_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                _add_date(found, date, m.group(0), i)
            for m in _DATE_GLUED.finditer(row.text):
                date = _day_month(m.group(1), m.group(3), m.group(4), order)
                _add_date(found, date, m.group(0), i)
    return list(found.values())[:MAX_DATES]


def _day_month(a: str, b: str, year: str, order: str) -> dt.date | None:
    """The date of day-or-month ``a``, month-or-day ``b``: ``order`` first, the other reading
    when the first is impossible."""
    dmy, mdy = (int(year), int(b), int(a)), (int(year), int(a), int(b))
    readings = [dmy, mdy] if order.upper() != "MDY" else [mdy, dmy]
    return next((d for d in (_make_date(*r) for r in readings) if d), None)


def _add_date(found: dict[str, Candidate], date: dt.date | None, printed: str, row: int) -> None:
    if date is None or not (1990 <= date.year <= 2100):
        return
    cand = found.setdefault(date.isoformat(), Candidate(date.isoformat(), printed.strip()))
    if row not in cand.rows:
        cand.rows.append(row)


def find_currencies(text: str) -> list[str]:
    found = [code for pattern, code in _CURRENCY_MARKS if pattern.search(text)]
    if not found and _DOLLAR.search(text):
        found.append("USD")
    return found


def row_label(row_text: str) -> str:
    """The words on an amount's row with the numbers taken out: "TOTAL RM", "CASH"."""
    words = _AMOUNT_DOT.sub(" ", _AMOUNT_COMMA.sub(" ", row_text))
    return " ".join(words.split())[:40] or "-"


def row_amounts(text: str) -> list[str]:
    return [f"{int(re.sub(r'[.,]', '', m.group(1)) or 0)}.{m.group(2)}"
            for m in _AMOUNT_DOT.finditer(text)]


def has_amount(text: str) -> bool:
    return bool(_AMOUNT_DOT.search(text) or _AMOUNT_COMMA.search(text))
