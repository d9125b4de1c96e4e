"""Which header rows can be the merchant, and whether a chosen merchant is printed at all.

The business name is printed in the header, above the address; a company word (SDN BHD, LTD,
GMBH, ...) marks it, and a long registered name wraps onto the next rows.
"""

from __future__ import annotations

import difflib
import re
import unicodedata

from .candidates import Row

# Few options: every extra header row offered is one more way for a 0.5B model to pick an
# address or a scribble; the code ranks, the model picks among the best-ranked rows.
MAX_MERCHANT_ROWS = 3
HEADER_ROWS = 12   # the merchant is printed in the header; deeper rows are items and totals

# Header rows that are receipt boilerplate, not the business name ...
_BOILERPLATE = re.compile(
    r"\b(INVOICE|RECEIPT|CASHIER|TEL|FAX|GST|REG|DATE|TIME|TABLE|ORDER|COUNTER|QTY|ITEMS?|DESC"
    r"|DESCRIPTION|SALESPERSON|WAITER|MEMBER|DOCUMENT|TERMINAL|TOKEN|STATION|COVER"
    r"|RETURNABLE|REFUNDABLE|EXCHANGEABLE|THANK)\b"   # the shop's policy and thanks
    r"|\bCASH\b(?!\s*(?:&|AND|N)\s*CARRY)"            # "CASH BILL", not "... CASH & CARRY"
    r"|@|WWW|\.COM|:$"   # a row ending in ":" is a field label whose value went elsewhere
)
# ... or an address (EN, MS, DE, FR, ES words for street, estate, district, floor; postcodes),
# unless a company word shows the address is part of the name: "BOOK TA.K (TAMAN DAYA) SDN BHD".
_ADDRESS = re.compile(
    r"^NO\b|^LOT\b|\b\d{5}\b|\b(ROAD|RD|STREET|AVENUE|AVE|BLVD|FLOOR|FLR|JALAN|JLN|JL|LORONG"
    r"|PERSIARAN|TAMAN|TMN|KAWASAN|BANDAR|SEKSYEN|STRASSE|RUE|CALLE)\b"
)
# A registration number printed after the name: "99 SPEED MART S/B (519537-X)", with the
# separator OCR reads as a dot ("519537·X"), and a short code in brackets after it
# ("273500-U (KSB)").
_TRAILING_REG_NO = re.compile(
    r"\s*\(?[A-Z]{0,3}\d{4,}[-\d]*[-.·]?[A-Z]?\)?(\s*\([A-Z]{2,5}\))?[.,;:]*$")
# OCR misreads the Malaysian legal suffix often (SDN BND, SON BHD, SDN.BHO): accept those too.
_LEGAL_SUFFIX = r"S[DO]N\.? ?B[HN][DO]|BHD|S/B|LTD|LIMITED|INC|LLC|GMBH|PTE|PLC|CORP"
COMPANY_WORDS = re.compile(
    r"\b(" + _LEGAL_SUFFIX + r"|CO\.|ENTERPRISE|TRADING"
    r"|RESTAURANT|RESTORAN|STORE|MART|MARKET|SHOP|KEDAI|CAFE|HOTEL|HARDWARE|STATIONERY)\b"
)
# A row that starts with the legal form continues the name printed on the row above it:
# "POPULAR BOOK" / "CO. (M) SDN BHD", "TSH POWER HARDWARE" / "TRADING".
# Not a label: "Company No: 1234-X" starts with a company word too.
_CONTINUES = re.compile(r"^(\(M\)|CO\.|COMPANY\b|" + _LEGAL_SUFFIX
                        + r"|ENTERPRISES?\b|TRADING\b|HOLDINGS\b|INDUSTRIES\b|SERVICES\b)"
                        + r"(?!.*(:|\bNO\b|\bREG))")


# Marks OCR puts where it could not read the print ("BOOK TA _K" for "TA .K"), and a dot doubled
# after a letter where one was lost between them ("MR. D.I.. (M)" for "D.I.Y."): no shop prints
# these in its name.
_UNREAD = re.compile(r"[_|~^\\{}<>=]|(?<=\w)\.\.")


def doubtful_name(name: str) -> bool:
    """A chosen name that OCR misread visibly (``_UNREAD``), or an address taken for the name
    (a street word and a number, no company word: "K3-113,JL IBRAHIM SULTAN" on a receipt whose
    name is only a logo). Its field is held for review (``confidence.DOUBTFUL``)."""
    upper = name.upper()
    if _UNREAD.search(name):
        return True
    return bool(_ADDRESS.search(upper)) and any(c.isdigit() for c in name) \
        and not COMPANY_WORDS.search(upper)


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
        # A row of words that only say what kind of business it is ("BISTRO & CAFE") names no
        # one: it describes the name printed above it, so its company word does not rank it.
        company = bool(COMPANY_WORDS.search(respell(upper))) and not _kind_only(upper)
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
    those end the legal name ("AIK HUAT HARDWARE" / "ENTERPRISE (SETIA" / "ALAM) SDN BHD"), and
    with the row printed before it when it starts with the legal form ("POPULAR BOOK" /
    "CO. (M) SDN BHD"): a long registered name wraps, and its legal suffix is where it ends. The shared prefix lets the
    model decide, token by token, whether the name goes on."""
    # The whole name goes first (a small model mostly takes the first option); the rows it was
    # joined from are not offered beside it (see ``_without_parts``).
    out: list[str] = []
    swallowed: set[str] = set()
    for row in rows:
        if row in swallowed:
            continue
        i = header.index(row) if row in header else -1
        whole = row
        b = header[i + 1] if 0 <= i < len(header) - 1 else ""
        if b and re.search(r"(&|-|\+|\bAND|\bOF)$", row.upper()) and len(row) + len(b) < 60:
            whole = f"{row} {b}"
        elif i >= 0 and not _ENDS_LEGAL.search(row.upper()):
            for n in (2, 3):
                parts = header[i:i + n]
                joined = " ".join(_TRAILING_REG_NO.sub("", p) for p in parts)
                if len(parts) == n and len(joined) <= 60 and _ENDS_LEGAL.search(joined.upper()) \
                        and not any(_ADDRESS.search(p.upper()) and not COMPANY_WORDS.search(
                            p.upper()) for p in parts):
                    whole = joined
                    swallowed.update(parts[1:])
                    break
            else:
                if b and _CONTINUES.search(b.upper()) and len(row) + len(b) < 60:
                    whole = f"{row} {_TRAILING_REG_NO.sub('', b)}"
                    swallowed.add(b)
        above = header[i - 1] if i > 0 else ""
        if above and (_CONTINUES.search(row.upper()) or _generic_only(row)) \
                and _name_like(above) and len(above) + len(whole) <= 60:
            out.append(f"{above} {whole}")
        owner = _OWNED_BY.split(whole, maxsplit=1)
        if len(owner) == 2 and _ENDS_LEGAL.search(owner[1].strip().upper()):
            out.append(owner[1].strip())     # the registered company that owns the shop
        out += [whole, row]
    # One accented letter in an otherwise unaccented header is OCR noise ("HARDWÀRE").
    plain = sum(not ch.isascii() and ch.isalpha() for ch in "".join(header)) <= 1
    return _without_parts(list(dict.fromkeys(repair(t, plain) for t in out)))


def _without_parts(options: list[str]) -> list[str]:
    """The options less each one that is part of an option before it: the row a wrapped name
    was joined from ("CO. (M) SDN BHD" after "POPULAR BOOK CO. (M) SDN BHD"). Measured on the
    odd half of sroie-dev (the half tuned on): in 11 receipts whose options held such a part
    the part was never the name, and offering it halved the model's certainty in the whole
    (a right name sent to review)."""
    kept: list[str] = []
    for option in options:
        if not any(squash(option) in squash(k) for k in kept):
            kept.append(option)
    return kept


_LOOKALIKE = str.maketrans("0158", "OISB")


def repair(name: str, unaccent: bool = False) -> str:
    """Undo the OCR misreads a name shows by itself: a digit inside a word of letters
    ("URBAN 1DEA" -> "URBAN IDEA"; words of digits, "7-ELEVEN", "99 SPEED MART", stay), an
    underscore between words ("AIK_HUAT"), a misread legal form ("SON BHD") or business word
    ("HARDWAKE", see ``respell``), a small l read as a capital I ("WorId") and, on an
    unaccented receipt, a stray accent."""
    def word(m: re.Match) -> str:
        w = m.group(0)
        letters = sum(ch.isalpha() for ch in w)
        digits = [ch for ch in w if ch.isdigit()]
        if letters >= 3 and len(digits) == 1 and digits[0] in "0158" and w.isupper():
            return w.translate(_LOOKALIKE)
        return w
    name = re.sub(r"[^\W_]+", word, name).rstrip(" ,;'\"`")
    name = _CAPITAL_I_FOR_L.sub(lambda m: "l" * len(m.group(0)), name)
    name = _GLUED_BEFORE_CONNECTOR.sub(" ", name)
    # A name has no underscores; OCR reads a wide space between two words as one.
    name = re.sub(r"(?<=[^\W\d_])_+(?=[^\W\d_])", " ", name)
    name = _MISREAD_LEGAL.sub(_legal, respell(name))
    if unaccent:
        name = "".join(ch for ch in unicodedata.normalize("NFKD", name)
                       if not unicodedata.combining(ch))
    return name


# A capital I after a small letter, inside or ending a word, is a small l OCR misread ("Taste Of
# The WorId", "Shopping MaII"); not after Mc/Mac, where a name's capital follows ("McIntosh").
_CAPITAL_I_FOR_L = re.compile(r"(?<![Mm]c)(?<![Mm]ac)(?<=[a-z])I+(?=[a-z]|\b)")


# A hyphen or comma OCR reads in a space before the legal form or a joining word, or at the end
# of a wrapped row ("INTERNATIONAL-SDN BHD", "Health,And Beauty", "POPULAR BOOK- CO. (M)").
_GLUED_BEFORE_CONNECTOR = re.compile(
    r"(?<=[^\W\d_])\s?[-,]\s?(?=(?:S[DO]N|BHD|AND)\b|CO\.)", re.IGNORECASE)


# The Malaysian legal form as OCR misreads it (SON BHD, SDN BND, SDN.BHO); only the letters are
# put right, the printed spacing and dots stay.
_MISREAD_LEGAL = re.compile(r"\b(S)([DO0])(N\.? ?B)([HN])([DO0])\b", re.IGNORECASE)


def _legal(m: re.Match) -> str:
    s, d, nb, h, d2 = m.groups()

    def put(right: str, read: str) -> str:     # the right letter, in the case it was read
        return right.lower() if read.islower() else right
    return s + put("D", d) + nb + put("H", h) + put("D", d2)


# Long words of a business's name that a receipt prints in capitals, as OCR misreads them: one
# letter swapped for one that looks like it ("HARDWAKE", "ENTERPRlSE", "RESTAURAMT"). Short words
# are left alone: at 5 letters one swap turns a word into another real one too often.
_BUSINESS_WORDS = ("ENTERPRISE", "ENTERPRISES", "HARDWARE", "RESTAURANT", "RESTORAN", "TRADING",
                   "STATIONERY", "HOLDINGS", "INDUSTRIES", "LIMITED", "SUPERMARKET", "ELECTRICAL",
                   "PHARMACY", "BOOKSTORE")
# Pairs of glyphs that OCR confuses on receipt print (each pair read either way).
_LOOK_ALIKE_PAIRS = {frozenset(p) for p in ("RK", "RP", "RB", "OD", "OQ", "O0", "DQ", "IL", "I1",
                                           "L1", "IJ", "IT", "B8", "S5", "EF", "CG", "G6", "HN",
                                           "MN", "UV", "NW", "CO", "Z2")}


def respell(text: str) -> str:
    """``text`` with each long word that is one look-alike letter away from a business word
    spelt as that word (case kept): "AIK HUAT HARDWAKE" -> "AIK HUAT HARDWARE"."""
    def word(m: re.Match) -> str:
        w = m.group(0)
        up = w.upper()
        if len(w) < 7 or up in _BUSINESS_WORDS:
            return w
        for known in _BUSINESS_WORDS:
            if len(known) != len(up):
                continue
            diff = [i for i, (a, b) in enumerate(zip(up, known)) if a != b]
            if len(diff) == 1 and frozenset((up[diff[0]], known[diff[0]])) in _LOOK_ALIKE_PAIRS:
                i = diff[0]
                # the case of the word, not of the misread glyph ("ENTERPRlSE" is capitals)
                ch = known[i].lower() if sum(c.islower() for c in w) * 2 > len(w) else known[i]
                return w[:i] + ch + w[i + 1:]
        return w
    return re.sub(r"[^\W_]+", word, text)


# "Banh Mi Cafe Dimiliki: Banh Mi Cafe Sdn Bhd": a trading name, then the company that owns it.
_OWNED_BY = re.compile(r"\b(?:DIMILIKI(?:\s+OLEH)?|OWNED\s+BY|OPERATED\s+BY|A\s+DIVISION\s+OF"
                       r"|MANAGED\s+BY)\b\s*:?", re.IGNORECASE)


def _generic_only(row: str) -> bool:
    """A row that holds only generic business words and a legal form ("RESTAURANT SDN BHD",
    "TRADING SDN. BHD."): no name of its own, so the name is on the row above."""
    upper = row.upper()
    if not _ENDS_LEGAL.search(upper):
        return False
    rest = re.sub(r"\b(" + _LEGAL_SUFFIX + r")\b|[^\w\s]", " ", upper).split()
    return bool(rest) and all(COMPANY_WORDS.fullmatch(w) for w in rest)


# Words that say what a business is or sells, not who it is.
_KIND_WORDS = re.compile(r"(BISTRO|CAFE|COFFEE|BAR|GRILL|BAKERY|FOOD|FOODS|KITCHEN|SHOP|STORE|MART"
                         r"|MARKET|RESTAURANT|RESTORAN|HARDWARE|STATIONERY|TRADING|ENTERPRISE"
                         r"|&|AND|N|DAN)")


def _kind_only(upper: str) -> bool:
    words = re.findall(r"[^\W\d_]+|&", upper)
    return bool(words) and all(_KIND_WORDS.fullmatch(w) for w in words)


def _name_like(text: str) -> bool:
    """A header row that can be the start of a wrapped name: words, not an address, a label,
    a phone number or a registration number."""
    upper = text.upper()
    letters = sum(ch.isalpha() for ch in text)
    return (letters >= 3 and letters >= 0.7 * len(text.replace(" ", "")) and len(text) <= 40
            and not _ADDRESS.search(upper) and not _BOILERPLATE.search(upper)
            and text != text.lower())


def squash(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def best_row(value: str, rows: list[str], threshold: float = 0.8) -> int | None:
    """The row that holds ``value`` (alone, or wrapped onto the next one or two rows), else the row that
    resembles it best (OCR and the model each drop a character now and then), else None: an
    invented merchant."""
    target = squash(value)
    if not target:
        return None
    spans = [(i, squash(r)) for i, r in enumerate(rows)]
    spans += [(i, squash(a + b)) for i, (a, b) in enumerate(zip(rows, rows[1:]))]
    spans += [(i, squash(a + b + c)) for i, (a, b, c) in enumerate(zip(rows, rows[1:], rows[2:]))]
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
