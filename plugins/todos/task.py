"""The ``todos`` task: evidence from an image, a text file, a text or another job's result; a
per-job schema that walks the model through the note's candidate items; ``check`` grounds each todo."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections import Counter
from typing import Any

from mustelid import (Evidence, JobInput, OcrLine, PermanentError, Task, TaskContext,
                      TransientError, capabilities, clean_text, laid_out_text, whole_screen)
from mustelid.records import input_file, job_and_result

from . import evaluate
from .buttons import without_buttons
from .checks import caution_for, due_for, priority_for
from .context import described_lines, key_help_lines, listed_items
from .dates import find_due_phrases
from .items import kept, ranked
from .changes import change_lists
from .documents import (answer_lines, commit_lines, credit_lines, option_lines, qa_lines,
                        repl_lines, sections_without_tasks, sentence_rests)
from .markup import org_parents, plain_lines
from .note_model import DOUBTFUL, THRESHOLD, judged, unmarked
from .inputs import MAX_TEXT_CHARS, read_text, result_text
from .lines import Line, done_lines, quote_head, source_layout, squash, title_of
from .parts import shifted, spans
from .output import MAX_CANDIDATES, Todo, TodoList
from .routing import todo_fit
from .tags import tagged


class Todos(Task):
    name = "todos"
    function = "extract_todos"
    description = ("A handwritten note, whiteboard, to-do list, or a message asking for something: "
                   "list the things to do, with due dates.")
    version = "6"   # 2: priority from the line, not the model; 3: done remarks, release notes,
    # licences; 4: a picture of a note laid out as its file (indents, gaps, lost marks);
    # 5: lists in code comments and POD, records of changes, a to-do heading's entries;
    # 6: a learned "does the note hold to-dos" before any line is offered
    input_kind = "image"
    accepts = Task.accepts + ("text/plain",)
    bench_inputs, bench_p50_s = "notes-dev", 3.0      # `mustelid bench` P10 (issue 12)
    Output = TodoList
    prompt = "todos"
    # Worst case of the grammar per reviewed line: the 120-character quote (~35 tokens, fixed
    # by the grammar but still generated), a due phrase (~8), the keys and punctuation (~15):
    # ~58; 16 lines ~930. Under the inbox router's 1024 cap.
    max_tokens = 960

    def prepare(self, job: JobInput, ctx: TaskContext) -> Evidence:
        settings = (ctx.config.plugin or {}).get("todos", {}) if ctx.config else {}
        raw, source, seen_at, images, capture = self._read(job, ctx)
        # A list kept in code comments or POD reads as the same list in a text file.
        layout = source_layout(plain_lines(raw), limit=None)
        # A source file without a tagged comment asks nothing (source_code.py): its text is
        # shown, every line ruled out.
        silent = not layout
        layout = layout or source_layout(raw, limit=None)
        lines = [line.text for line in layout]
        if not lines:
            raise PermanentError("no_text", "no text found: nothing to do")
        # Whether the note holds to-dos at all, learned from labelled notes (note_model.py): a
        # changelog, a README or a FAQ in a form the rules below have not seen is not reviewed.
        note = judged(lines)
        if silent:
            note["has_todos"] = None        # ruled out already
        aside, doubted = _verdict(lines, note.get("has_todos"), settings)
        finished = done_lines(lines, [line.indent for line in layout])   # never a todo
        # What the note as a whole says: a changelog or a features list asks nothing, key help
        # is furniture, and a to-do list's unmarked short lines are its items (context.py).
        gaps = {i for i, line in enumerate(layout) if line.after_gap}
        ruled_out = finished | described_lines(lines, gaps) | key_help_lines(lines) \
            | option_lines(layout) | qa_lines(layout) | answer_lines(layout) | repl_lines(layout) \
            | commit_lines(layout) | credit_lines(layout) | sections_without_tasks(layout) \
            | change_lists(layout) | org_parents(lines) \
            | (set(range(len(lines))) if silent else set())
        ruled_out |= sentence_rests(layout, ruled_out) | doubted
        listed = listed_items(lines, ruled_out)
        today = _reference_day(seen_at, ctx)
        order = settings.get("date_order", "DMY")
        # Every item of the note that may be a task, its wrapped lines joined (items.py); a note
        # with more than one review holds is reviewed in parts, each alone (parts.py).
        every = ranked(layout, ruled_out, listed, finished)
        if aside:
            # Not reviewed; what the rules would have offered is kept for the inbox router,
            # which asks how much of the file reads like a to-do list (routing.py).
            note["set_aside"], every = list(dict.fromkeys(q for _, _, q in every)), []
        cuts = spans(layout, sorted({first for _, first, _ in every}))
        parts = [self._part(layout[a:b], kept([r for r in every if a <= r[1] < b], MAX_CANDIDATES),
                            shifted(finished, a, b), today, order, source, images)
                 for a, b in cuts]
        form = {} if capture is None else {"display_capture": capture}   # for the router
        if len(parts) == 1:
            parts[0].data.update(note=note, **form)
            return parts[0]
        read = cuts[-1][1]
        first = parts[0]
        return Evidence(text="\n".join(lines[:read]), images=images, variables=first.variables,
                        parts=parts, data={
                            **first.data, "lines": lines[:read],
                            "quotes": [q for p in parts for q in p.data["quotes"]],
                            "done_lines": sorted(i for i in finished if i < read),
                            "phrases": [{**p, "line": p["line"] + a} for part, (a, _) in
                                        zip(parts, cuts) for p in part.data["phrases"]],
                            "parts": [list(c) for c in cuts], "lines_unread": len(lines) - read,
                            "note": note, **form})

    def _read(self, job: JobInput, ctx: TaskContext
              ) -> tuple[list[str], str, str | None, list, bool | None]:
        """The input's raw lines, what they came from, the day it was seen, any image, and
        whether a picture is a capture of a whole display (None: not a picture)."""
        seen_at, images, capture = job.seen_at, [], None
        if job.path and job.mime == "text/plain":
            raw, source = read_text(job.path).splitlines(), "a text file"
        elif job.path:
            image, raw = self._ocr_lines(job, ctx)
            capture = None if image is None else whole_screen(image)
            source = "an image (its text, read by OCR)"
            if capabilities(getattr(ctx, "backend", None)).vision:
                # A model that sees gets the note too; it still quotes only the lines below.
                images, source = [image], "an image (attached; its text, read by OCR)"
        elif isinstance(job.params.get("text"), str):
            raw, source = job.params["text"][:MAX_TEXT_CHARS].splitlines(), "a text"
            seen_at = job.params.get("seen_at") or seen_at
        elif job.params.get("from_job"):
            raw, seen_at = self._from_job(str(job.params["from_job"]), ctx)
            source = "the result of an earlier job"
        else:
            raise PermanentError("no_input", 'todos need an image, a text file, or params '
                                 '{"text": ...} or {"from_job": JOB_ID}')
        return raw, source, seen_at, images, capture

    @staticmethod
    def _part(layout: list[Line], quotes: list[str], finished: set[int], today: dt.date,
              order: str, source: str, images: list) -> Evidence:
        """The evidence of up to ``MAX_LINES`` lines and the items of them the model reviews
        (the likeliest when there are more than the review's budget); the model decides.
        ``finished``: its lines marked done."""
        lines = [line.text for line in layout]
        phrases = find_due_phrases(lines, today, order)
        menu = {}
        for p in phrases:
            menu.setdefault(p.phrase, p)
        return Evidence(
            text="\n".join(lines),
            images=images,
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
                "done_lines": sorted(finished),
                "today": today.isoformat(),
                "date_order": order,
                "phrases": [dataclasses.asdict(p) for p in phrases],
            },
        )

    def _ocr_lines(self, job: JobInput, ctx: TaskContext) -> tuple[Any, list[str]]:
        image = ctx.load_image(job.path)   # PermanentError("unreadable_image") for a bad file
        lines = without_buttons([OcrLine(clean_text(l.text), l.box, l.score)
                                 for l in ctx.ocr(job.path)])
        # Laid out as the note's file would be: an item's indented second line, the blank line
        # between items and an editor's line numbers are what lines.py reads structure from.
        return image, laid_out_text(lines, image)

    def _from_job(self, job_id: str, ctx: TaskContext) -> tuple[list[str], str | None]:
        # Function-local: mustelid.records loads sqlite-utils, and with it numpy, which
        # `mustelid --help` (it imports every plugin) should not pay for.

        db = ctx.read_db()
        job, result = job_and_result(db, job_id)
        if job is None:
            raise PermanentError("source_missing", f"no job {job_id} to take todos from")
        if result is None:
            if job["state"] == "dead":
                raise PermanentError("source_missing", f"job {job_id} ended dead: no result")
            raise TransientError("source_not_ready", f"job {job_id} has no result yet")
        seen_at = result["created_at"]
        if job["input_sha256"]:
            file = input_file(db, job["input_sha256"])
            seen_at = file["first_seen"] if file else seen_at
        return result_text(json.loads(result["data"] or "{}")), seen_at

    def router_fit(self, evidence: Evidence) -> float:
        """For the inbox router: see ``routing.todo_fit``."""
        return todo_fit(evidence)

    def router_hint(self, evidence: Evidence) -> str:
        """For the inbox router: how much of the text reads like a to-do list."""
        quotes = evidence.data.get("quotes", [])
        phrases = list(dict.fromkeys(p["phrase"] for p in evidence.data.get("phrases", [])))
        hint = f"{len(quotes)} of {len(evidence.data.get('lines', []))} lines read like tasks"
        return hint + (f"; dates: {', '.join(phrases[:4])}" if phrases else "")

    def schema(self, evidence: Evidence) -> dict[str, Any]:
        """One entry per candidate line, in order (``prefixItems``): the quote is fixed, then
        either ``is_todo: false`` and nothing else, or ``is_todo: true`` with a due phrase from
        those found in the text (or null): nothing is free text. No priority: code reads it
        from the line (``checks.priority_for``)."""
        phrases = list(dict.fromkeys(p["phrase"] for p in evidence.data["phrases"]))
        due = ({"anyOf": [{"type": "string", "enum": phrases}, {"type": "null"}]}
               if phrases else {"type": "null"})

        def entry(quote: str) -> dict[str, Any]:
            quote = quote_head(quote)
            no = {"source_quote": {"const": quote}, "is_todo": {"const": False}}
            yes = {"source_quote": {"const": quote}, "is_todo": {"const": True},
                   "due_phrase": due}
            return {"anyOf": [{"type": "object", "properties": p, "required": list(p),
                               "additionalProperties": False} for p in (no, yes)]}

        quotes = evidence.data["quotes"]
        review = {"type": "array", "prefixItems": [entry(q) for q in quotes],
                  "minItems": len(quotes), "maxItems": len(quotes)}
        return {"type": "object", "properties": {"review": review}, "required": ["review"],
                "additionalProperties": False}

    def check(self, result: TodoList, evidence: Evidence) -> list[str]:
        # The schema had the model restate only each line's start; the todo keeps the line.
        for entry, quote in zip(result.review, evidence.data["quotes"]):
            if entry.source_quote == quote_head(quote):
                entry.source_quote = quote
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
        seen: Counter[str] = Counter()
        for r in result.review:
            if not r.is_todo:
                continue
            quote = squash(r.source_quote)
            if not quote or quote not in source:
                dropped.append({"quote": r.source_quote, "why": "quote not in the source text"})
                continue
            if not _another_line(seen, quote, source):
                continue
            # Whose date is it? A phrase printed only on other todos' lines is theirs.
            others = {i for i, l in enumerate(lines) if l in todo_lines and l != quote}
            phrase, due = due_for(r, phrases, others, today, order)
            kept.append(Todo(title=title_of(r.source_quote), source_quote=r.source_quote, due_phrase=phrase,
                             due=due, priority=priority_for(r), caution=caution_for(r.source_quote)))
        evidence.data["dropped"] = dropped
        if dropped and not kept:
            return ["no source_quote occurs in the text; copy each quote exactly from one line: "
                    + "; ".join(repr(d["quote"]) for d in dropped[:3])]
        result.todos = kept
        return []

    def joined(self, results: list[TodoList], evidence: Evidence) -> TodoList:
        """A long note's parts: their todos in order, one per quoted line, as ``check`` keeps
        them within a part."""
        todos: list[Todo] = []
        seen: Counter[str] = Counter()
        source = squash(evidence.text)
        for todo in (t for result in results for t in result.todos):
            if _another_line(seen, squash(todo.source_quote), source):
                todos.append(todo)
        evidence.data["dropped"] = [d for p in evidence.parts for d in p.data.get("dropped", [])]
        return TodoList(review=[r for result in results for r in result.review], todos=todos)

    # ``mustelid eval``: the notes-dev README's scoring (evaluate.py).
    def eval_truth(self, labels: dict[str, Any]) -> dict[str, Any]:
        return evaluate.truth(labels)

    def eval_score(self, truth: dict[str, Any], data: dict[str, Any] | None, *,
                   reason: str | None = None, evidence: Any = None) -> tuple[dict, dict]:
        return evaluate.judge(truth, data, evidence)

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



def _verdict(lines: list[str], p_todos: float | None, settings: dict[str, Any]
             ) -> tuple[bool, set[int]]:
    """What the note model's P(to-dos) does to a note: whether it is set aside (not reviewed),
    and the lines a doubt rules out (a doubted note: its marked items, not its prose). A line
    its writer tagged ("-- FIXME: we need a trigger ...") is read whatever the model says of the
    rest: such a note is not set aside, and only its tagged lines are offered."""
    if p_todos is None:
        return False, set()
    if p_todos < settings.get("note_threshold", THRESHOLD):
        marked = {i for i, line in enumerate(lines) if tagged(line)}
        if not marked:
            return True, unmarked(lines)   # what is kept for the router is doubted too
        return False, set(range(len(lines))) - marked
    return False, unmarked(lines) if p_todos < settings.get("note_doubt", DOUBTFUL) else set()


def _reference_day(seen_at: str | None, ctx: TaskContext) -> dt.date:
    """The day relative dates count from, in local time: the day the file was first seen."""
    if seen_at:
        try:
            when = dt.datetime.fromisoformat(seen_at)
        except ValueError:
            when = None
        if when is not None:
            return (when.astimezone() if when.tzinfo else when).date()
    return ctx.now().date()


def _another_line(seen: Counter[str], quote: str, source: str) -> bool:
    """One todo per line quoted: counts ``quote`` (squashed) once more in ``seen`` when the
    note (``source``, squashed) has a line holding those words that no todo took yet. The
    same words on two lines are two todos; one line restated twice is one."""
    if seen[quote] >= max(1, source.count(quote)):
        return False
    seen[quote] += 1
    return True
