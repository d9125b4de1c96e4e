"""What the whole note says about its lines, beyond what one line says about itself.

- A note that names itself a to-do list (``names_todo_list``: a ``TODO`` title, a "Things to
  do:" heading, a ``todo.txt`` file name in a title bar) lists its items without verbs or
  marks, one per line ("customization of key bindings", "plug-in faculty"): such a block of
  short lines is offered as items (``listed_items``). The inbox router reads the same name
  (``routing.todo_fit``).
- A changelog or release notes records what was done, and a "has the following features:" list
  describes a program: neither asks for anything (``described_lines``).
- An editor's key help, read by OCR as separate lines ("^O" and "Write Out"), is screen
  furniture, not a task (``key_help_lines``).
"""

from __future__ import annotations

import re

from .changes import release_history
from .lines import (MAX_LINES, VERSION_ALONE, chrome, heading, list_marked, mark_shape, task_like,
                    task_verb, without_mark)
from .reader import TO_READER
from .tags import tagged
from .todo_names import is_todo_list, names_todo_list

_WORDS = re.compile(r"[^\W\d_]{2,}")
# A to-do list's heading alone on its line: "TODO", "TO DO:", "Things to do", "TODO for 2.0"
# (a version's dots are no sentence's end), with a remark in brackets after it ("TODO (in no
# particular order)").
_TODO_HEADING = re.compile(r"(?i)^\W*(?:things\s+)?t[o0][\s-]?d[o0u]s?"
                           r"(?:\s+list)?(?:\s+for\s+(?:[^.]|(?<=\d)\.(?=\d)){1,30})?"
                           r"(?:[.,]?\s*\d[\d./-]{3,})?(?:\s*\([^()]{1,40}\))?\s*:?\W*$")
# An entry's own note that it is still to come: "(good to add)", "(planned)", "(not yet)".
_PLANNED = re.compile(r"(?i)\([^)]*\b(?:to add|to do|todo|planned|wanted|requested|not yet)\b"
                      r"[^)]*\)")
_ONE_WORD = re.compile(r"[^\W\d_]{4,}\.?")
_BLOCK_MIN = 3           # lines in a row that make a list
_ITEM_WORDS = 8          # more words than this is a sentence, not a list item

CHANGELOG = re.compile(r"(?i)\b(?:change-?log|release notes|what'?s new)\b|\bNEWS\b"
                        # Questions and their answers ask nothing of the reader either.
                        r"|\bFAQ\b|\bfrequently asked questions\b"
                        # "Major changes between versions 581 and 590", GNU's "Noteworthy
                        # changes in release 3.8 (2022-04-18)", "Changes in 2.1:"
                        r"|\bchanges\b.{0,40}\b(?:versions?\b|release\s+v?\d|v?\d+\.\d+\b)"
                        # "New for version 2.8:", "New in release 3", "New in 1.4"
                        r"|\bnew\s+(?:for|in)\s+(?:version|release|v?\d+\.\d+)"
                        # "Changes for Newsboat"; Keep a Changelog's sections ("### Added")
                        r"|^\W*changes\b(?:\s+\S+){0,3}\W*$"
                        r"|^\s*#{2,4}\s*(?:added|changed|fixed|removed|deprecated|security)\s*$"
                        # whom the project thanks ("THANKS", "Credits", "Contributors")
                        r"|^\W*(?:thanks|credits|acknowledg(?:e)?ments|contributors|authors)\W*$"
                        # How to build and install it, and what that needs: instructions for
                        # whoever installs it ("How to compile and install ncmpc",
                        # "Requirements", "Installing Foo"), no task of the project's.
                        r"|^\W*how to (?:compile|build|install)\b"
                        r"|^\W*(?:installation|installing|building|compiling)\b(?:\s+\S+){0,3}\W*$"
                        r"|^\W*(?:requirements|prerequisites|dependencies)\W*$"
)
# A document that says it instructs ("Instructions to code your own VLC Lua scripts").
_DOC_TITLE = re.compile(r"(?i)^\W*(?:instructions|tutorial|how-?to|introduction)\b(?:\s+\S+){0,12}"
                        r"\W*$")
# A program's name, version and what it is ("FROTZ V2.54 - An interpreter for ..."): the
# opening of its README, which describes it.
_PROGRAM_TITLE = re.compile(r"(?i)^\W*[A-Za-z][\w+-]*\s+v?\d+(?:\.\d+)+\w*\s+[-–—]\s+"
                            r"(?:an?|the)\s")
# A licence or copyright notice states terms ("must not be misrepresented"), it asks for no task.
LICENCE = re.compile(r"(?i)\bpermission is (?:hereby )?granted\b|\bprovided\W{0,2}as[- ]is\b"
                      r"|^\s*licen[cs]e\s*:|\bwithout any warranty\b|\bfree software\W+you can "
                      r"redistribute\b|\bredistribution and use in source and binary forms\b"
                      r"|\bredistributions (?:of source code|in binary form) must\b"
                      # a licence's own title line ("Mozilla Public License Version 2.0")
                      r"|^\W*(?:the\s+)?(?:gnu\s+)?(?:(?:lesser|library|affero|mozilla|eclipse)\s+)?"
                      r"(?:general\s+)?public\s+licen[cs]e(?:,?\s+version\s+[\d.]+)?\W*$"
                      r"|^\W*(?:the\s+)?(?:mit|apache|isc|artistic|bsd(?:\s+[\w-]+)?)\s+licen[cs]e"
                      r"(?:,?\s+version\s+[\d.]+)?\W*$")
# A terminal transcript quoted as an example ("> strace -o output-file ps --blah", "$ make"):
# what to type if one wants to, not a task. A "$ " prompt marks no list; ">" and "%" mark
# items in handwriting too, so their run counts as commands only when one of its lines is a
# program run with an option (a word that is not a task verb, then "-o" or "--blah").
_PROMPT = re.compile(r"^\s*([$>%])\s+(?=\S)")
_RUN_WITH_OPTION = re.compile(r"^([a-z][\w.+/-]*)\s+--?[A-Za-z]")
_DEBIAN_ENTRY = re.compile(r"\burgency=\w+")        # "pkg (1.2-1) unstable; urgency=medium"
# A release's heading with its date ("Version 2.13 - Sergey Poznyakoff, 2019-11-06", GNU's NEWS
# form; "1.4.2 (2021/03/01)"): a note that opens with one records releases.
# The date's month may be a name ("Version 0.7.7   2017-dec-27").
# Or the day first and the month a name ("keychain 2.8.5 (24 Jan 2018)"), or the month first
# ("Jan 24, 2018"); the program's name may stand before the version.
_DATE = (r"\b(?:19|20)\d\d\s*[-–./]\s*(?:\d{1,2}|[a-z]{3,9})\s*[-–./]\s*\d{1,2}\b"
         r"|\b\d{1,2}\s+[a-z]{3,9}\.?,?\s+(?:19|20)\d\d\b"
         r"|\b[a-z]{3,9}\.?\s+\d{1,2},?\s+(?:19|20)\d\d\b")
_RELEASED = re.compile(rf"(?i)^\W*(?:[a-z][\w+.-]*\s+)?(?:v|version|release)?\.?\s*\d+(?:\.\d+)+"
                       rf"\S*\s*[-–—,:(]?"
                       rf".{{0,60}}?(?:{_DATE})"
                       # or the date first ("2022-06-05: Version 7.4.3")
                       rf"|^\W*(?:{_DATE})\W+(?:v|version|release)?\.?\s*\d+(?:\.\d+)+")
_MARKDOWN_TITLE = re.compile(r"^\s*#{1,6}\s+")
_QUESTION = re.compile(r"(?i)^(?:\d{1,3}[.)]\s*)?(?:why|how|what|can|does|do|is|are|where|when|"
                       r"which|who)\b.*\?\s*$")
_RELEASE_TITLE = re.compile(r"^\s*#{1,6}\s*(?:[A-Za-z][\w+-]*\s+)?v?\d+(?:\.\d+)+\s*$")
_TITLE_LINES = 4
_TITLE_WORDS = 8
# "has the following features:", "Features:": a description follows, unless the heading says
# the features are still to come.
# "Some examples of sneaky ways to use devtodo:": what follows shows how, it asks nothing.
# "Summary of the steps:", "Overview:": what the thing does, unless what is left is summed up.
# "Supported functionality:", "Indeed, it can:": what a program does, as a README or a manual
# introduces it. "Functionality:" alone heads a TODO file's wished features, and "This
# includes:" a roadmap's work (notes-fresh17, 23): neither is enough.
_DESCRIBES = re.compile(r"(?i)\bfeatures?\b(?!\s+(?:fix|request|wish))[^:]{0,40}:\s*$"
                        r"|\b(?:supported|available|main|key|current|existing|basic|core)\s+"
                        r"(?:functionality|functions|capabilities|operations|commands)\b"
                        r"[^:]{0,40}:\s*$"
                        r"|\b(?:it|this|they|which)\s+(?:can|supports|provides|offers|implements)\b"
                        r"[^.:]{0,30}:\s*$"
                        r"|\b(?:examples?|for instance)\b[^:]{0,40}:\s*$"
                        r"|\b(?:summary|overview)\b(?![^:]*\b(?:to ?do|left|remaining|"
                        r"planned|open)\b)[^:]{0,40}:\s*$")
# "The following features have been removed. They are not "missing".": a record of them, however
# the line goes on.
_RECORDS = re.compile(r"(?i)\bfollowing\b.{0,40}\b(?:have|has) been (?:removed|dropped|"
                      r"deprecated|added|fixed|implemented|changed)\b"
                      r"|\bfollowing\b.{0,40}\bare no longer\b")
# "Various helpful notes:", "Coding conventions:", "Tips:": what follows is advice to whoever
# works on the thing ("I use 4 spaces for indentation", "Use C-style comments only"), standing
# rules, not tasks (a HACKING file's list).
# A heading of its own says the same ("** Coding standards", "## Style guide").
_ADVICE = (r"(?i)\b(?:hints?|tips?|guidelines?|conventions?|helpful|advice|rules|"
           r"coding (?:style|standards?)|style guide|notes? (?:for|to) (?:developers|"
           r"contributors|hackers|maintainers|translators))\b")
_ADVISES = re.compile(_ADVICE + r"[^:]{0,40}:\s*$")
# "To build NcFTP ..., you can simply do the following:", "run pip ... as follows:": the steps
# of a procedure for the reader, not the writer's tasks.
# "To install:" over a list of steps likewise.
_PROCEDURE = re.compile(r"(?i)(?:\byou (?:can|may|might|could|will)\b|\bas follows\b|"
                        r"\bthe following steps\b|^\W*to (?:install|build|compile|use|run|"
                        r"set ?up|configure|enable|uninstall|upgrade)\b)[^:]*:\s*$")
# "# Arguments:", "Returns:", "Side effects:": a function's documentation follows, one entry a
# parameter ("src  Location of source document"), not a task.
_API_DOC = re.compile(r"(?i)^\W*(?:arguments|args|parameters|params|returns?|results?|side effects|"
                      r"raises|throws|exceptions)\s*:\s*$")
_ADVICE_WORDS = re.compile(_ADVICE)
_ADVICE_TITLE_WORDS = 4
_DECORATION = re.compile(r"^[\W_]+")
_INTENT = re.compile(r"(?i)\b(?:planned|missing|wanted|wish|todo|to do|to add|to implement|"
                     r"requested|future|ideas?|needed|upcoming|proposed|not yet)\b")
# The long ones, as OCR misreads a photo of them by a letter ("plarned", "missinq").
_INTENT_WORDS = ("planned", "missing", "wanted", "requested", "future", "needed", "upcoming",
                 "proposed")


def _intends(line: str) -> bool:
    """Does the line say that what follows is still to come?"""
    return bool(_INTENT.search(line)) or any(
        len(w) >= 6 and any(_one_edit(w, known) for known in _INTENT_WORDS)
        for w in re.findall(r"[a-z]+", line.lower()))


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by one letter changed, added or left out."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


# A release's heading ("v 0.9", "2.1.3 (2019-04-02)", "Version 1.2:"): what follows records it.
_VERSION = re.compile(r"(?i)^\W*(?:v|version|release)?\.?\s*\d+(?:\.\d+)+[a-z\d.+~-]*"
                      r"\s*(?:\(.{0,30}\))?\W*$")
# "Since 0.4.8:", "Changes in 2.1", "New in version 3.0": what a release brought, listed below.
_SINCE = re.compile(r"(?i)^\W*(?:since|new in|changes (?:in|since|from))\s+(?:v|version|release)?"
                    r"\.?\s*\d+(?:\.\d+)+\S*\s*:?\W*$")

# A command's name in capitals, then what it does (w3m's "BACK  Close current buffer ..."); not
# an outline's keyword ("TODO Fix this list").
_COMMAND_ROW = re.compile(r"^\s*(?!(?:TODO|DONE|FIXME|XXX|NOTE|WAIT|NEXT)\b)[A-Z][A-Z0-9_]{2,}\s+"
                          r"[A-Z][a-z]")
_KEY_CHORD = re.compile(r"^\s*(?:\^[A-Z\\_\]]|M-[A-Z0-9])\s*$")
_NANO = re.compile(r"^\s*GNU nano \d")     # its title bar: its key help is under, chords or not
_TITLE_CASE = re.compile(r"^\s*(?:[A-Z][a-z]+\s+){0,2}[A-Z][a-z]+\s*$")


def todo_list_start(lines: list[str]) -> int | None:
    """Where a note's to-do list starts (None: it names none). Under a heading of its own
    ("TODO", "To do:", "TODO for 2.0"), the list is what follows it: what comes before (an
    exit-code table, a module's description) is not in it. Named elsewhere (a title bar, an
    editor's status line under the text), the whole note is the list."""
    if not is_todo_list(lines):
        return None
    heading_at = todo_heading(lines)
    return 0 if heading_at is None else heading_at


def todo_heading(lines: list[str]) -> int | None:
    """The first line that is a to-do list's heading alone ("TODO", "Things to do:"); not a
    pager's status line naming the file ("TODO (END)" under the list, in `less`)."""
    return next((i for i, l in enumerate(lines) if _TODO_HEADING.match(l) and not chrome(l)), None)


def listed_items(lines: list[str], excluded: set[int]) -> set[int]:
    """In a note that names itself a to-do list: each run of at least three short
    lines (2 to 8 words, one of four letters or more; no sentence or heading ending, no
    heading, no menu bar) as items; in a run with list marks in it, only its marked lines (the
    unmarked ones carry an entry on). Lines without words (an editor's line numbers, an icon)
    neither count nor break a run."""
    start = todo_list_start(lines)
    if start is None:
        return set()
    items: set[int] = set()
    run: list[int] = []
    for i, line in enumerate(lines + [""]):
        if i < start:
            continue
        words = _WORDS.findall(line)
        if line and not words and i < len(lines) and not _VERSION.match(line):
            continue
        short = (2 <= len(words) <= _ITEM_WORDS and max(map(len, words)) >= 4
                 and not line.rstrip().endswith((".", ":")) and heading(line) is None
                 and not chrome(line) and not names_todo_list(line) and i not in excluded)
        if short:
            run.append(i)
            continue
        if len(run) >= _BLOCK_MIN:
            # A run with list marks in it is a marked list: its marked lines are its entries,
            # an unmarked one after an entry carries it on (one before any entry is an entry
            # whose mark was lost: under an editor's cursor, say).
            first = next((k for k, j in enumerate(run) if list_marked(lines[j])), len(run))
            items.update(j for k, j in enumerate(run) if k <= first or list_marked(lines[j]))
        run = []
    # A marked item of one word ("* Documentation", "- Tests") names a whole task in a to-do
    # list; elsewhere it is a heading or a decoration (lines.task_like). A path or a file name
    # ("* SM/DECRYPT.C") names a section.
    items.update(i for i, line in enumerate(lines)
                 if i > start and i not in excluded and list_marked(line)
                 and _ONE_WORD.fullmatch(without_mark(line)))
    return items | _under_heading(lines, excluded)


# An entry as typed: a dash, star, bullet, number or box, then a word ("- fractionals 1/2");
# not OCR's reading of a screen's furniture under a "TODO" panel ("-(apts)", "o 0therCmd").
_PLAIN_ENTRY = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)]|\[[ xX]?\])\s*[^\W\d_]")


def _under_heading(lines: list[str], excluded: set[int]) -> set[int]:
    """The marked lines right under a to-do heading, up to the next heading: "# TODO:" over
    "# - fractionals 1/2 -> ½" lists that, whatever its words."""
    start = todo_heading(lines)
    found: set[int] = set()
    for i in range(start + 1 if start is not None else len(lines), len(lines)):
        if heading(lines[i]) is not None:
            break
        if i not in excluded and _PLAIN_ENTRY.match(lines[i]):
            found.add(i)
    return found


def described_lines(lines: list[str], gaps: set[int] = frozenset()) -> set[int]:
    """Lines that describe or record rather than ask: all of a changelog (named in its first
    lines, by a line that is not itself a task or a plan: "add a 'log' subcommand to see what's
    new" is an item of a TODO file, "Changes planned for 2.0" a heading of one) or of a licence;
    a document's pointers for its reader ("See INSTALL for instructions", "Report bugs to …");
    and the list under a "features:" line that does not say they are still to come (up to the
    next heading or blank line), and likewise the advice under a "Helpful notes:" or "Coding
    conventions:" line."""
    named = next((i for i, l in enumerate(lines[:_TITLE_LINES]) if CHANGELOG.search(l)
                  and _title_like(l) and not _names_a_file(l)
                  and not task_like(without_mark(l)) and not _intends(l)
                  or _RELEASED.match(l) or _PROGRAM_TITLE.match(l) or _DOC_TITLE.match(l)
                  or _releases(l, lines)),
                 None)
    licence = next((i for i, l in enumerate(lines) if _DEBIAN_ENTRY.search(l)
                    or LICENCE.search(l)), None)
    if licence is not None and licence < MAX_LINES:
        return set(range(len(lines)))
    recorded: set[int] = set()
    if named is not None:
        # "Other changes from 3.1:" then "TODO:" (a module's header comment): the changes are
        # recorded, the list after the to-do heading asks (but for what it describes itself).
        start = todo_list_start(lines)
        if start is None or start <= named:
            return set(range(len(lines)))
        recorded = set(range(start))
    described = recorded | {i for i, line in enumerate(lines) if TO_READER.search(line)}
    if licence is not None:
        # Deep in a long note (read in parts): the licence at its end, up to a to-do heading.
        after = next((i for i in range(licence, len(lines)) if _TODO_HEADING.match(lines[i])),
                     len(lines))
        described |= set(range(licence, after))
    described |= transcript_lines(lines) | release_history(lines) | answers(lines)
    return described | _described_lists(lines, gaps)


def answers(lines: list[str]) -> set[int]:
    """A question set as a heading ("## 2. Why doesn't Thunar execute files ...?", an FAQ's
    entry) and what follows it up to the next heading: an answer, however it is worded."""
    titles = {i: _MARKDOWN_TITLE.sub("", l) for i, l in enumerate(lines)
              if _MARKDOWN_TITLE.match(l)}
    # In an FAQ, an entry may be put as a cry rather than a question ("## Nothing works!").
    faq = any(_QUESTION.match(t) for t in titles.values())
    found: set[int] = set()
    inside = False
    for i in range(len(lines)):
        if (title := titles.get(i)) is not None:
            inside = bool(_QUESTION.match(title)) or faq and title.rstrip().endswith(("?", "!"))
        if inside:
            found.add(i)
    return found


def _releases(line: str, lines: list[str]) -> bool:
    """A heading that is a release's name and version alone ("### JOE 4.6", "## v2.1.0") opens
    release notes, unless the note is a to-do list or says what is planned (a roadmap's
    "## 2.0" lists work to come). A version alone ("0.5:") is left to ``release_history``."""
    return bool(_RELEASE_TITLE.match(line)) and not VERSION_ALONE.match(line) \
        and todo_list_start(lines) is None \
        and not any(_intends(l) or _PLANNED.search(l) for l in lines)


def _described_lists(lines: list[str], gaps: set[int]) -> set[int]:
    """The lists under a "features:" or advice line or a version heading (``described_lines``),
    each up to a heading, or a blank line (``gaps``: the lines after one) before a line marked
    otherwise than its entries ("69. xboard has ..." after "68k. ..."). A list whose entries
    note they are still to come ("68a. LoadGameOptions dialog (good to add)") is a plan."""
    found: list[list[int]] = []
    current: list[int] | None = None
    shape = None
    for i, line in enumerate(lines):
        if (_introduces(line) and not _intends(line)) or _SINCE.match(line) \
                or _VERSION.match(line) and not VERSION_ALONE.match(line) \
                or _RECORDS.search(line):
            current, shape = [i], None     # the line that opens it is no task either
            found.append(current)
            continue
        # A tagged line after the list ("# TODO: smoke test wheels" under "# Summary of the
        # steps:") is the writer's own task, not one of its entries.
        if current is not None and (not line.strip() or heading(line) is not None
                                    or i in gaps and _marked_otherwise(line, shape)
                                    or tagged(line)):
            current = None
        if current is not None:
            shape = shape or mark_shape(line)
            current.append(i)
    return {i for entries in found if not any(_PLANNED.search(lines[j]) for j in entries)
            for i in entries}


def _introduces(line: str) -> bool:
    """Does the line open a list that describes or advises: ``_DESCRIBES``, ``_ADVISES``,
    ``_PROCEDURE``, or a title of a few words that names advice ("** Coding standards")?"""
    title = _DECORATION.sub("", line)
    return bool(_DESCRIBES.search(line) or _ADVISES.search(line) or _PROCEDURE.search(line)
                or _API_DOC.match(line)) or (
        len(title.split()) <= _ADVICE_TITLE_WORDS and bool(_ADVICE_WORDS.search(title))
        and not re.search(r"[.!?]\W*$", title) and not task_like(title))


def _marked_otherwise(line: str, shape: str | None) -> bool:
    mark = mark_shape(line)
    return shape is not None and mark is not None and mark != shape


def _names_a_file(line: str) -> bool:
    """A list entry that is one name ("- NEWS", "- ChangeLog": files a step updates)."""
    return list_marked(line) and len(without_mark(line).split()) == 1


def _title_like(line: str) -> bool:
    """A line that can name a document: a few words, not a question. "add a 'log' subcommand to
    see what's new in a subtree?" is an item, even when OCR misreads its verb ("addl")."""
    return len(line.split()) <= _TITLE_WORDS and not line.rstrip().endswith("?")


def key_help_lines(lines: list[str]) -> set[int]:
    """On a screen with an editor's key help (three or more lone key chords: "^O", "M-U"), its
    short Title Case labels ("Write Out", "Go To Line"); and a table of a program's commands,
    three rows or more ("BACK<tab>Close current buffer and return ...")."""
    rows = {i for i, l in enumerate(lines) if _COMMAND_ROW.match(l)}
    return key_labels(lines) | (rows if len(rows) >= 3 else set())


def key_labels(lines: list[str]) -> set[int]:
    """An editor's key help's labels: short Title Case lines, on a screen with three or more
    lone key chords or nano's title bar (a dark screen's chords lost by OCR)."""
    if sum(1 for l in lines if _KEY_CHORD.match(l)) < 3 and not any(map(_NANO.match, lines)):
        return set()
    return {i for i, l in enumerate(lines) if _TITLE_CASE.match(l)}


def transcript_lines(lines: list[str]) -> set[int]:
    """The lines of quoted terminal sessions (see ``_PROMPT``): each run of lines with the
    same prompt mark, when the mark is "$" or one of its lines runs a program with an option."""
    found: set[int] = set()
    run: list[int] = []
    mark = None
    for i, line in enumerate(lines + [""]):
        prompt = _PROMPT.match(line)
        if prompt and prompt.group(1) == mark:
            run.append(i)
            continue
        if run and (mark == "$" or any(_runs_with_option(lines[j]) for j in run)):
            found.update(run)
        run, mark = ([i], prompt.group(1)) if prompt else ([], None)
    return found


def _runs_with_option(line: str) -> bool:
    command = _RUN_WITH_OPTION.match(_PROMPT.sub("", line, count=1))
    return bool(command) and not task_verb(command.group(1))
