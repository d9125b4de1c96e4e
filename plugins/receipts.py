"""Receipts: OCR a photo or scan of a receipt and record it as an expense (``record_expense``).

The method, chosen for a 0.5B model that cannot be trusted to copy digits, convert dates or find
the right total on its own: code finds the amounts, dates, currency marks and header rows the OCR
text contains and ranks them (the total is the last total-labelled amount before the payment
lines, after rounding; the merchant is the header row above the address, a company word first);
the prompt shows these candidates, most likely first, with the words printed beside them; and
the per-job JSON schema makes ``merchant``, ``total``, ``date``, item prices and ``currency``
*enums of those candidates*. The model only chooses, and whatever it chooses is printed on the
receipt. Refusing comes first: ``prepare`` ends the job as ``not_a_receipt`` when no amount is
printed on a total or payment line, and the model's first field, ``is_receipt``, may still say
no; either way no expense is invented.

Sections: the output model; evidence (pure functions over OCR rows); the task; registration.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import json
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from mustelid import Evidence, JobInput, PermanentError, Task, hookimpl
from mustelid.ocr import OcrLine, normalise_box, reading_order, rows_as_text

# ---------------------------------------------------------------------------------------------
# The function the model calls

MONEY_PATTERN = r"^[0-9]{1,9}(\.[0-9]{1,3})?$"


def _finite_non_negative(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError("amount must be a finite, non-negative number")
    return value


# A decimal travels as a JSON *string* ("33.90"): the grammar then allows digits only, no
# exponent (NOTES: a JSON number admitted 7777...E6666 = inf) and no binary float rounding.
Money = Annotated[
    Decimal,
    Field(max_digits=12, decimal_places=3),   # the pattern below, for backends without a grammar
    AfterValidator(_finite_non_negative),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "maxLength": 13}),
]


# ISO calendar day or null; "format: date" alone would leave the converter's bound implicit.
IsoDate = Annotated[
    dt.date | None,
    WithJsonSchema({"anyOf": [
        {"type": "string", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "maxLength": 10},
        {"type": "null"},
    ]}),
]


class Category(str, enum.Enum):
    groceries = "groceries"
    dining = "dining"
    fuel = "fuel"
    transport = "transport"
    shopping = "shopping"
    household = "household"
    health = "health"
    entertainment = "entertainment"
    travel = "travel"
    utilities = "utilities"
    services = "services"
    office = "office"
    other = "other"


MAX_QUANTITY = 99
# llama.cpp's schema converter ignores minimum/maximum (a 0.5B model wrote a 13-digit barcode as
# a quantity), so the bound is spelled out as an enum of JSON integers.
Quantity = Annotated[
    int,
    Field(ge=1, le=MAX_QUANTITY),
    WithJsonSchema({"type": "integer", "enum": list(range(1, MAX_QUANTITY + 1))}),
]


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40)
    quantity: Quantity
    price: Money


MAX_ITEMS = 12   # priced rows kept as line items (filled by code, not generated)
MAX_ITEMS_SHOWN = 3   # item names in the prompt, for the category: ~6 prompt tokens each


class Expense(BaseModel):
    """What the model fills in, every field chosen from values printed on the receipt. Field
    order is generation order: is it a receipt, then the header, then the totals."""

    model_config = ConfigDict(extra="forbid")
    # A yes/no, measured against the alternative: a "document kind" enum (receipt, invoice, bank
    # statement, menu, recipe, ...) refused 2 of 6 non-receipts but also 3 of 40 real receipts
    # (read as "recipe"). The boolean refuses almost nothing; prepare's gate does the refusing.
    is_receipt: bool
    # merchant, date and currency are null when nothing printed can be them (the job schema
    # then admits only null): a missing value is recorded as missing, with the reason in
    # provenance, never guessed.
    merchant: str | None = Field(..., min_length=1, max_length=60)   # required, may be null
    date: IsoDate = None
    total: Money
    currency: str | None = Field(..., pattern=r"^[A-Z]{3}$", max_length=3)
    category: Category


class RecordedExpense(Expense):
    """The validated result. ``items`` (the priced rows, as printed) and ``provenance`` (which
    OCR line each value came from) are filled by ``check`` from the evidence, never by the model,
    so they are not part of the grammar; keeping them on the result carries them to ``persist``,
    which runs in another process without the evidence.

    Items were generated by the model until measured: copying three items cost 60-250 answer
    tokens and more than the rest of the answer together (docs/BENCHMARKS.md), for the field
    the model got wrong most often (items that added up to more than the total)."""

    items: list[LineItem] = Field(default_factory=list, max_length=MAX_ITEMS)
    provenance: dict[str, Any] | None = None


# ---------------------------------------------------------------------------------------------
# Evidence: what code can find in the OCR text without a model

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_MON = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"

# 1,234.56 / 1234.56 / 12.5 is not money (a quantity or weight), so two decimals are required;
# the look-arounds keep dates (12.01.19) and long codes from yielding fragments.
# A percentage (GST 6.00%, "grew 12.40%") is a rate, not money.
_AMOUNT_DOT = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)\.(\d{2})(?![\d]|[.,]\d|\s?%)")
_AMOUNT_COMMA = re.compile(r"(?<![\d.,])(\d{1,3}(?:\.\d{3})+|\d+),(\d{2})(?![\d]|[.,]\d|\s?%)")
# Whole amounts count only right after a currency mark (JPY, KRW receipts have no decimals).
_AMOUNT_WHOLE = re.compile(
    r"(?:[$€£¥₩]|\bRM|\bJPY|\bKRW)\s?(\d{1,3}(?:,\d{3})+|\d+)(?![\d.,])"
)

# No spaces around separators, no letter before: "HC03-7 - 15" is a product code, not a date.
_DATE_NUMERIC = re.compile(r"(?<![\w./-])(\d{1,4})([./-])(\d{1,2})\2(\d{4}|\d{2})(?![\w])")
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
# Few options: every extra header row offered is one more way for a 0.5B model to pick an
# address or a scribble; the code ranks, the model picks among the best-ranked rows.
MAX_MERCHANT_ROWS = 3
HEADER_ROWS = 12   # the merchant is printed in the header; deeper rows are items and totals

# Words that label the amount to pay, in the languages of receipts we have seen (EN, MS, DE, NL,
# FR, IT, ES). A shortlist, not a verdict: the model still chooses among the labelled amounts.
_TOTAL_LABEL = re.compile(
    r"TOTAL|\bT[O0A]T[A4]?L\b|AMOUNT DUE|AMT DUE|BALANCE DUE|TO PAY|PAYABLE|GRAND|NETT|JUMLAH"
    r"|SUMME|TOTAAL|MONTANT|IMPORTE",   # T0TAL, TOTL: OCR drops and swaps letters
)
# ... and words that make a "total" row something else: subtotals, counts, tax lines, payment.
_NOT_TOTAL_LABEL = re.compile(
    r"SUB|QTY|QUANTITY|ITEM|EXCL|SAVING|DISC|POINT|CASH|CHANGE|TENDER|CARD|VOUCHER"
)
_TAX_LABEL = re.compile(r"\b(TAX|GST|VAT|SST|MWST|TVA|IVA)\b")
# Lines that record how the total was paid. Totals printed after them belong to tax summaries.
_PAYMENT_LABEL = re.compile(r"\bCASH\b|CHANGE|TENDER|CARD|VISA|MASTER|PAID|PAYMENT|BAYAR|BAKI")
_ROUNDING_LABEL = re.compile(r"ROUND|ADJ")

# Header rows that are receipt boilerplate, not the business name ...
_BOILERPLATE = re.compile(
    r"\b(INVOICE|RECEIPT|CASHIER|TEL|FAX|GST|REG|DATE|TIME|TABLE|ORDER|COUNTER|QTY|ITEMS?|DESC"
    r"|DESCRIPTION|CASH|SALESPERSON|WAITER|MEMBER|DOCUMENT|TERMINAL|TOKEN|STATION|COVER)\b"
    r"|@|WWW|\.COM|:$"   # a row ending in ":" is a field label whose value went elsewhere
)
# ... or an address (EN, MS, DE, FR, ES words for street, estate, district, floor; postcodes),
# unless a company word shows the address is part of the name: "BOOK TA.K (TAMAN DAYA) SDN BHD".
_ADDRESS = re.compile(
    r"^NO\b|^LOT\b|\b\d{5}\b|\b(ROAD|RD|STREET|AVENUE|AVE|BLVD|FLOOR|FLR|JALAN|JLN|LORONG"
    r"|PERSIARAN|TAMAN|TMN|KAWASAN|BANDAR|SEKSYEN|STRASSE|RUE|CALLE)\b"
)
# A registration number printed after the name: "99 SPEED MART S/B (519537-X)".
_TRAILING_REG_NO = re.compile(r"\s*\(?[A-Z]{0,3}\d{4,}[-\d]*-?[A-Z]?\)?$")
# OCR misreads the Malaysian legal suffix often (SDN BND, SON BHD, SDN.BHO): accept those too.
_LEGAL_SUFFIX = r"S[DO]N\.? ?B[HN][DO]|BHD|S/B|LTD|LIMITED|INC|LLC|GMBH|PTE|PLC|CORP"
_COMPANY_WORDS = re.compile(
    r"\b(" + _LEGAL_SUFFIX + r"|CO\.|ENTERPRISE|TRADING"
    r"|RESTAURANT|RESTORAN|STORE|MART|MARKET|SHOP|CAFE|HOTEL|HARDWARE|STATIONERY)\b"
)


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


def clean_text(text: str) -> str:
    # NFKC folds full-width punctuation from CJK-capable OCR models ("（" -> "(") into ASCII.
    return " ".join(unicodedata.normalize("NFKC", text).split())


def group_rows(lines: list[OcrLine]) -> list[Row]:
    """Rows in reading order, keeping which OCR line each came from (for provenance). Uses the
    same rule as ``mustelid.ocr.rows_as_text``: vertical centres within half a median height."""
    order = reading_order(lines)
    index = {id(line): i for i, line in enumerate(lines)}
    if not order:
        return []
    heights = sorted(l.box[3] - l.box[1] for l in order)
    tol = max(4, heights[len(heights) // 2] // 2)
    groups: list[list[OcrLine]] = [[order[0]]]
    for line in order[1:]:
        first = groups[-1][0]
        if abs((line.box[1] + line.box[3]) / 2 - (first.box[1] + first.box[3]) / 2) <= tol:
            groups[-1].append(line)
        else:
            groups.append([line])
    return [Row(" ".join(l.text for l in g), [index[id(l)] for l in g]) for g in groups]


def parse_money(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value >= 0 else None


def find_amounts(rows: list[Row]) -> list[Candidate]:
    """Every money-looking number, in reading order, one candidate per distinct value."""
    text = "\n".join(r.text for r in rows)
    use_comma = not _AMOUNT_DOT.search(text) and bool(_AMOUNT_COMMA.search(text))
    found: dict[str, Candidate] = {}
    for i, row in enumerate(rows):
        hits = []
        pattern = _AMOUNT_COMMA if use_comma else _AMOUNT_DOT
        for m in pattern.finditer(row.text):
            whole = re.sub(r"[.,]", "", m.group(1))
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
            a, b, c = int(m.group(1)), int(m.group(3)), int(m.group(4))
            if len(m.group(1)) == 4:
                readings = [(a, b, c)]
            elif len(m.group(1)) <= 2:
                dmy, mdy = (c, b, a), (c, a, b)
                readings = [dmy, mdy] if order.upper() != "MDY" else [mdy, dmy]
            else:
                continue
            date = next((d for d in (_make_date(*r) for r in readings) if d), None)
            _add_date(found, date, m.group(0), i)
        for m in _DATE_DAY_MON.finditer(row.text):
            date = _make_date(int(m.group(3)), _MONTHS[m.group(2).lower()[:3]], int(m.group(1)))
            _add_date(found, date, m.group(0), i)
        for m in _DATE_MON_DAY.finditer(row.text):
            date = _make_date(int(m.group(3)), _MONTHS[m.group(1).lower()[:3]], int(m.group(2)))
            _add_date(found, date, m.group(0), i)
    return list(found.values())[:MAX_DATES]


def _add_date(found: dict[str, Candidate], date: dt.date | None, printed: str, row: int) -> None:
    if date is None or not (1990 <= date.year <= 2100):
        return
    cand = found.setdefault(date.isoformat(), Candidate(date.isoformat(), printed.strip()))
    if row not in cand.rows:
        cand.rows.append(row)


def is_total_label(label: str) -> bool:
    label = label.upper()
    if not _TOTAL_LABEL.search(label) or _NOT_TOTAL_LABEL.search(label):
        return False
    return not _TAX_LABEL.search(label) or "INCL" in label


def total_shortlist(amounts: list[Candidate], rows: list[Row]) -> list[Candidate]:
    """The amounts that can be the total, most likely first (a 0.5B model mostly takes the first
    option, so the order carries the rule "the last total printed before payment"):

    - printed on a row labelled as a total, before the payment lines (tax summaries after CASH /
      CHANGE repeat "TOTAL" for other sums);
    - with a labelled total replaced by its rounding-corrected sum when a rounding adjustment and
      that sum are printed (cash rounding: TOTAL 60.31, ROUNDING -0.01, then 60.30 with an
      unreadable label).

    All non-zero amounts, largest first, when no row is so labelled: an unreadable label must not
    hide the answer.
    """
    nonzero = [c for c in amounts if Decimal(c.value) > 0]
    total_rows = sorted(total_labels(rows))
    by_size = _by_size(nonzero)
    if not total_rows:
        return by_size
    payment_rows = [
        i for i, r in enumerate(rows)
        if i > total_rows[0] and _PAYMENT_LABEL.search(r.text.upper()) and _has_amount(r.text)
    ]
    end = payment_rows[0] if payment_rows else len(rows)
    in_range = [i for i in total_rows if i < end] or total_rows
    chosen = [c for c in nonzero if any(r in in_range for r in c.rows)]
    by_value = {Decimal(c.value): c for c in nonzero}
    for i, row in enumerate(rows[:end]):
        if not _ROUNDING_LABEL.search(row.text.upper()) or is_total_label(row.text):
            continue
        for adj in [c for c in nonzero if i in c.rows]:
            # Printed order is TOTAL, adjustment, rounded sum; the reverse is not a rounding.
            for total in [c for c in chosen if min(c.rows) < i]:
                for value in (Decimal(total.value) - Decimal(adj.value),
                              Decimal(total.value) + Decimal(adj.value)):
                    rounded = by_value.get(value)
                    if rounded and rounded is not adj and max(rounded.rows) > i:
                        # What was paid is the rounded sum: the unrounded one is not offered,
                        # the model (measured) prefers a row that says TOTAL over one that doesn't.
                        if rounded in chosen:
                            chosen.remove(total)
                        else:
                            chosen[chosen.index(total)] = rounded
                        break
    # Most likely first: the total printed last (after tax, discounts and rounding).
    return sorted(chosen, key=lambda c: -max(c.rows)) or by_size


def _by_size(amounts: list[Candidate]) -> list[Candidate]:
    # Without a legible total label the total is usually the largest sum that is not cash handed
    # over; largest first is the better guess than printed order.
    return sorted(amounts, key=lambda c: -Decimal(c.value))


def item_prices(amounts: list[Candidate], rows: list[Row]) -> list[Candidate]:
    """Amounts an item can cost: printed above the first total row, on a row that is not a
    total, tax, rounding or payment line. The total, the cash handed over and the change are
    never an item's price; offering them let the model list items that cost more than the total."""
    labelled = total_labels(rows)
    end = min(labelled) if labelled else len(rows)
    out = []
    for c in amounts:
        ok = [r for r in c.rows if r < end and not _TAX_LABEL.search(rows[r].text.upper())
              and not _PAYMENT_LABEL.search(rows[r].text.upper())
              and not _ROUNDING_LABEL.search(rows[r].text.upper())
              and not is_total_label(rows[r].text) and Decimal(c.value) > 0]
        if ok:
            out.append(c)
    return out


# A quantity printed on an item row: "2 X", "1 PC", "QTY 2", or a lone small integer.
_QUANTITY = re.compile(r"(?<![\w.,/])(\d{1,2})\s?(?:[xX*@]|PCS?\b|UNITS?\b)|\bQTY\s*:?\s*(\d{1,2})\b"
                       r"|(?<![\w.,/-])(\d{1,2})(?![\w.,/:-])")
# "Item(s) : 4  Qty(s) : 5": a count of the items, not one of them.
_ITEM_SUMMARY = re.compile(r"\bITEMS?\b\s*\(?S?\)?\s*:|\bQTY\(?S?\)?\s*:|\bNO\.? OF ITEMS")
# Barcodes and article numbers (6+ digits) say nothing a reader of the item list needs.
_CODE = re.compile(r"(?<![\w.])\d{6,}(?![\w.])")


def item_lines(prices: list[Candidate], rows: list[Row]) -> list[dict[str, Any]]:
    """Priced rows that can be purchased items: name, quantity, price, and the row.

    The price is the row's last amount (the line total) among ``prices`` (``item_prices``);
    the name is the row's words, or the next row's when the priced row holds only a code and
    numbers (item tables often print the description on its own line); the quantity is a
    small standalone integer on the row ("2 x", "QTY 2", "1 PC"), else 1."""
    allowed = {c.value for c in prices}
    out: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        on_row = [v for v in _row_amounts(row.text) if v in allowed]
        if not on_row or _ITEM_SUMMARY.search(row.text.upper()):
            continue
        label = _CODE.sub(" ", _label(row.text))
        if sum(ch.isalpha() for ch in label) < 4 and i + 1 < len(rows) \
                and not _has_amount(rows[i + 1].text) \
                and not _ITEM_SUMMARY.search(rows[i + 1].text.upper()):
            label = f"{rows[i + 1].text} {label}".strip()
        qty = _QUANTITY.search(label)
        quantity = int(next(g for g in qty.groups() if g)) if qty else 1
        if qty:
            label = label[:qty.start()] + " " + label[qty.end():]
        name = " ".join(label.split())[:40].strip()
        if sum(ch.isalpha() for ch in name) < 2:
            continue
        item = {"name": name, "quantity": quantity if 1 <= quantity <= MAX_QUANTITY else 1,
                "price": on_row[-1]}
        if any(item == {k: o[k] for k in item} for o in out):
            continue
        out.append({**item, "row": i})
        if len(out) == MAX_ITEMS:
            break
    return out


_SUBTOTAL_LABEL = re.compile(r"SUB\s?-?\s?TOTAL|SUBTOTAL|TOTAL\s+EXCL")
_SERVICE_LABEL = re.compile(r"SERVICE|SVC|S\.?CHARGE")


def printed_sum(rows: list[Row]) -> Decimal | None:
    """Subtotal + tax + service charge as printed above the first total row, or None when the
    receipt does not print a subtotal with at least one of the others (then there is nothing to
    add up). Tax-inclusive summaries (INCL) are left out: their tax is already in the subtotal."""
    labelled = total_labels(rows)
    end = min(labelled) if labelled else len(rows)
    subtotal, extras = None, []
    for row in rows[:end]:
        upper = row.text.upper()
        amounts = [Decimal(v) for v in _row_amounts(row.text)]
        if not amounts or "INCL" in upper or "%" in upper and len(amounts) > 1:
            continue
        if _SUBTOTAL_LABEL.search(upper) and subtotal is None:
            subtotal = amounts[-1]
        elif subtotal is not None and "TOTAL" not in upper and (
                _TAX_LABEL.search(upper) or _SERVICE_LABEL.search(upper)):
            extras.append(amounts[-1])
    if subtotal is None or not extras:
        return None
    return subtotal + sum(extras)


def _row_amounts(text: str) -> list[str]:
    return [f"{int(re.sub(r'[.,]', '', m.group(1)))}.{m.group(2)}"
            for m in _AMOUNT_DOT.finditer(text)]


def total_labels(rows: list[Row]) -> dict[int, str]:
    """Rows whose amounts are labelled as a total -> the label. OCR often splits a label from its
    value ("Total Sales (Inclusive of GST) :" / "32.70"): a total label without an amount lends
    itself to the next row when that row is only a number."""
    out: dict[int, str] = {}
    for i, row in enumerate(rows):
        if not is_total_label(row.text):
            continue
        if _has_amount(row.text):
            out[i] = row.text
        elif i + 1 < len(rows) and _has_amount(rows[i + 1].text) \
                and sum(ch.isalpha() for ch in rows[i + 1].text) <= 3:
            out[i + 1] = f"{row.text} {rows[i + 1].text}"
    return out


def is_payment_record(rows: list[Row]) -> bool:
    """An amount printed on a total line (or under a total label) or on a payment line."""
    if total_labels(rows):
        return True
    return any(_PAYMENT_LABEL.search(r.text.upper()) and _has_amount(r.text) for r in rows)


def _has_amount(text: str) -> bool:
    return bool(_AMOUNT_DOT.search(text) or _AMOUNT_COMMA.search(text))


def merchant_rows(rows: list[Row]) -> list[str]:
    """Header rows that could be the business name: those of the best rank, in printed order.

    The name is printed above the address, so below the first address row only rows carrying a
    company word (SDN BHD, LTD, GMBH, ...) still count, and they rank after the rows above it (a
    company named lower down is often the customer). Above it, company words rank first and
    all-lower-case rows last (on a receipt that is handwriting or a stamp more often than a name).
    """
    ranked: list[tuple[tuple[bool, bool, bool], str]] = []
    below_address = False
    for row in rows[:HEADER_ROWS]:
        text = _TRAILING_REG_NO.sub("", row.text.strip())
        upper = text.upper()
        company = bool(_COMPANY_WORDS.search(upper))
        if _ADDRESS.search(upper) and not company:
            below_address = True
            continue
        letters = sum(ch.isalpha() for ch in text)
        if letters < 3 or letters < 0.5 * len(text.replace(" ", "")) or len(text) > 60:
            continue
        if _BOILERPLATE.search(upper) or (below_address and not company):
            continue
        if text not in (t for _, t in ranked):
            ranked.append(((below_address, not company, text == text.lower()), text))
    ranked.sort(key=lambda r: r[0])  # stable: printed order within a rank
    # Only the best rank is offered. Measured on the dev receipts: given lower-ranked rows too,
    # the model took the scribbled name on the first line over "... SDN BHD" 3 times in 40, and
    # never picked a lower-ranked row that was right.
    if not ranked:
        # Nothing looks like a name (a logo-only header): any wordy header row beats a free
        # string, which the model would fill with an invention that check() then rejects.
        wordy = [r.text for r in rows[:HEADER_ROWS] if sum(ch.isalpha() for ch in r.text) >= 3]
        return [t for t in wordy if len(t) <= 60][:MAX_MERCHANT_ROWS]
    best = [text for rank, text in ranked if rank == ranked[0][0]]
    return best[:MAX_MERCHANT_ROWS]


_ENDS_LEGAL = re.compile(r"\b(" + _LEGAL_SUFFIX + r")\.?\)?$")


def merchant_choices(rows: list[str], header: list[str]) -> list[str]:
    """The candidate rows, plus a row joined with the one printed after it when it visibly
    continues ("HOME MASTER HARDWARE &" / "ELECTRICAL"), or with the next one or two rows when
    those end the legal name ("AIK HUAT HARDWARE" / "ENTERPRISE (SETIA" / "ALAM) SDN BHD"): a
    long registered name wraps, and its legal suffix is where it ends. The shared prefix lets the
    model decide, token by token, whether the name goes on."""
    # The whole name goes first (a small model mostly takes the first option); the fragment it
    # starts with stays offered after it, and fragments swallowed by it are dropped.
    out: list[str] = []
    swallowed: set[str] = set()
    for row in rows:
        if row in swallowed:
            continue
        i = header.index(row) if row in header else -1
        b = header[i + 1] if 0 <= i < len(header) - 1 else ""
        if b and re.search(r"(&|-|\+|\bAND|\bOF)$", row.upper()) and len(row) + len(b) < 60:
            out.append(f"{row} {b}")
        elif i >= 0 and not _ENDS_LEGAL.search(row.upper()):
            for n in (2, 3):
                parts = header[i:i + n]
                joined = " ".join(_TRAILING_REG_NO.sub("", p) for p in parts)
                if len(parts) == n and len(joined) <= 60 and _ENDS_LEGAL.search(joined.upper()) \
                        and not any(_ADDRESS.search(p.upper()) and not _COMPANY_WORDS.search(
                            p.upper()) for p in parts):
                    out.append(joined)
                    swallowed.update(parts[1:])
                    break
        out.append(row)
    return list(dict.fromkeys(out))


def find_currencies(text: str) -> list[str]:
    found = [code for pattern, code in _CURRENCY_MARKS if pattern.search(text)]
    if not found and _DOLLAR.search(text):
        found.append("USD")
    return found


def _label(row_text: str) -> str:
    """The words on an amount's row with the numbers taken out: "TOTAL RM", "CASH"."""
    words = _AMOUNT_DOT.sub(" ", _AMOUNT_COMMA.sub(" ", row_text))
    return " ".join(words.split())[:40] or "-"


# ---------------------------------------------------------------------------------------------
# The task


class Receipts(Task):
    name = "receipts"
    function = "record_expense"
    description = "A shop receipt or bill: record who was paid, when, how much, for what."
    version = "1"
    input_kind = "image"
    Output = RecordedExpense
    prompt = "receipts"
    # Worst case of the answer is ~130 tokens (60-char merchant, longest enum values, keys);
    # leave room so a bounded answer can never be cut off.
    max_tokens = 192

    def prepare(self, job: JobInput, ctx: Any) -> Evidence:
        if not job.path:
            raise PermanentError("no_input", "receipts need an image file")
        image = ctx.load_image(job.path)   # raises PermanentError("unreadable_image")
        width, height = image.size
        raw = ctx.ocr(job.path)
        lines = [OcrLine(clean_text(l.text), l.box, l.score) for l in raw if clean_text(l.text)]
        text = "\n".join(rows_as_text(lines))
        if not text.strip():
            raise PermanentError("not_a_receipt", "no text found in the image")
        if not re.search(r"\d", text):
            raise PermanentError("not_a_receipt", "no digits in the text: nothing was paid")
        rows = group_rows(lines)
        amounts = find_amounts(rows)
        if not amounts:
            raise PermanentError("not_a_receipt", "no money amounts in the text")
        if not is_payment_record(rows):
            # Measured: the 0.5B model answered is_receipt=true for a lab sheet, a menu, a recipe
            # and a bank statement. A receipt states what was paid: an amount on a total line or
            # a payment line. Without one the model is not asked at all.
            raise PermanentError("not_a_receipt", "no amount on a total or payment line")
        settings = (ctx.config.plugin or {}).get("receipts", {}) if ctx.config else {}
        totals = total_shortlist(amounts, rows)
        header = [r.text for r in rows[:HEADER_ROWS]]
        merchants = merchant_choices(merchant_rows(rows), header)
        dates = find_dates(rows, settings.get("date_order", "DMY"))
        currencies = find_currencies(text)
        default_currency = settings.get("default_currency", "")
        now = ctx.now()
        example = corrected_example(ctx, merchants)
        if example:
            totals = _prefer_label(totals, rows, example.get("total_label"))
        prices = item_prices(amounts, rows)
        items = item_lines(prices, rows)
        return Evidence(
            text=text,
            variables={
                "ocr_text": text,
                "totals": _amount_menu(totals, rows, only_totals=True),
                "merchants": _merchant_menu(merchants),
                "dates": _date_menu(dates),
                "currency_hint": _currency_hint(currencies, default_currency),
                "items": _item_menu(items),
            },
            data={
                "image": {"width": width, "height": height},
                "lines": [
                    {"text": l.text, "box": normalise_box(l.box, width, height), "score": l.score}
                    for l in lines
                ],
                "rows": [{"text": r.text, "lines": r.lines} for r in rows],
                "amounts": [vars(c) for c in amounts],
                "item_prices": [c.value for c in prices],
                "item_lines": items,
                "printed_sum": str(subtotal_sum) if (subtotal_sum := printed_sum(rows)) else None,
                "totals": [c.value for c in totals],
                "merchants": merchants,
                "dates": [vars(c) for c in dates],
                "currencies": currencies,
                "default_currency": default_currency,
                "now": now.isoformat(),
                "example": example,
            },
        )

    def messages(self, job: JobInput, evidence: Evidence, ctx: Any) -> list[dict[str, str]]:
        messages = super().messages(job, evidence, ctx)
        example = evidence.data.get("example")
        if example:
            # Appended, not a template variable: a user's own copy of the template keeps working.
            messages[-1]["content"] += "\n\n" + _example_text(example)
        return messages

    def schema(self, evidence: Evidence) -> dict[str, Any]:
        """The static schema, narrowed to this receipt: values can only be ones printed on it."""
        schema = Expense.model_json_schema()
        props = schema["properties"]
        amounts = [c["value"] for c in evidence.data.get("amounts", [])]
        dates = [c["value"] for c in evidence.data.get("dates", [])]
        currencies = list(evidence.data.get("currencies", []))
        default = evidence.data.get("default_currency")
        if default and default not in currencies:
            currencies.append(default)
        totals = evidence.data.get("totals") or amounts
        if totals:
            props["total"] = {"type": "string", "enum": totals}
        # A receipt may have no legible date: null is always allowed, an unprinted date never.
        props["date"] = {"anyOf": [{"type": "string", "enum": dates}, {"type": "null"}]} if dates \
            else {"type": "null"}
        merchants = evidence.data.get("merchants")
        props["merchant"] = {"type": "string", "enum": merchants} if merchants \
            else {"type": "null"}
        props["currency"] = {"type": "string", "enum": currencies} if currencies \
            else {"type": "null"}
        # Fields with one possible value go last. The answer is generated in property order and
        # what follows the last real choice is never evaluated by a choice decoder
        # (llama_choices), while a forced value before a choice costs ~6 ms a token to read.
        order = sorted(props, key=lambda name: _option_count(props[name], schema) == 1)
        schema["properties"] = {name: props[name] for name in order}
        # Every field is required in the grammar so the model never stops early on defaults.
        schema["required"] = list(order)
        return schema

    def check(self, result: RecordedExpense, evidence: Evidence) -> list[str]:
        if not result.is_receipt:
            # Remember the verdict on the evidence: the host re-asks once after a failed check,
            # and a second, talked-into "yes" must not turn a non-receipt into an expense.
            evidence.data["refused"] = True
        if evidence.data.get("refused"):
            raise PermanentError("not_a_receipt", "the model judged the image not a receipt")
        problems = []
        rows = evidence.data.get("rows", [])
        amounts = {Decimal(c["value"]): c for c in evidence.data.get("amounts", [])}
        total = amounts.get(result.total)
        if total is None:
            problems.append(f"total {result.total} does not appear among the amounts printed")
        dates = {c["value"]: c for c in evidence.data.get("dates", [])}
        date = None
        if result.date is not None:
            date = dates.get(result.date.isoformat())
            if date is None:
                problems.append(f"date {result.date} is not printed on the receipt")
            now = dt.datetime.fromisoformat(evidence.data["now"]).date()
            if result.date > now + dt.timedelta(days=1):
                problems.append(f"date {result.date} is in the future")
            elif result.date.year < 1990:
                problems.append(f"date {result.date} is implausibly old")
        problems += _consistency_problems(result, evidence)
        merchant_row = None
        if result.merchant is not None:
            merchant_row = _best_row(result.merchant, [r["text"] for r in rows])
            if merchant_row is None:
                problems.append(f"merchant {result.merchant!r} does not appear in the text")
        if problems:
            return problems
        result.provenance = {
            "total": _provenance(total, evidence),
            "date": _provenance(date, evidence) if date else _missing("date", evidence),
            "merchant": _provenance({"rows": [merchant_row]}, evidence)
            if merchant_row is not None else _missing("merchant", evidence),
        }
        if result.currency is None:
            result.provenance["currency"] = _missing("currency", evidence)
        confidence = evidence.data.get("model_confidence") or {}
        for name in ("total", "date", "merchant"):
            if result.provenance.get(name) and name in confidence:
                result.provenance[name]["model_confidence"] = confidence[name]
        _add_items(result, evidence)
        return []

    def eval_truth(self, labels: dict[str, Any]) -> dict[str, Any]:
        from mustelid.plugins import receipts_eval

        return receipts_eval.truth(labels, set(Expense.model_fields))

    def eval_normalise(self, field: str, value: Any) -> Any:
        from mustelid.plugins import receipts_eval

        return receipts_eval.normalise(field, value)

    def example_key(self, data: dict[str, Any]) -> str | None:
        from mustelid.plugins import receipts_eval

        return receipts_eval.merchant_key(data.get("merchant"))

    def persist(self, db: Any, job: dict[str, Any], result: RecordedExpense) -> None:
        db["expenses"].insert(
            {
                "job_id": job["id"],
                "file_sha256": job.get("input_sha256"),
                "merchant": result.merchant,
                "date": result.date.isoformat() if result.date else None,
                "total": str(result.total),
                "currency": result.currency,
                "category": result.category.value,
                "items": json.dumps([i.model_dump(mode="json") for i in result.items]),
                "provenance": json.dumps(result.provenance or {}),
                "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            },
        )


# Rounding slack for "the items cannot cost more than the total": cash rounding, per-item tax.
ITEMS_TOLERANCE = Decimal("0.05")


def _consistency_problems(result: RecordedExpense, evidence: Evidence) -> list[str]:
    """Semantic checks across fields: the total against the subtotal + tax + service printed
    above it; the currency must be one whose mark is printed."""
    problems = []
    expected = evidence.data.get("printed_sum")
    amounts = {Decimal(c["value"]) for c in evidence.data.get("amounts", [])}
    if expected is not None and abs(result.total - Decimal(expected)) > ITEMS_TOLERANCE \
            and any(abs(a - Decimal(expected)) <= ITEMS_TOLERANCE for a in amounts):
        # Only when that sum is itself printed (as the total, or its cash-rounded form): then
        # another printed amount, not this one, is what was paid.
        problems.append(f"total {result.total} is not the subtotal plus tax and service "
                        f"printed above it ({expected})")
    printed = evidence.data.get("currencies") or []
    if printed and result.currency is not None and result.currency not in printed:
        problems.append(f"currency {result.currency} does not match the marks printed "
                        f"({', '.join(printed)})")
    return problems


def _option_count(prop: dict[str, Any], schema: dict[str, Any]) -> int:
    """How many values a (narrowed) property admits; many for open ones."""
    if "$ref" in prop:
        prop = schema["$defs"][prop["$ref"].rsplit("/", 1)[-1]]
    if "enum" in prop:
        return len(prop["enum"])
    if "anyOf" in prop:
        return sum(_option_count(p, schema) for p in prop["anyOf"])
    return {"null": 1, "boolean": 2}.get(prop.get("type"), 2 ** 16)


def _add_items(result: RecordedExpense, evidence: Evidence) -> None:
    """The priced rows as line items, with their rows as provenance. Rows that add up to more
    than the total are not all purchases (a deposit, a points line, a second copy): then none
    are kept, and provenance says why, rather than recording a wrong list."""
    lines = evidence.data.get("item_lines") or []
    items = [LineItem(name=i["name"], quantity=i["quantity"], price=Decimal(i["price"]))
             for i in lines]
    spent = sum((i.price * i.quantity for i in items), Decimal(0))
    # Prices may be line totals already (qty 2, price = both): accept either reading.
    plain = sum((i.price for i in items), Decimal(0))
    assert result.provenance is not None
    if items and min(spent, plain) > result.total * Decimal("1.01") + ITEMS_TOLERANCE:
        result.items = []
        result.provenance["items"] = {
            "dropped": f"the priced rows add up to {min(spent, plain)}, more than the total "
                       f"{result.total}: not all of them are purchases"}
        return
    result.items = items
    result.provenance["items"] = [_provenance({"rows": [i["row"]]}, evidence) for i in lines]


def _missing(field: str, evidence: Evidence) -> dict[str, str]:
    """Why a field is null: provenance for an absence."""
    data = evidence.data
    if field == "date":
        why = "a date is printed but none was chosen as the purchase date" \
            if data.get("dates") else "no date legible on the receipt"
    elif field == "merchant":
        why = "no header row looks like a business name"
    else:
        why = "no currency mark printed and no default_currency configured"
    return {"missing": why}


def corrected_example(ctx: Any, merchants: list[str]) -> dict[str, Any] | None:
    """The newest receipt from one of these merchants that a person corrected in review
    (``mustelid review``), reduced to what helps here: its answer and the words printed beside
    its total. None without a database, a correction, or a matching merchant."""
    from mustelid.plugins.receipts_eval import merchant_key

    read_db = getattr(ctx, "read_db", None)
    config = getattr(ctx, "config", None)
    db_path = getattr(config, "db_path", None)
    if read_db is None or db_path is None or not merchants:
        return None
    try:
        if not db_path.exists():
            return None
        from mustelid.store import reviews

        found = reviews.examples(read_db(), "receipts", [merchant_key(m) for m in merchants])
    except Exception:   # an example is a hint: a locked or old database must not fail the job
        return None
    if not found:
        return None
    ex = found[0]
    data, evidence = ex["data"], ex["evidence"]
    label = None
    rows = evidence.get("rows", [])
    for cand in evidence.get("amounts", []):
        if data.get("total") is not None and Decimal(cand["value"]) == Decimal(data["total"]):
            label = _label(rows[cand["rows"][0]]["text"]) if cand.get("rows") else None
            break
    return {"job_id": ex["job_id"], "merchant": data.get("merchant"), "total": data.get("total"),
            "date": data.get("date"), "currency": data.get("currency"), "total_label": label,
            "corrected": ex["corrected"]}


def _prefer_label(totals: list[Candidate], rows: list[Row], label: str | None) -> list[Candidate]:
    """Put first the candidate printed beside the same words as the corrected example's total
    ("TOTAL ROUNDED"): the same shop prints its receipts the same way."""
    if not label:
        return totals
    want = _squash(label)
    same = [c for c in totals if any(_squash(_label(rows[r].text)) == want for r in c.rows)]
    return same + [c for c in totals if c not in same] if same else totals


def _example_text(example: dict[str, Any]) -> str:
    lines = [f"A person checked an earlier receipt from {example['merchant']} and corrected "
             f"{', '.join(example['corrected'])}. Its right answer:"]
    if example.get("total_label"):
        lines.append(f"- total {example['total']}, printed beside \"{example['total_label']}\"")
    else:
        lines.append(f"- total {example['total']}")
    if example.get("date"):
        lines.append(f"- date {example['date']}")
    lines.append("This shop prints its receipts the same way: choose the same kind of line here.")
    return "\n".join(lines)


def _amount_menu(amounts: list[Candidate], rows: list[Row], only_totals: bool = False) -> str:
    texts = {i: r.text for i, r in enumerate(rows)}
    if only_totals:
        texts.update(total_labels(rows))
    totals = total_labels(rows) if only_totals else {}
    lines = []
    for c in amounts:
        shown = [r for r in c.rows if not only_totals or r in totals] or c.rows
        labels = "; ".join(dict.fromkeys(_label(texts[r]) for r in shown[:3]))
        lines.append(f"{c.value}  ({labels})")
    return "\n".join(lines)


def _item_menu(items: list[dict[str, Any]]) -> str:
    # Names only, a few: they tell the model what kind of shop this is (the category).
    return "; ".join(i["name"][:20] for i in items[:MAX_ITEMS_SHOWN]) or "(none)"


def _merchant_menu(rows: list[str]) -> str:
    if not rows:
        return "(none legible)"
    marked = [f"{r}{'  (company word)' if _COMPANY_WORDS.search(r.upper()) else ''}" for r in rows]
    return "\n".join(marked)


def _date_menu(dates: list[Candidate]) -> str:
    if not dates:
        return "(none found: use null)"
    return "\n".join(f"{c.value}  (printed {c.printed})" for c in dates)


def _currency_hint(found: list[str], default: str) -> str:
    if found:
        return "Currency marks: " + ", ".join(found) + "."
    if default:
        return f"Currency marks: none (usual here: {default})."
    return "Currency marks: none."


def _squash(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def _best_row(value: str, rows: list[str], threshold: float = 0.8) -> int | None:
    """The row that holds ``value`` (alone, or wrapped onto the next row), else the row that
    resembles it best (OCR and the model each drop a character now and then), else None: an
    invented merchant."""
    target = _squash(value)
    if not target:
        return None
    spans = [(i, _squash(r)) for i, r in enumerate(rows)]
    spans += [(i, _squash(a + b)) for i, (a, b) in enumerate(zip(rows, rows[1:]))]
    for i, hay in spans:
        if target in hay:
            return i
    best, best_i = 0.0, None
    for i, hay in spans:
        m = difflib.SequenceMatcher(None, target, hay, autojunk=False)
        score = sum(b.size for b in m.get_matching_blocks()) / len(target)
        if score > best:
            best, best_i = score, i
    return best_i if best >= threshold else None


def _provenance(candidate: dict[str, Any] | None, evidence: Evidence) -> dict[str, Any] | None:
    """The first row a value was printed on, with its OCR line boxes (0-1000 grid)."""
    if not candidate or not candidate.get("rows"):
        return None
    row = evidence.data["rows"][candidate["rows"][0]]
    lines = evidence.data["lines"]
    return {"text": row["text"], "boxes": [lines[i]["box"] for i in row["lines"]],
            "ocr_score": min((lines[i]["score"] for i in row["lines"]), default=None)}


# ---------------------------------------------------------------------------------------------
# Registration


@hookimpl
def register_tasks(register):
    register(Receipts())


def _migrations():
    from sqlite_utils import Migrations

    migrations = Migrations("receipts")

    @migrations()
    def m001_expenses(db):
        # One row per recorded expense. `total` is TEXT holding the decimal exactly as chosen
        # ("33.90"): REAL would turn it into a binary float (33.899999...) and lose the printed
        # scale; sum with CAST(total AS REAL) for a quick view, or Decimal in Python for money.
        # `items` and `provenance` are JSON (line items; which OCR row and boxes each value came
        # from). job_id is unique: a job persists at most once.
        db["expenses"].create(
            {
                "id": int,
                "job_id": str,
                "file_sha256": str,
                "merchant": str,
                "date": str,        # ISO YYYY-MM-DD, or NULL when none was legible
                "total": str,
                "currency": str,    # ISO 4217
                "category": str,
                "items": str,
                "provenance": str,
                "created": str,     # UTC ISO timestamp
            },
            pk="id",
            not_null={"job_id", "merchant", "total", "currency", "category"},
        )
        db["expenses"].create_index(["job_id"], unique=True)
        db["expenses"].create_index(["date"])
        db["expenses"].create_index(["file_sha256"])

    @migrations()
    def m002_nullable_merchant_currency(db):
        # A merchant or currency that is not printed is recorded as NULL (with the reason in
        # provenance) instead of being guessed, so those columns may now be empty.
        db["expenses"].transform(not_null={"merchant": False, "currency": False})

    return migrations


@hookimpl
def register_migrations(register):
    register(_migrations())
