"""Line items: the priced rows above the total, with a name, a quantity and a price.

Filled by code from the evidence, never generated: copying items cost a 0.5B model more answer
tokens than the rest of the answer, for the field it got wrong most often.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from .candidates import Candidate, Row, has_amount, row_amounts, row_label
from .expense import MAX_ITEMS, MAX_QUANTITY
from .totals import PAYMENT_LABEL, ROUNDING_LABEL, TAX_LABEL, is_total_label, total_labels


def item_prices(amounts: list[Candidate], rows: list[Row]) -> list[Candidate]:
    """Amounts an item can cost: printed above the first total row, on a row that is not a
    total, tax, rounding or payment line. The total, the cash handed over and the change are
    never an item's price; offering them let the model list items that cost more than the total."""
    labelled = total_labels(rows)
    end = min(labelled) if labelled else len(rows)
    out = []
    for c in amounts:
        ok = [r for r in c.rows if r < end and not TAX_LABEL.search(rows[r].text.upper())
              and not PAYMENT_LABEL.search(rows[r].text.upper())
              and not ROUNDING_LABEL.search(rows[r].text.upper())
              and not is_total_label(rows[r].text) and Decimal(c.value) > 0]
        if ok:
            out.append(c)
    return out


# Rows that close the item table: totals, subtotals, counts, tax, rounding and payment lines.
_SUMMARY = re.compile(r"TOTAL|T[O0]TAL|SUB\s?-?\s?T|ITEMS?\s?\(S\)|\bITEMS?\s*:|QTY\(?S?\)?\s*[:=]"
                      r"|NO\.? OF ITEMS|\bNET\b|AMOUNT DUE|BALANCE")
# "Item(s) : 4  Qty(s) : 5": a count of the items, not one of them.
_ITEM_SUMMARY = re.compile(r"\bITEMS?\b\s*\(?S?\)?\s*:|\bQTY\(?S?\)?\s*:|\bNO\.? OF ITEMS")
# A discount, voucher or deposit line inside the table: money off, not a purchase.
_NOT_ITEM = re.compile(r"DISC|LESS\b|VOUCHER|POINTS?\b|SAVING")
_SERVICE = re.compile(r"SERVICE|\bSVC\b|S\.?CHARGE")
_NEGATIVE = re.compile(r"(?<![\w.])-\s?\d+[.,]\d{2}\b|\d[.,]\d{2}\s?-(?!\d)")
# Column headings of an item table: two or more of these words on one row without an amount.
_HEADING_WORD = re.compile(r"\b(QTY|QUANTITY|PRICE|AMOUNT|AMT|DESC\w*|ITEM\w*|UNIT|U/P|TOTAL"
                           r"|DISC|TAX|RM|PRODUCT|DESCRIPTION|S/PRICE|PRICE\(RM\))\b|\bITEM|\bQTY|PRICE")
# Tax-code marks printed in a column before or after the name ("SR", "*S", "ZRL", "SR:").
_TAX_MARK = re.compile(r"^[*#]?(SR|ZR|ZRL|S|Z|T|E|N)[:*]?$")
_CURRENCY = re.compile(r"^\(?(RM|\$|MYR|USD|SGD|@|X|=|:|-|\*)\)?$", re.I)
# A barcode or article number, also glued to the description ("100100000056-Fried Noodle").
_BARCODE = re.compile(r"(?<![\w.])[A-Z]?\d{5,}[A-Z]?-?", re.I)
# An amount that is a size in a description ("3X1.25MM", "1.50KG"), not money.
_SIZE = re.compile(r"\d[.,]\d{2}\s?(MM|CM|KG|ML|M|G|L|INCH|IN)\b", re.I)
# Numbers on a row, as tokens: candidates for the quantity and the unit price.
_NUMBER = re.compile(r"(?<![\w.,/])\d+(?:[.,]\d+)?(?![\w/]|[.,]\d)")
_QUANTITY_MARK = re.compile(r"(?<![\w.,/\"'])(\d{1,2})\s?(?:[xX*]|PCS?\b|UNITS?\b)(?![\w\"'])"
                            r"|\bQTY\s*:?\s*(\d{1,2})\b")


def _is_heading(text: str) -> bool:
    upper = text.upper()
    return not has_amount(text) and not _ITEM_SUMMARY.search(upper) \
        and len(_HEADING_WORD.findall(upper)) >= 2


def item_region(rows: list[Row]) -> range:
    """The rows of the item table: after the column-heading row (or the top), before the first
    total, subtotal, count, tax, rounding or payment row. Amounts below it repeat the items'
    (a one-item receipt prints its price as subtotal, total and cash) and are not purchases."""
    end = len(rows)
    for i, row in enumerate(rows):
        upper = row.text.upper()
        if _is_heading(row.text):
            continue
        closing = bool(_SUMMARY.search(upper) or is_total_label(upper) or TAX_LABEL.search(upper)
                       or ROUNDING_LABEL.search(upper) or _SERVICE.search(upper))
        paying = PAYMENT_LABEL.search(upper)
        nxt = rows[i + 1].text if i + 1 < len(rows) else ""
        if _ITEM_SUMMARY.search(upper) or (closing or paying) and has_amount(row.text) \
                or (closing or paying and _letters(PAYMENT_LABEL.sub("", upper)) <= 3) \
                and has_amount(nxt) and _letters(nxt) <= 3:
            # (a label split from its amount: "TOTAL" / "RM 9.00"; a payment word only when it
            # is the whole label: an item's description can hold one, "PRIVILEGE CARD")
            end = i
            break
    # The first heading: a later "Total Qty" row has heading words too.
    first = next((i for i in range(end) if _is_heading(rows[i].text)), -1)
    while first >= 0 and first + 1 < end and _is_heading(rows[first + 1].text):
        first += 1   # a heading printed over two rows: "(RM) (RM)" / "Item Qty Price Amount"
    return range(first + 1, end)


def _is_code(token: str) -> bool:
    """An article code, barcode or SKU: a long run of digits, or more digits than letters."""
    digits = sum(ch.isdigit() for ch in token)
    letters = sum(ch.isalpha() for ch in token)
    return bool(re.search(r"\d{5}", token)) or (digits >= 3 and digits > letters) \
        or bool(re.fullmatch(r"\(\w+\)", token) and digits)


def clean_name(text: str) -> str:
    """The description on a row: amounts, barcodes, leading article codes, tax marks, currency
    marks and list dashes taken out; a trailing code column (4+ digits) too."""
    tokens = [t for t in row_label(_BARCODE.sub(" ", text)).split() if not _CURRENCY.match(t)]
    while tokens and (_is_code(tokens[0]) or _TAX_MARK.match(tokens[0].upper())
                      or _CURRENCY.match(tokens[0])):
        tokens.pop(0)
    while tokens and (re.fullmatch(r"\d{4,}", tokens[-1]) or _TAX_MARK.match(tokens[-1].upper())
                      or _CURRENCY.match(tokens[-1])):
        tokens.pop()
    return " ".join(tokens).lstrip("-").strip()


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def _is_name_row(text: str) -> bool:
    """A row that can hold a description: words, not a code line ("WA03= 24/240")."""
    name = clean_name(text)
    return _letters(name) >= 3 and _letters(name) >= sum(ch.isdigit() for ch in name)


def quantity_and_price(text: str) -> tuple[int, str, str] | None:
    """(quantity, line amount, the row with both taken out) of a priced row. The line amount is
    the rightmost amount; a number q and an amount u before it with q x u = line amount is the
    quantity (so the unit price is never taken for the line amount); else a marked quantity
    ("2 X", "3 PCS", "QTY 2"); else 1."""
    amounts = row_amounts(_SIZE.sub(" ", text))
    if not amounts:
        return None
    line = Decimal(amounts[-1])
    numbers = [(m.group(0), m.start()) for m in _NUMBER.finditer(text)]
    last = max((p for n, p in numbers if n.replace(",", ".") == amounts[-1]), default=len(text))
    for u_text in amounts[:-1]:
        unit = Decimal(u_text)
        for q_text, pos in numbers:
            if pos >= last or q_text.replace(",", ".") == u_text and q_text == amounts[-1]:
                continue
            try:
                q = Decimal(q_text.replace(",", "."))
            except Exception:
                continue
            if q == q.to_integral_value() and 1 <= q <= MAX_QUANTITY and q_text != u_text \
                    and abs(q * unit - line) <= Decimal("0.01") and unit > 0:
                rest = text[:pos] + " " + text[pos + len(q_text):]
                return int(q), amounts[-1], rest
    mark = _QUANTITY_MARK.search(text)
    if mark:
        q = int(next(g for g in mark.groups() if g))
        if 1 <= q <= MAX_QUANTITY:
            return q, amounts[-1], text[:mark.start()] + " " + text[mark.end():]
    lead = re.match(r"\s*([1-9]\d?)\s+(?=[^\W\d])", text)
    if lead:   # "4 ICED GREEN TEA 4.00": a quantity column before the description
        return int(lead.group(1)), amounts[-1], text[lead.end():]
    return 1, amounts[-1], text


def _names_below(rows: list[Row], region: range, priced: list[int], taken: set[int]) -> bool:
    """Whether descriptions are printed below their code-and-price rows: a description row
    follows the last such row inside the table, and none precedes the first (or the table has
    no column heading, so what precedes it may be the shop's header)."""
    bare = [i for i in priced if not _is_name_row(quantity_and_price(rows[i].text)[2])]
    if not bare:
        return False
    after, before = bare[-1] + 1, bare[0] - 1
    named_after = after in region and after not in taken and _is_name_row(rows[after].text)
    named_before = before in region and before not in taken and _is_name_row(rows[before].text)
    return named_after and (not named_before or region.start == 0)


def item_lines(prices: list[Candidate], rows: list[Row]) -> list[dict[str, Any]]:
    """Priced rows of the item table that can be purchased items: name, quantity, price (the
    line amount), and the row.

    The name is the priced row's own words; where that row holds only codes and numbers, the
    description is on a row of its own, above the priced rows on most receipts and below on
    some: the side is read once per receipt, from the first such row (below only when nothing
    but the column heading is above it)."""
    allowed = {c.value for c in prices}
    region = item_region(rows)
    priced: list[int] = []
    for i in region:
        text = rows[i].text
        if not has_amount(text) or _ITEM_SUMMARY.search(text.upper()) \
                or _NOT_ITEM.search(text.upper()) or _NEGATIVE.search(text):
            continue
        if row_amounts(_SIZE.sub(" ", text)) and row_amounts(_SIZE.sub(" ", text))[-1] in allowed:
            priced.append(i)
    taken = set(priced) | {i for i in region if has_amount(rows[i].text)}
    below = None
    out: list[dict[str, Any]] = []
    used: set[int] = set()
    for i in priced:
        read = quantity_and_price(rows[i].text)
        if read is None:
            continue
        quantity, price, rest = read
        name = clean_name(rest)
        if not _is_name_row(rest):
            if below is None:
                below = _names_below(rows, region, priced, taken)
            side = range(i + 1, min(region.stop, i + 4)) if below \
                else range(i - 1, max(region.start, i - 4) - 1, -1)
            name = ""
            for j in side:
                if j in taken:
                    break
                if j not in used and _is_name_row(rows[j].text):
                    name = clean_name(rows[j].text)
                    used.add(j)
                    break
        name = " ".join(name.split())[:40].strip()
        if _letters(name) < 2:
            continue
        out.append({"name": name, "quantity": quantity, "price": price, "row": i})
        if len(out) == MAX_ITEMS:
            break
    return out
