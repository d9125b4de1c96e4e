"""Does the note hold its author's to-dos at all? Learned: a logistic regression over what the
note's text looks like as a whole (tags, to-do headings, unticked boxes, how many lines ask,
record a change, plan or report a bug, read as code or prose, carry versions or dates) and the
words it holds (``note_words.py``: what it is about), fitted on labelled notes by
``train_notes.py`` and kept in ``note_model.json`` beside this module.

Why learned: the rules that tell a changelog, a README or a FAQ from a to-do list
(``context.described_lines``) are right on the kinds of notes they were written for, and each
new batch of notes brought kinds they had not seen: on the first run of each of twelve blind
batches, 2 to 5 of its 8 notes without an action item got todos, and the model's review of the
offered lines kept nearly all of them (docs/EVAL.md).

Not among the features: "you", "your" and "please" alone, nor the writer's "I" and "we". In
the labelled notes, all of them software's files, those mark a README or a FAQ; in a person's
note or mail they are how a task is asked ("Please send the draft to Ann"), and with them the
model set such notes aside. What is a feature (``reader``) is the manual's way of addressing
its reader: "you can", "if you", "see the INSTALL file", "your system".

Without ``note_model.json`` every note is reviewed, as before.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from mustelid import learn

from .context import CHANGELOG, LICENCE, todo_heading
from .documents import ANSWER, QUESTION
from .lines import (MADE, NOW, RECORD, UNTICKED, asks, done_lines, list_marked, task_like,
                    without_mark)
from .note_words import word_features
from .tags import tagged
from .todo_names import is_todo_list

MODEL_FILE = "note_model.json"
TODOS, NONE = "todos", "none"        # the two labels
# Below this P(to-dos) a note is not reviewed: on the notes of 26 labelled sets, each set left
# out of the fit in turn, it kept 563 of 573 notes with to-dos and set aside 96 of 210 without
# (docs/EVAL.md). `[plugin.todos] note_threshold` overrides it; 0 reviews every note.
THRESHOLD = 0.2
# Below this, reviewed but doubted: only the lines the text marks as items (a list mark, a tag,
# an unticked box) are offered, not its prose. Measured with each labelled set's notes judged by
# a fit on the other sets (903 notes, docs/EVAL.md): precision 89.2 -> 89.8 %, recall 88.6 ->
# 88.5 %, notes without to-dos given any 21 -> 16 of 242. `[plugin.todos] note_doubt` overrides.
DOUBTFUL = 0.5
# Notes with fewer lines of words than this are always read: nearly every labelled note the
# model was fitted on has 4 or more, and one or two lines ("call mum", "* fix documentation for
# the new -7 switch") say too little about what kind of text they come from.
MIN_LINES = 4

_MODAL = re.compile(r"(?i)\b(?:should|must|need(?:s|ed)? to|ought to|ha(?:ve|s) to|would be nice)\b")
_PLAN = re.compile(r"(?i)\b(?:will|plan(?:ned)?|want(?:ed)?|maybe|perhaps|consider|later|someday|"
                   r"eventually|might|could|not yet|missing|unimplemented|wishlist)\b")
_BUG = re.compile(r"(?i)\b(?:bugs?|broken|crash\w*|fails?|failing|wrong|doesn'?t|does not|"
                  r"problems?|hack\w*|ugly|kludge)\b")
_DESCRIBES = re.compile(r"(?i)\b(?:is|are|provides|supports|allows|lets|contains|includes|"
                        r"can be|is used)\b")
_VERSION = re.compile(r"\bv?\d+\.\d+(?:\.\d+)*\b")
_DATE = re.compile(r"\b(?:19|20)\d\d[-/.](?:\d{1,2}|[A-Za-z]{3})[-/.]\d{1,2}\b|\b(?:Jan|Feb|Mar|Apr|"
                   r"May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? (?:19|20)\d\d\b")
_CODE = re.compile(r"[;{}]\s*$|^\s*(?:def|class|import|from|return|if|for|while|elif|else|"
                   r"#include|#define|static|int|void|const|let|var|function|fn|sub|my)\b|"
                   r"\w\(.*\)\s*[:;{]?\s*$|^\s*[\w.]+\s*=\s*\S")
_COMMENT = re.compile(r"^\s*(?:#|//|/\*|\*|--|;|%|\"|REM\b|dnl\b)")
_WORDS = re.compile(r"[^\W\d_]{2,}")
# A tag in brackets inside a sentence: "... some performance loss. (FIXME: check for ...)".
_BRACKETED_TAG = re.compile(r"\((?:TODO|FIXME|XXX)\b\s*:")
# A manual's option ("-i, --interactive  Force ...", "--help"), a setting ("LOG_OK_LOGINS no",
# "name = value"), a name alone ("Graeme Hart"): lines of manuals, configuration files and
# credits (an FAQ's "Q." and "A." marks are documents.py's).
_OPTION = re.compile(r"^\s*(?:-[A-Za-z0-9](?:,|\s|$)|--[a-z][\w-]+)")
_SETTING = re.compile(r"^\s*[A-Za-z_][\w.-]*\s*(?:=\s*\S|\s+(?:yes|no|true|false|on|off|"
                      r"-?\d+|\S+/\S*)\s*$)")
# How a manual speaks to whoever reads it: what they can do ("you can", "if you", "if
# necessary"; not a feature's "a switch where you can specify ..."), where to read on ("see the
# INSTALL file", "for more information"; not "read the 2.2 file format", a task, nor a menu's
# "Read File"), their software ("your system", "your package"). Not "you" or "your" alone,
# nor "please": a mail or a person's note asks its tasks that way ("Please send me your
# forecasts").
_READER = re.compile(
    r"(?i)(?<!where )(?<!which )(?<!that )\byou(?:'ll| (?:can|may|might|will|would))\b|\bif you\b|"
    r"\bif (?:necessary|possible|needed|desired|required)\b|"
    r"\bfor (?:more|further|a complete|details|information)\b|"
    r"\b(?:see|refer to|consult)\s+\S.{0,40}\b(?:file|section|documentation|manual|"
    r"page|faq|readme|install|below|above|chapter)\b|"
    r"\byour (?:own )?(?:system|package|distribution|distro|library|compiler|machine|computer|"
    r"config\w*|path|home|terminal|browser|editor|shell|commit\w*|changes|code|program|"
    r"application|project|platform|installation|kernel|environment|server|site|source|build|"
    r"patch\w*|bug report|version|copy|feature request)\b")
_NAME = re.compile(r"^\s*(?:[A-Z][a-z]+\.?\s+){1,3}[A-Z][a-z]+\s*$")


def features(lines: list[str]) -> dict[str, float]:
    """The note's features: ``lines`` are the task's lines (the text file's, or the OCR text
    laid out as its file)."""
    texts = [t for t in lines if _WORDS.search(t)]
    n = max(1, len(texts))

    def share(test: Any) -> float:
        return sum(1 for t in texts if test(t)) / n

    marked = [t for t in texts if list_marked(t)]
    items = [without_mark(t) for t in marked]
    return {
        "tags": float(min(3, sum(tagged(t) or bool(_BRACKETED_TAG.search(t)) for t in texts))),
        "todo_named": float(is_todo_list(lines)),
        "todo_heading": float(todo_heading(lines) is not None),
        "unticked": float(min(3, sum(bool(UNTICKED.match(t)) for t in texts))),
        "done": len(done_lines(lines)) / n,
        "marked": len(marked) / n,
        "task_like": share(task_like),
        "asks": share(asks),
        "records": (sum(bool(RECORD.match(t.lstrip("#*+>-–—:;.?! "))) for t in items)
                    / max(1, len(items))) if items else share(lambda t: bool(RECORD.search(t))),
        "made": share(lambda t: bool(MADE.search(t) or NOW.search(t))),
        "versions": share(lambda t: bool(_VERSION.search(t))),
        "dates": share(lambda t: bool(_DATE.search(t))),
        "changelog": float(any(CHANGELOG.search(t) for t in texts)),
        "licence": float(any(LICENCE.search(t) for t in texts)),
        "modal": share(lambda t: bool(_MODAL.search(t))),
        "plan": share(lambda t: bool(_PLAN.search(t))),
        "bug": share(lambda t: bool(_BUG.search(t))),
        "describes": share(lambda t: bool(_DESCRIBES.search(t))),
        "questions": share(lambda t: t.rstrip().endswith("?")),
        "code": share(lambda t: bool(_CODE.search(t))),
        "comments": share(lambda t: bool(_COMMENT.match(t))),
        "prose": share(lambda t: len(t) > 60 and len(t.split()) >= 8),
        "options": share(lambda t: bool(_OPTION.match(t))),
        "settings": share(lambda t: bool(_SETTING.match(t))),
        "qa": share(lambda t: bool(QUESTION.match(t) or ANSWER.match(t))),
        "names": share(lambda t: bool(_NAME.match(t))),
        "reader": share(lambda t: bool(_READER.search(t))),
    } | word_features(texts)


@lru_cache(maxsize=1)
def fitted() -> dict[str, Any] | None:
    """``note_model.json`` as ``train_notes`` wrote it, or None when there is none."""
    return learn.packaged(__package__, MODEL_FILE)


def judged(lines: list[str]) -> dict[str, Any]:
    """The note's features and P(to-dos) (None without a fitted model, or for a note shorter
    than ``MIN_LINES`` lines of words), as the job's evidence keeps them."""
    feats = features(lines)
    short = sum(1 for t in lines if _WORDS.search(t)) < MIN_LINES
    return {"features": feats, "has_todos": None if short else has_todos(feats)}


def has_todos(feats: dict[str, float], model: dict[str, Any] | None = None) -> float | None:
    """P(the note holds to-dos), or None without a fitted model."""
    model = model or fitted()
    if model is None:
        return None
    return learn.probabilities(feats, model)[TODOS]


def unmarked(lines: list[str]) -> set[int]:
    """The lines no mark offers as an item: what a doubted note offers none of."""
    return {i for i, line in enumerate(lines)
            if not (list_marked(line) or tagged(line) or UNTICKED.match(line))}
