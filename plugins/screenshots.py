"""Screenshots: describe a screen capture from its OCR text (``describe_screenshot``).

There is no vision model on these machines (NOTES.md), so the model reads the screen the way the
OCR engine saw it: numbered text lines in reading order, a few image facts, and the signs of each
kind of screen that code can spot (message times in a chat, an address bar, "Error code: ...").
The rule that keeps a 0.5B model honest is the receipts task's: **the model chooses, code copies**.

- Regions and key text point at OCR lines by *copying a line*: the per-job schema makes each an
  enum of this screenshot's own lines, and code turns the chosen line into its number, its text
  and its box (0-1000 grid). A box is never generated, so every stored box is an OCR box.
  Why copying rather than line numbers: asked for numbers (an integer enum), Qwen 0.5B answered
  1, 2, 3, 4, 5 and labelled the status bar "conversation partner"; asked to copy lines, it chose
  the lines a person would (measured on examples/samples, see tests/test_screenshots.py).
- URLs, e-mail addresses, dates, amounts and capitalised names are found by regular expressions
  and offered as numbered candidates; the model picks numbers, code copies the values.
- Kind is an enum of the kinds whose signs code found on the screen, plus app, document and
  other; title and summary are the model's own words, bounded in length.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import re
import unicodedata
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mustelid import Evidence, JobInput, PermanentError, Task, hookimpl
from mustelid.ocr import OcrLine, normalise_box, reading_order

MAX_LINES = 60        # numbered lines shown to the model: ~15 tokens each, so <=900 prompt tokens
LINE_CHARS = 90       # a longer OCR line is cut (for the prompt and key text; its box stays whole)
MAX_CANDIDATES = 20
MAX_KEY_LINES = 3
MAX_ENTITIES = 8
MAX_REGIONS = 4


class Kind(str, enum.Enum):
    app = "app"
    web_page = "web_page"
    chat = "chat"
    email = "email"
    document = "document"
    error_dialog = "error_dialog"
    code = "code"
    other = "other"


# ---------------------------------------------------------------------------------------------
# The function the model calls, and the result code completes from it


class RegionChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Line first, then label: the model picks a part of the screen by its text, then names it.
    text: str = Field(min_length=1, max_length=LINE_CHARS + 8)
    label: str = Field(min_length=1, max_length=40)


class ScreenshotCall(BaseModel):
    """The grammar's shape. Field order is generation order: the model names and summarises the
    screen first, so that its choice of kind follows from its own summary, then points at parts."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=80)
    # 160, not more: given 240 characters Qwen 0.5B filled them with invented background.
    summary: str = Field(min_length=1, max_length=160)
    kind: Kind
    key_text: list[str] = Field(default_factory=list, max_length=MAX_KEY_LINES)
    regions: list[RegionChoice] = Field(default_factory=list, max_length=MAX_REGIONS)
    entity_choices: list[int] = Field(default_factory=list, max_length=MAX_ENTITIES)


class Region(RegionChoice):
    # Filled by ``check`` from the OCR line the model copied; never part of the grammar.
    line: int | None = Field(None, ge=1, le=MAX_LINES)     # the line's number in the prompt
    box: list[int] | None = Field(None, min_length=4, max_length=4)   # 0-1000 grid


class Entity(BaseModel):
    type: Literal["url", "email", "date", "amount", "name"]
    value: str = Field(max_length=200)
    iso: str | None = Field(None, max_length=10)   # dates with a year, as YYYY-MM-DD
    line: int | None = None                        # the numbered OCR line it was printed on


class Screenshot(ScreenshotCall):
    """The validated result. ``key_lines``, ``entities`` and each region's ``line``/``box`` are
    filled by ``check`` from the evidence; the model's answer only points at them."""

    regions: list[Region] = Field(default_factory=list, max_length=MAX_REGIONS)
    key_lines: list[int] = Field(default_factory=list, max_length=MAX_KEY_LINES)
    entities: list[Entity] = Field(default_factory=list, max_length=MAX_ENTITIES)


# ---------------------------------------------------------------------------------------------
# Evidence: what code can find without a model

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

# Words that mark each kind of screen. They are shown to the model as *signs*, not a verdict:
# an e-mail about an error has both kinds of words, and the model weighs them.
_SIGNS: dict[str, re.Pattern[str]] = {
    "chat": re.compile(r"\b(type a message|online|typing|last seen|delivered)\b", re.I),
    "email": re.compile(r"(\b(inbox|subject:|from:|to:|cc:|reply all|reply|forward|drafts)"
                        r"(?!\w)|\b[\w.+-]+@[\w-]+\.\w+)", re.I),
    "error_dialog": re.compile(r"\b(error|failed|could not|cannot|can't|unable to|exception|"
                               r"warning|retry|try again)\b", re.I),
    "web_page": re.compile(r"(https?://|\bwww\.|\badd to cart\b|\bsign in\b|\blog in\b|"
                           r"\bcheckout\b|\bcookies\b|\bshipping\b)", re.I),
    "code": re.compile(r"(\bdef |\bimport |\bclass |\breturn\b|\bfunction\b|=>|#include|"
                       r"[{};]\s*$|\bconst |\bvar |\blet )"),
    "document": re.compile(r"\b(page \d+|chapter|section|contents|abstract|introduction)\b",
                           re.I),
}
_CLOCK = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?:\s?[ap]m)?(?![\d:])", re.I)

# What each kind means, for the prompt. app, document and other are always offered; a specific
# kind only when code found its signs on the screen (see ``allowed_kinds``).
KIND_HELP = {
    "chat": "a messenger conversation",
    "email": "an e-mail message or mail app",
    "error_dialog": "an error or warning message box",
    "web_page": "a site in a browser",
    "code": "source code or a terminal",
    "document": "a page of prose",
    "app": "any other application screen",
    "other": "none of these",
}
ALWAYS = ("app", "document", "other")


def clean_text(text: str) -> str:
    # NFKC folds full-width punctuation from CJK-capable OCR models into ASCII.
    return " ".join(unicodedata.normalize("NFKC", text).split())


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


def find_signs(lines: list[str]) -> dict[str, list[str]]:
    """Which kinds of screen the text looks like, with the words that say so (at most 4 each)."""
    signs: dict[str, list[str]] = {}
    clocks = [m.group(0) for t in lines for m in _CLOCK.finditer(t)]
    if len(clocks) >= 3:
        signs["chat"] = [f"{len(clocks)} message times ({', '.join(clocks[:3])})"]
    for kind, pattern in _SIGNS.items():
        words = []
        for t in lines:
            words += [m.group(0).strip() for m in pattern.finditer(t)]
        words = list(dict.fromkeys(w.lower() for w in words))
        if words:
            signs.setdefault(kind, []).extend(f"'{w}'" for w in words[:4])
    long_lines = sum(1 for t in lines if len(t) > 60)
    if len(lines) >= 8 and long_lines >= len(lines) / 2:
        signs.setdefault("document", []).append(f"{long_lines} long lines of prose")
    # Strongest first: more distinct signs = more likely.
    return dict(sorted(signs.items(), key=lambda kv: -len(kv[1])))


def likely_kind(signs: dict[str, list[str]]) -> str | None:
    """The kind with clearly the most signs (at least two, and more than any other), or None."""
    ranked = sorted(((len(v), k) for k, v in signs.items()), reverse=True)
    if ranked and ranked[0][0] >= 2 and (len(ranked) == 1 or ranked[0][0] > ranked[1][0]):
        return ranked[0][1]
    return None


def allowed_kinds(signs: dict[str, list[str]]) -> list[str]:
    """The kinds the model may choose: those whose signs are on the screen, then the generic
    ones. Why narrow it: with every kind open, Qwen 0.5B called the error dialog and the e-mail
    samples "chat" under some wordings of the prompt; a kind is now grounded like a value."""
    return [k for k in KIND_HELP if k in signs and k not in ALWAYS] + list(ALWAYS)


def describe_image(facts: dict[str, Any]) -> str:
    tone = "dark" if facts["brightness"] < 0.35 else "light"
    return f"{facts['width']}x{facts['height']} pixels, {facts['orientation']}, mostly {tone}"


# ---------------------------------------------------------------------------------------------
# The task


class Screenshots(Task):
    name = "screenshots"
    function = "describe_screenshot"
    description = "A screenshot of an app, web page, chat, e-mail or error: describe what it shows."
    version = "1"
    input_kind = "image"
    Output = Screenshot
    prompt = "screenshots"
    # Worst case of the grammar: 80 + 160 characters of prose (~70 tokens), 3 key lines of 90
    # characters (~75), 4 regions of a copied line and a 40-character label (~45 each), 8
    # numbers (~20), plus keys and punctuation (~60): ~410 tokens. A bounded answer must never
    # be cut off, so leave headroom (tokenisation of odd OCR text varies).
    max_tokens = 560

    def prepare(self, job: JobInput, ctx: Any) -> Evidence:
        if not job.path:
            raise PermanentError("no_input", "screenshots need an image file")
        from mustelid.imaging import image_facts

        facts = image_facts(ctx.load_image(job.path))   # PermanentError for a bad image
        ocr = [OcrLine(clean_text(l.text), l.box, l.score) for l in ctx.ocr(job.path)]
        ordered = reading_order([l for l in ocr if l.text])[:MAX_LINES]
        if not ordered:
            raise PermanentError(
                "no_text", "no text found on the image: without a vision model there is "
                "nothing to describe")
        texts = [l.text[:LINE_CHARS] for l in ordered]
        candidates = find_candidates(texts)
        signs = find_signs(texts)
        width, height = facts["width"], facts["height"]
        return Evidence(
            text="\n".join(texts),
            variables={
                "image": describe_image(facts),
                "lines": "\n".join(f"[{n}] {c}" for c, n in line_choices(texts).items()),
                "signs": "; ".join(f"{k}: {', '.join(v)}" for k, v in signs.items()) or "none",
                "likely": likely_kind(signs) or "unclear",
                "kinds": ", ".join(f"{k} ({KIND_HELP[k]})" for k in allowed_kinds(signs)),
                "candidates": "\n".join(
                    f"[{n}] {c['type']}: {c['value']}" for n, c in enumerate(candidates, 1)
                ) or "(none)",
            },
            data={
                "image": {k: facts[k] for k in ("width", "height", "orientation", "brightness",
                                                "mean_color")},
                "lines": [{"text": t, "box": normalise_box(l.box, width, height),
                           "score": l.score} for t, l in zip(texts, ordered)],
                "candidates": candidates,
                "signs": signs,
            },
        )

    def router_hint(self, evidence: Evidence) -> str:
        """For the inbox router: what kind of screen the text suggests."""
        signs = evidence.data.get("signs", {})
        top = next(iter(signs.items()), None)
        return f"screen signs: {top[0]} ({', '.join(top[1][:2])})" if top else ""

    def schema(self, evidence: Evidence) -> dict[str, Any]:
        """The static schema narrowed to this screenshot: key text and region lines become enums
        of its own lines, entity choices an enum of its candidate numbers (a grammar enforces
        enums; it does not enforce minimum/maximum)."""
        schema = ScreenshotCall.model_json_schema()
        props = schema["properties"]
        props["kind"] = {"type": "string", "enum": allowed_kinds(evidence.data["signs"])}
        lines = {"type": "string", "enum": list(line_choices(_texts(evidence)))}
        props["key_text"]["items"] = lines
        schema["$defs"]["RegionChoice"]["properties"]["text"] = lines
        candidates = list(range(1, len(evidence.data["candidates"]) + 1))
        if candidates:
            props["entity_choices"]["items"] = {"type": "integer", "enum": candidates}
        else:
            props["entity_choices"] = {"type": "array", "items": {"type": "integer"},
                                       "maxItems": 0}
        # Required everywhere: a model that may stop early on defaults often does.
        schema["required"] = list(props)
        return schema

    def check(self, result: Screenshot, evidence: Evidence) -> list[str]:
        lines = evidence.data["lines"]
        choices = line_choices(_texts(evidence))
        candidates = evidence.data["candidates"]
        problems = [f"{t!r} is not a line of the screenshot"
                    for t in [*result.key_text, *(r.text for r in result.regions)]
                    if t not in choices]
        problems += [f"entity {n} does not exist (there are {len(candidates)})"
                     for n in result.entity_choices if not 1 <= n <= len(candidates)]
        if problems:
            return problems
        # Copy, never trust: numbers, texts and boxes come from the OCR lines the answer chose.
        result.key_text = list(dict.fromkeys(result.key_text))
        result.key_lines = [choices[t] for t in result.key_text]
        result.key_text = [lines[n - 1]["text"] for n in result.key_lines]
        regions: dict[int, Region] = {}
        for r in result.regions:
            n = choices[r.text]     # one region per line: the model sometimes repeats a line
            regions.setdefault(n, Region(text=lines[n - 1]["text"], label=r.label, line=n,
                                         box=list(lines[n - 1]["box"])))
        result.regions = list(regions.values())
        result.entity_choices = list(dict.fromkeys(result.entity_choices))
        result.entities = [Entity(**candidates[n - 1]) for n in result.entity_choices]
        return []

    def persist(self, db: Any, job: dict[str, Any], result: Screenshot) -> None:
        db["screenshots"].insert({
            "job_id": job["id"],
            "file_sha256": job.get("input_sha256"),
            "kind": result.kind.value,
            "title": result.title,
            "summary": result.summary,
            "key_text": "\n".join(result.key_text),
            "entities": json.dumps([e.model_dump(exclude_none=True) for e in result.entities]),
            "regions": json.dumps([r.model_dump() for r in result.regions]),
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        })


def line_choices(texts: list[str]) -> dict[str, int]:
    """What the model may copy to point at a line -> that line's number (1-based). A text that
    occurs again (a page title in the tab and as the heading) gets its occurrence appended,
    "Summit 2P (2)", so that every line stays reachable and every choice names one line."""
    choices: dict[str, int] = {}
    for n, text in enumerate(texts, 1):
        choice, k = text, 1
        while choice in choices:
            k += 1
            choice = f"{text} ({k})"
        choices[choice] = n
    return choices


def _texts(evidence: Evidence) -> list[str]:
    return [l["text"] for l in evidence.data["lines"]]


# ---------------------------------------------------------------------------------------------
# Registration


@hookimpl
def register_tasks(register):
    register(Screenshots())


def _migrations():
    from sqlite_utils import Migrations

    migrations = Migrations("screenshots")

    @migrations()
    def m001_screenshots(db):
        # One row per described screenshot. key_text holds the chosen OCR lines, one a line;
        # entities and regions are JSON lists (regions carry their OCR box on the 0-1000 grid).
        # Full-text search over what a person remembers about a screenshot: its title, the
        # summary and its key lines. Triggers keep the index in step with the table.
        db["screenshots"].create(
            {
                "id": int,
                "job_id": str,
                "file_sha256": str,
                "kind": str,
                "title": str,
                "summary": str,
                "key_text": str,
                "entities": str,
                "regions": str,
                "created": str,     # UTC ISO timestamp
            },
            pk="id",
            not_null={"job_id", "kind", "title"},
        )
        db["screenshots"].create_index(["job_id"], unique=True)
        db["screenshots"].create_index(["kind"])
        db["screenshots"].enable_fts(["title", "summary", "key_text"], create_triggers=True)

    return migrations


@hookimpl
def register_migrations(register):
    register(_migrations())
