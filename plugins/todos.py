"""Todos: find the things a person has to do in a note, a whiteboard photo, a screenshot of an
e-mail or chat, or a text, and file them with a due date and a priority (``extract_todos``).

Grounding, because a 0.5B model both paraphrases and invents:

- Code proposes, the model judges: code picks the lines that read like tasks (list items,
  requests, lines starting with a task verb; ``task_like``), and the per-job schema walks the
  model through them one by one (a JSON ``prefixItems`` tuple): each entry's ``source_quote`` is
  fixed to that line, the model answers ``is_todo`` and, for a todo, writes a title and picks a
  due phrase and a priority. Why not a free list of todos with quotes from an enum: Qwen 0.5B
  stopped after one or two todos, or quoted "Mail" and "Inbox" from the top of the screen.
- ``check`` still verifies (case- and space-insensitively) that every todo's quote occurs in
  the source text, for backends that cannot enforce a grammar. A todo whose quote is not there
  is dropped and the grounded ones kept; only when *every* todo is ungrounded does ``check``
  reject the answer, so the host re-asks once and then ends the job ``dead`` (``check_failed``).
  Why drop rather than reject: one invented todo should not cost the five real ones beside it,
  nor a second generation (~10-20 s here) that may invent a different one.
- Due dates are arithmetic, so code does them: code finds the date words in the text
  ("tomorrow", "by Friday", "next Monday", "14 May", "28/05") and resolves each against the day
  the file was first seen (``job.seen_at``); the model may only copy one of those phrases
  (an enum) into ``due_phrase``. A date phrase on the quoted line itself wins over the model's
  pick (the date written beside a task is that task's date), and a pick written only on other
  todos' lines is refused (the model handed "by Friday" to every line of a list).
- Priority "high" needs an urgency word on the quoted line (the model called every todo high).

Input: an image (OCR), a plain-text file, or a job without a file whose ``params`` hold
``{"text": "...", "seen_at": ISO}`` or ``{"from_job": JOB_ID}`` (the text fields of that job's
stored result, read through the read-only ``ctx.read_db()``); ``enqueue_todos`` creates either.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import re
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mustelid import Evidence, JobInput, PermanentError, Task, TransientError, hookimpl
from mustelid.ocr import OcrLine, reading_order

MAX_LINES = 40         # source lines shown to the model: ~15 prompt tokens each
MAX_CANDIDATES = 10    # task-like lines the model reviews, each costing up to ~95 tokens
QUOTE_CHARS = 120      # a longer line is offered in pieces, split between words
MAX_TEXT_CHARS = 20_000
PHRASE_CHARS = 60      # "before the end of the month" is 27; longer matches are not offered


class Priority(str, enum.Enum):
    low = "low"
    normal = "normal"
    high = "high"


class Reviewed(BaseModel):
    """The model's verdict on one candidate line. The grammar fixes ``source_quote`` to the
    line under review, then lets the model answer ``is_todo``; only a todo gets the rest.
    Field order is generation order: restating the line just before judging it is what lets a
    0.5B model attend to the right one."""

    model_config = ConfigDict(extra="forbid")
    source_quote: str = Field(min_length=1, max_length=QUOTE_CHARS)
    is_todo: bool
    title: str | None = Field(None, min_length=1, max_length=80)
    due_phrase: str | None = Field(None, max_length=PHRASE_CHARS)
    priority: Priority | None = None


class Todo(BaseModel):
    """One todo as stored: filled by ``check`` from a reviewed line, never by the model alone."""

    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=80)
    source_quote: str = Field(min_length=1, max_length=QUOTE_CHARS)
    due_phrase: str | None = Field(None, max_length=PHRASE_CHARS)
    due: dt.date | None = None      # resolved by code from due_phrase, never by the model
    priority: Priority = Priority.normal
    # Set by code when the quoted line holds a shell command or a link: a note can ask for
    # "run curl ... | sh" (docs/RELIABILITY.md, prompt injection), and nothing in mustelid runs
    # a todo, but a person might copy it. Flagged, not dropped: the line may be a real task.
    caution: str | None = None


class TodoList(BaseModel):
    """The function's arguments (``review``, one entry per candidate line) and the validated
    result (``todos``, built by ``check`` from the lines judged to be todos)."""

    model_config = ConfigDict(extra="forbid")
    review: list[Reviewed] = Field(default_factory=list, max_length=MAX_CANDIDATES)
    todos: list[Todo] = Field(default_factory=list, max_length=MAX_CANDIDATES)


# ---------------------------------------------------------------------------------------------
# Date phrases: found by code, resolved by code

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


# ---------------------------------------------------------------------------------------------
# Source text


def clean_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def squash(text: str) -> str:
    """Case- and space-insensitive form for "does this quote occur in the source?"."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def split_long(text: str, limit: int = QUOTE_CHARS) -> list[str]:
    """A line cut into pieces of at most ``limit`` characters, between words where possible;
    every piece is still a substring of the source (modulo spaces)."""
    pieces, current = [], ""
    for word in text.split():
        while len(word) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(word[:limit])
            word = word[limit:]
        if current and len(current) + 1 + len(word) > limit:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        pieces.append(current)
    return pieces


def source_lines(raw: list[str]) -> list[str]:
    lines = []
    for line in raw:
        lines += split_long(clean_text(line))
    return lines[:MAX_LINES]


# Which lines can be a todo's quote. Code narrows the choice because Qwen 0.5B, offered every
# line, made todos of "Mail", "Inbox" and "9:41" by walking down from the top; offered the lines
# that read like tasks, it mostly only has to title them. A line qualifies if it is a list item
# (bullet, number, checkbox) that is not a "Label: value" spec, asks for something ("please",
# "can you", "don't forget"...), or starts with a common task verb.
_ITEM = re.compile(r"^\s*(?:(?:[-*•·>+~☐☑✓✔□■]|\(?\d{1,2}[.)]|\[[ xX]?\])\s*|o\s+)")
_LABEL = re.compile(r"^[A-Za-z][\w ]{0,20}:\s")
_ASK = re.compile(r"\b(please|pls|plz|can you|could you|would you|will you|don'?t forget|"
                  r"remember to|make sure|need to|needs to|have to|has to|must|should|"
                  r"to-?do:|action:|reminder:)", re.I)
_LEAD = re.compile(r"^(?:and|also|then|so|ok|okay|pls|please)\b[\s,]*", re.I)
_VERBS = set("""add answer apply arrange ask back bake book bring buy call cancel change charge
check clean clear close collect confirm contact cook create deliver deploy do drop email
e-mail file fill find finish fix follow get give go hand invite install keep learn leave make
meet move order organise organize pack paint pay phone pick plan post prepare print publish
put read register remind remove renew repair replace reply reserve return review ring run
schedule see sell send set share sign sort start submit take talk tell test text tidy top
transfer update upload visit walk wash water write""".split())


def task_like(line: str) -> bool:
    """Could this line state something to do? (see the comment above)"""
    item = _ITEM.match(line)
    rest = line[item.end():] if item else line
    if item and rest and not _LABEL.match(rest):
        return True
    if _ASK.search(line):
        return True
    # Two words at least: a lone "Reply", "Cancel" or "DO" (initials) is a button or a label.
    words = _LEAD.sub("", rest).split()
    return len(words) >= 2 and words[0].lower().strip(".,:;!") in _VERBS


_TEXT_FIELDS = ("text", "key_text", "summary", "title")


def result_text(data: Any) -> list[str]:
    """The text a stored result carries, for todos from another task's result. Fields named
    text / key_text / summary / title come first (a screenshot's key text, a summary's text);
    a result with none of them gives every string of two words or more."""
    lines: list[str] = []
    if isinstance(data, dict):
        for key in _TEXT_FIELDS:
            value = data.get(key)
            lines += [v for v in (value if isinstance(value, list) else [value])
                      if isinstance(v, str) and v.strip()]
    if lines:
        return lines

    def walk(value: Any) -> None:
        if isinstance(value, str) and len(value.split()) >= 2:
            lines.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(data)
    return lines


def _read_text(path: str) -> str:
    with open(path, "rb") as f:
        data = f.read(MAX_TEXT_CHARS * 4)
    # The sniffer calls UTF-16 with a byte-order mark text/plain too; everything else is UTF-8.
    encoding = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    return data.decode(encoding, errors="replace")[:MAX_TEXT_CHARS]


def _reference_day(seen_at: str | None, ctx: Any) -> dt.date:
    """The day relative dates count from, in local time: the day the file was first seen."""
    if seen_at:
        try:
            when = dt.datetime.fromisoformat(seen_at)
        except ValueError:
            when = None
        if when is not None:
            return (when.astimezone() if when.tzinfo else when).date()
    return ctx.now().date()


# ---------------------------------------------------------------------------------------------
# The task


class Todos(Task):
    name = "todos"
    function = "extract_todos"
    description = ("A handwritten note, whiteboard, to-do list, or a message asking for something: "
                   "list the things to do, with due dates.")
    version = "1"
    input_kind = "image"
    accepts = Task.accepts + ("text/plain",)
    Output = TodoList
    prompt = "todos"
    # Worst case of the grammar per reviewed line: the 120-character quote (~35 tokens, fixed
    # by the grammar but still generated), an 80-character title (~20), a due phrase (~8), the
    # keys and punctuation (~30): ~95; 10 lines ~950. Under the inbox router's 1024 cap.
    max_tokens = 960

    def prepare(self, job: JobInput, ctx: Any) -> Evidence:
        settings = (ctx.config.plugin or {}).get("todos", {}) if ctx.config else {}
        seen_at = job.seen_at
        if job.path and job.mime == "text/plain":
            raw, source = _read_text(job.path).splitlines(), "a text file"
        elif job.path:
            raw, source = self._ocr_lines(job, ctx), "an image (its text, read by OCR)"
        elif isinstance(job.params.get("text"), str):
            raw, source = job.params["text"][:MAX_TEXT_CHARS].splitlines(), "a text"
            seen_at = job.params.get("seen_at") or seen_at
        elif job.params.get("from_job"):
            raw, seen_at = self._from_job(str(job.params["from_job"]), ctx)
            source = "the result of an earlier job"
        else:
            raise PermanentError("no_input", 'todos need an image, a text file, or params '
                                 '{"text": ...} or {"from_job": JOB_ID}')
        lines = source_lines(raw)
        if not lines:
            raise PermanentError("no_text", "no text found: nothing to do")
        quotes = list(dict.fromkeys(l for l in lines if task_like(l)))[:MAX_CANDIDATES]
        today = _reference_day(seen_at, ctx)
        phrases = find_due_phrases(lines, today, settings.get("date_order", "DMY"))
        menu = {}
        for p in phrases:
            menu.setdefault(p.phrase, p)
        return Evidence(
            text="\n".join(lines),
            variables={
                "source": source,
                "lines": "\n".join(lines),
                "quotes": "\n".join(quotes) or "(none)",
                "today": f"{today:%A} {today.isoformat()}",
                "phrases": "\n".join(f'"{p.phrase}" (= {dt.date.fromisoformat(p.due):%A} '
                                     f'{p.due})' for p in menu.values()) or "(none)",
            },
            data={
                "lines": lines,
                "quotes": quotes,
                "today": today.isoformat(),
                "date_order": settings.get("date_order", "DMY"),
                "phrases": [dataclasses.asdict(p) for p in phrases],
            },
        )

    def _ocr_lines(self, job: JobInput, ctx: Any) -> list[str]:
        ctx.load_image(job.path)           # PermanentError("unreadable_image") for a bad file
        lines = [OcrLine(clean_text(l.text), l.box, l.score) for l in ctx.ocr(job.path)]
        return [l.text for l in reading_order([l for l in lines if l.text])]

    def _from_job(self, job_id: str, ctx: Any) -> tuple[list[str], str | None]:
        db = ctx.read_db()
        jobs = list(db["jobs"].rows_where("id = ?", [job_id]))
        if not jobs:
            raise PermanentError("source_missing", f"no job {job_id} to take todos from")
        results = list(db["results"].rows_where("job_id = ?", [job_id]))
        if not results:
            if jobs[0]["state"] == "dead":
                raise PermanentError("source_missing", f"job {job_id} ended dead: no result")
            raise TransientError("source_not_ready", f"job {job_id} has no result yet")
        seen_at = results[0]["created_at"]
        if jobs[0]["input_sha256"]:
            files = list(db["files"].rows_where("sha256 = ?", [jobs[0]["input_sha256"]]))
            seen_at = files[0]["first_seen"] if files else seen_at
        return result_text(json.loads(results[0]["data"] or "{}")), seen_at

    def router_hint(self, evidence: Evidence) -> str:
        """For the inbox router: how much of the text reads like a to-do list."""
        quotes = evidence.data.get("quotes", [])
        phrases = list(dict.fromkeys(p["phrase"] for p in evidence.data.get("phrases", [])))
        hint = f"{len(quotes)} of {len(evidence.data.get('lines', []))} lines read like tasks"
        return hint + (f"; dates: {', '.join(phrases[:4])}" if phrases else "")

    def schema(self, evidence: Evidence) -> dict[str, Any]:
        """One entry per candidate line, in order (``prefixItems``): the quote is fixed, then
        either ``is_todo: false`` and nothing else, or ``is_todo: true`` with a title, a due
        phrase from those found in the text (or null) and a priority."""
        phrases = list(dict.fromkeys(p["phrase"] for p in evidence.data["phrases"]))
        due = ({"anyOf": [{"type": "string", "enum": phrases}, {"type": "null"}]}
               if phrases else {"type": "null"})
        title = Todo.model_json_schema()["properties"]["title"]
        priority = {"type": "string", "enum": [p.value for p in Priority]}

        def entry(quote: str) -> dict[str, Any]:
            no = {"source_quote": {"const": quote}, "is_todo": {"const": False}}
            yes = {"source_quote": {"const": quote}, "is_todo": {"const": True}, "title": title,
                   "due_phrase": due, "priority": priority}
            return {"anyOf": [{"type": "object", "properties": p, "required": list(p),
                               "additionalProperties": False} for p in (no, yes)]}

        quotes = evidence.data["quotes"]
        review = {"type": "array", "prefixItems": [entry(q) for q in quotes],
                  "minItems": len(quotes), "maxItems": len(quotes)}
        return {"type": "object", "properties": {"review": review}, "required": ["review"],
                "additionalProperties": False}

    def check(self, result: TodoList, evidence: Evidence) -> list[str]:
        source = squash(evidence.text)
        today = dt.date.fromisoformat(evidence.data["today"])
        order = evidence.data.get("date_order", "DMY")
        phrases: dict[str, dict[str, Any]] = {}
        for p in evidence.data["phrases"]:
            phrases.setdefault(p["phrase"], {**p, "lines": set()})["lines"].add(p["line"])
        todo_lines = {squash(r.source_quote) for r in result.review if r.is_todo}
        lines = [squash(l) for l in evidence.data["lines"]]
        kept: list[Todo] = []
        dropped: list[dict[str, Any]] = []
        seen: set[str] = set()
        for r in result.review:
            if not r.is_todo:
                continue
            quote = squash(r.source_quote)
            if not quote or quote not in source or not r.title:
                dropped.append({"quote": r.source_quote, "title": r.title,
                                "why": "quote not in the source text" if r.title
                                else "no title"})
                continue
            if quote in seen:
                continue        # small models repeat themselves; one todo per quoted line
            seen.add(quote)
            # Whose date is it? A phrase printed only on other todos' lines is theirs.
            others = {i for i, l in enumerate(lines) if l in todo_lines and l != quote}
            phrase, due = _due(r, phrases, others, today, order)
            kept.append(Todo(title=r.title, source_quote=r.source_quote, due_phrase=phrase,
                             due=due, priority=_priority(r), caution=caution_for(r.source_quote)))
        evidence.data["dropped"] = dropped
        if dropped and not kept:
            return ["no source_quote occurs in the text; copy each quote exactly from one line: "
                    + "; ".join(repr(d["quote"]) for d in dropped[:3])]
        result.todos = kept
        return []

    def persist(self, db: Any, job: dict[str, Any], result: TodoList) -> None:
        created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        db["todos"].insert_all([
            {
                "job_id": job["id"],
                "title": t.title,
                "due": t.due.isoformat() if t.due else None,
                "priority": t.priority.value,
                "source_quote": t.source_quote,
                "caution": t.caution,
                "done": 0,
                "created": created,
            }
            for t in result.todos
        ])


# Shell: a pipe into an interpreter, command substitution, download or privilege tools, deletion.
_COMMAND = re.compile(
    r"\|\s*(?:sudo\s+)?(?:ba|z|da)?sh\b|\|\s*(?:python3?|perl|ruby|node|iex)\b|\$\(|`[^`]+`"
    r"|\b(?:curl|wget|sudo|chmod|chown|mkfs|dd)\s+\S|\brm\s+-\w*[rf]|\bpowershell\b"
    r"|\bInvoke-(?:WebRequest|Expression)\b", re.I)
_LINK = re.compile(r"\b(?:https?|ftp)://\S+|\bwww\.[\w-]+\.\w+", re.I)


def caution_for(quote: str) -> str | None:
    """Why a todo's line deserves a second look before anyone acts on it, or None."""
    if _COMMAND.search(quote):
        return "quotes a shell command: run it only if you know who wrote it"
    if _LINK.search(quote):
        return "contains a link: check where it leads before opening it"
    return None


_URGENT = re.compile(r"\b(urgent|urgently|asap|a\.s\.a\.p|important|critical|immediately|"
                     r"high priority|top priority)\b|!!|\(!\)", re.I)
_OPTIONAL = re.compile(r"\b(maybe|optional|if (?:there is |you have )?time|someday|some day|"
                       r"nice to have|low priority|whenever|no rush)\b", re.I)


def _priority(todo: Reviewed) -> Priority:
    """The model's priority, held to the quoted line: "high" needs an urgency word there (Qwen
    0.5B called every todo high), and an urgency or optional word decides by itself."""
    if _URGENT.search(todo.source_quote):
        return Priority.high
    if _OPTIONAL.search(todo.source_quote):
        return Priority.low
    return Priority.normal if todo.priority in (None, Priority.high) else todo.priority


def _due(todo: Reviewed, phrases: dict[str, dict[str, Any]], others: set[int],
         today: dt.date, order: str) -> tuple[str | None, dt.date | None]:
    """(phrase, date) for a todo: a date phrase on its own quoted line first; else the phrase
    the model picked, unless it is printed only on other todos' lines (``others``, line
    indexes); else none. The date is always computed here, never taken from the model."""
    own = find_due_phrases([todo.source_quote], today, order)
    if own:
        return own[0].phrase, dt.date.fromisoformat(own[0].due)
    if todo.due_phrase:
        known = phrases.get(todo.due_phrase)
        if known is not None:
            if known["lines"] <= others:
                return None, None
            return todo.due_phrase, dt.date.fromisoformat(known["due"])
        due = parse_due(todo.due_phrase, today, order)
        if due is not None:
            return todo.due_phrase, due
    return None, None


# ---------------------------------------------------------------------------------------------
# Enqueueing todos from text or from another job's result


def enqueue_todos(ledger: Any, config: Any, *, text: str | None = None,
                  from_job: str | None = None, seen_at: str | None = None) -> tuple[str, bool]:
    """Queue a ``todos`` job without a file. Returns ``(job_id, created)``.

    ``text``: todos from this text; relative dates count from ``seen_at`` (ISO; default now).
    ``from_job``: todos from the text fields of that job's stored result (e.g. a screenshot's
    key text); dates count from the day that job's file was first seen. Idempotent: the same
    text on the same day, or the same source job, is queued once per task version and model.
    Safe inside an open transaction (``Ledger.enqueue`` joins it), so a plugin's ``persist``
    may chain a todos job onto the job it is completing.
    """
    from mustelid.ingest import model_key

    if (text is None) == (from_job is None):
        raise ValueError("give exactly one of text= or from_job=")
    if text is not None:
        if not text.strip():
            raise ValueError("the text is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"the text is longer than {MAX_TEXT_CHARS} characters")
        seen_at = seen_at or dt.datetime.now().astimezone().isoformat(timespec="seconds")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        params: dict[str, Any] = {"text": text, "seen_at": seen_at}
        source = f"text:{digest}:{seen_at[:10]}"
    else:
        params, source = {"from_job": from_job}, f"job:{from_job}"
    task = Todos()
    return ledger.enqueue(
        task.name,
        idempotency_key=f"{source}:{task.name}:{task.version}:{model_key(config)}",
        task_version=task.version,
        params=params,
        max_attempts=config.jobs.max_attempts,
        model_id=model_key(config),
    )


# ---------------------------------------------------------------------------------------------
# Registration


@hookimpl
def register_tasks(register):
    register(Todos())


def _migrations():
    from sqlite_utils import Migrations

    migrations = Migrations("todos")

    @migrations()
    def m001_todos(db):
        # One row per todo. `due` is an ISO day (YYYY-MM-DD) or NULL; `done` is 0/1 and the only
        # column a person changes (`mustelid todos done ID`). source_quote is the line of the
        # source the todo came from, verbatim, so a todo can always be traced to its evidence.
        db["todos"].create(
            {
                "id": int,
                "job_id": str,
                "title": str,
                "due": str,
                "priority": str,    # low | normal | high
                "source_quote": str,
                "done": int,
                "created": str,     # UTC ISO timestamp
            },
            pk="id",
            not_null={"job_id", "title", "priority", "source_quote", "done"},
            defaults={"done": 0},
        )
        db["todos"].create_index(["job_id"])
        db["todos"].create_index(["done", "due"])

    @migrations()
    def m002_caution(db):
        # Why a todo's line needs a second look (a shell command, a link), or NULL.
        db["todos"].add_column("caution", str)

    return migrations


@hookimpl
def register_migrations(register):
    register(_migrations())
