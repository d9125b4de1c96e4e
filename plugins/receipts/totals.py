"""Which printed amounts can be the total: rows labelled as a total, payment lines, rounding,
and the subtotal + tax + service printed above the total (for the consistency check)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from .candidates import Candidate, Row, has_amount, row_amounts

# Words that label the amount to pay, in the languages of receipts we have seen (EN, MS, DE, NL,
# FR, IT, ES). A shortlist, not a verdict: the model still chooses among the labelled amounts.
_TOTAL_LABEL = re.compile(
    r"TOTAL|\bT[O0A]T[A4]?L\b|\bDUE\b|TO PAY|PAYABLE|GRAND|NETT|JUMLAH"  # AMOUNT/BALANCE DUE, DUE
    r"|\bNET\s*(AMT|AMOUNT|DUE)\b"       # "Net Amt :", not "NET WT" (a weight)
    r"|SUMME|TOTAAL|MONTANT|IMPORTE",   # T0TAL, TOTL: OCR drops and swaps letters
)
# ... and words that make a "total" row something else: subtotals, counts, tax lines, payment.
_NOT_TOTAL_LABEL = re.compile(
    r"SUB|QTY|QUANTITY|ITEM|EXCL|SAVING|DISC|POINT|CASH|CHANGE|TENDER|CARD|VOUCHER"
)
TAX_LABEL = re.compile(r"\b(TAX|GST|VAT|SST|MWST|TVA|IVA)\b")
# Lines that record how the total was paid. Totals printed after them belong to tax summaries.
# "PAY 25.15" records a payment; "AMOUNT TO PAY" labels the total.
PAYMENT_LABEL = re.compile(
    r"\bCASH\b|CHANGE|TENDER|CARD|VISA|MASTER|PAID|PAYMENT|(?<!TO )\bPAY\b|BAYAR|BAKI")
ROUNDING_LABEL = re.compile(r"ROUND|ADJ")
# A discount taken off the bill, like a cash rounding, turns the total printed above it into the
# one printed below (TOTAL 277.90, DISCOUNT 0.90, TOTAL INCLUSIVE GST 277.00).
_DISCOUNT_LABEL = re.compile(r"DISC")
# Cash rounding moves a total to the nearest coin: a few cents, never a twentieth of the bill.
# An "adjustment" bigger than that is an amount OCR put on the rounding row from the next one.
_MAX_ROUNDING = Decimal("0.05")


def is_total_label(label: str) -> bool:
    label = label.upper()
    if not _TOTAL_LABEL.search(label) or _NOT_TOTAL_LABEL.search(label):
        return False
    return not TAX_LABEL.search(label) or "INCL" in label


def total_labels(rows: list[Row]) -> dict[int, str]:
    """Rows whose amounts are labelled as a total -> the label."""
    return labelled_rows(rows, is_total_label)


def labelled_rows(rows: list[Row], is_label: Callable[[str], bool]) -> dict[int, str]:
    """Rows whose amounts carry a label -> the label. OCR often splits a label from its value
    ("Total Sales (Inclusive of GST) :" / "32.70", "CASH" / "RM 170.00"): a label without an
    amount lends itself to the next row when that row is only a number."""
    out: dict[int, str] = {}
    for i, row in enumerate(rows):
        if not is_label(row.text):
            continue
        if has_amount(row.text):
            out[i] = row.text
        elif i + 1 < len(rows) and has_amount(rows[i + 1].text) \
                and sum(ch.isalpha() for ch in rows[i + 1].text) <= 3:
            out[i + 1] = f"{row.text} {rows[i + 1].text}"
    return out


def _is_payment_label(text: str) -> bool:
    return bool(PAYMENT_LABEL.search(text.upper()))


def is_payment_record(rows: list[Row]) -> bool:
    """Something was paid: an amount printed on a total line (or under a total label), on a
    payment line, or a subtotal with its tax or service charge printed below it (a bill whose
    total line OCR lost)."""
    return bool(total_labels(rows) or labelled_rows(rows, _is_payment_label)
                or printed_sum(rows) is not None)


def tendered_less_change(rows: list[Row]) -> Decimal | None:
    """What was paid, by arithmetic: the cash handed over less the change given back, when both
    are printed (CASH 50.00, CHANGE 20.20 -> 29.80). Independent of the total's own label, which
    OCR garbles ("21.otal sales") or the receipt leaves out (only a SUBTOTAL)."""
    labelled = labelled_rows(rows, _is_payment_label)
    tendered = [(i, label) for i, label in labelled.items() if _TENDERED.search(label.upper())]
    change = [(i, label) for i, label in labelled.items() if _CHANGE.search(label.upper())]
    for i, label in tendered:
        after = [c for j, c in change if j > i]
        if not after or not row_amounts(label) or not row_amounts(after[0]):
            continue
        paid = Decimal(row_amounts(label)[-1]) - Decimal(row_amounts(after[0])[-1])
        return paid if paid > 0 else None
    return None


_TENDERED = re.compile(r"\bCASH\b|TENDER|TUNAI")
_CHANGE = re.compile(r"CHANGE|BAKI|\bKEMBALI")


def total_shortlist(amounts: list[Candidate], rows: list[Row]) -> list[Candidate]:
    """The amounts that can be the total, most likely first (a 0.5B model mostly takes the first
    option, so the order carries the rule "the last total printed before payment"):

    - printed on a row labelled as a total, before the payment lines (tax summaries after CASH /
      CHANGE repeat "TOTAL" for other sums);
    - with a labelled total replaced by its rounding-corrected sum when a rounding adjustment and
      that sum are printed (cash rounding: TOTAL 60.31, ROUNDING -0.01, then 60.30 with an
      unreadable label).

    All non-zero amounts, largest first, when no row is so labelled: an unreadable label must not
    hide the answer. Without a total labelled before the payment lines, arithmetic on the
    receipt overrides that order (``_paid_first``).
    """
    nonzero = [c for c in amounts if Decimal(c.value) > 0]
    return _paid_first(_labelled_shortlist(nonzero, rows), nonzero, rows)


def _paid_first(shortlist: list[Candidate], nonzero: list[Candidate],
                rows: list[Row]) -> list[Candidate]:
    """Arithmetic where the labels fail: when no total is labelled before the payment lines
    (none legible, or only a tax summary's after them), a printed amount equal to the cash
    tendered less the change is what was paid and the only option; with no total label at all,
    one equal to the subtotal plus tax goes first (added when its own label was unreadable). A
    legible total label before the payment wins: cash rounding and change misread by OCR make
    the difference disagree with it by a few cents."""
    labelled = total_labels(rows)
    payments = [i for i in labelled_rows(rows, _is_payment_label) if i not in labelled]
    paid = tendered_less_change(rows)
    match = [c for c in nonzero if paid is not None and Decimal(c.value) == paid]
    if any(i < min(payments, default=len(rows)) for i in labelled):
        if match and shortlist and shortlist[0] is not match[0] \
                and _adds_up(Decimal(match[0].value), rows, payments) \
                and not _adds_up(Decimal(shortlist[0].value), rows, payments):
            # Two sums that do not share a number (cash less change; subtotal plus tax and
            # rounding) agree on a printed amount, and the total's own row adds up to neither:
            # OCR misread that one row (TOTAL 112.46 under a subtotal, tax and rounding making
            # 112.45, paid with 112.45 cash and 0.00 change).
            return [match[0]]
        return shortlist
    if match:
        # Code decides what it reads plainly: two printed amounts whose difference is printed
        # a third time. Offered beside the other amounts, a 0.5B model still took an item
        # price printed three times over a total labelled SUBTOTAL (measured).
        return [match[0]]
    paid = printed_sum(rows) if not labelled else None
    match = [c for c in nonzero if paid is not None and Decimal(c.value) == paid]
    if not match:
        return shortlist
    return [match[0]] + [c for c in shortlist if c is not match[0]]


def _labelled_shortlist(nonzero: list[Candidate], rows: list[Row]) -> list[Candidate]:
    total_rows = sorted(total_labels(rows))
    by_size = _by_size(nonzero)
    if not total_rows:
        return by_size
    payment_rows = [
        i for i, r in enumerate(rows)
        if i > total_rows[0] and PAYMENT_LABEL.search(r.text.upper()) and has_amount(r.text)
    ]
    end = payment_rows[0] if payment_rows else len(rows)
    in_range = [i for i in total_rows if i < end] or total_rows
    chosen = [c for c in nonzero if any(r in in_range for r in c.rows)]
    by_value = {Decimal(c.value): c for c in nonzero}
    for i, row in enumerate(rows[:end]):
        upper = row.text.upper()
        if not (ROUNDING_LABEL.search(upper) or _DISCOUNT_LABEL.search(upper)) \
                or is_total_label(row.text):
            continue
        for adj in [c for c in nonzero if i in c.rows]:
            # Printed order is TOTAL, adjustment, rounded sum; the reverse is not a rounding.
            for total in [c for c in chosen if min(c.rows) < i and c is not adj]:
                values = _adjusted(Decimal(total.value), Decimal(adj.value), upper)
                for value in values:
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


def _adjusted(total: Decimal, adj: Decimal, label: str) -> list[Decimal]:
    """What ``total`` can become through the adjustment ``adj`` printed below it on a row
    labelled ``label``: less a discount; plus or minus a rounding (tills print its sign or not)."""
    if not _DISCOUNT_LABEL.search(label):
        return [total - adj, total + adj] if adj <= total * _MAX_ROUNDING else []
    return [total - adj] if adj < total else []


def _adds_up(amount: Decimal, rows: list[Row], payments: list[int]) -> bool:
    """The subtotal, tax and service printed above the total, with or without a cash rounding
    printed before the payment lines, add up to ``amount``."""
    summed = printed_sum(rows)
    if summed is None:
        return False
    end = min(payments, default=len(rows))
    roundings = [Decimal(v) for row in rows[:end] if ROUNDING_LABEL.search(row.text.upper())
                 and not is_total_label(row.text) for v in row_amounts(row.text)[-1:]]
    return any(amount in (summed + adj, summed - adj) for adj in
               [Decimal(0)] + [a for a in roundings if 0 < a <= amount * _MAX_ROUNDING])


def _by_size(amounts: list[Candidate]) -> list[Candidate]:
    # Without a legible total label the total is usually the largest sum that is not cash handed
    # over; largest first is the better guess than printed order.
    return sorted(amounts, key=lambda c: -Decimal(c.value))


_SUBTOTAL_LABEL = re.compile(r"SUB\s?-?\s?TOTAL|SUBTOTAL|TOTAL\s+EXCL")
_SERVICE_LABEL = re.compile(r"SERVICE|SVC|S\.?CHARGE")
# "TOTAL GST (RM) : 6.37" is the tax; "TOTAL EXCL. GST", "TOTAL SALES (EXCLUDING GST)" are not.
_TOTAL_TAX = re.compile(r"TOTAL\s*(TAX|GST|VAT|SST)\b")


def printed_sum(rows: list[Row]) -> Decimal | None:
    """Subtotal + tax + service charge as printed above the first total row, or None when the
    receipt does not print a subtotal with at least one of the others (then there is nothing to
    add up). Tax-inclusive summaries (INCL) are left out: their tax is already in the subtotal."""
    labelled = total_labels(rows)
    end = min(labelled) if labelled else len(rows)
    subtotal, extras = None, []
    for row in rows[:end]:
        upper = row.text.upper()
        amounts = [Decimal(v) for v in row_amounts(row.text)]
        if not amounts or "INCL" in upper or "%" in upper and len(amounts) > 1:
            continue
        if _SUBTOTAL_LABEL.search(upper) and subtotal is None:
            subtotal = amounts[-1]
        elif subtotal is not None and ("TOTAL" not in upper or _TOTAL_TAX.search(upper)) and (
                TAX_LABEL.search(upper) or _SERVICE_LABEL.search(upper)):
            extras.append(amounts[-1])
    if subtotal is None or not extras:
        return None
    return subtotal + sum(extras)
