"""Source text: the lines a todo can be quoted from, and which of them read like tasks."""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from mustelid import clean_text

from .tags import BARE_TAG, tagged

MAX_LINES = 40         # source lines shown to the model at once: ~15 prompt tokens each
# A longer note is read in parts of MAX_LINES lines (parts.py): 12 are ~480 lines, 12 calls of 2-4 s.
MAX_PARTS = 12
QUOTE_CHARS = 120      # a longer line is offered in pieces, split between words
# The model restates a line's start (``quote_head``) to point at it, not all of it (~28 tokens).
HEAD_CHARS = 32
ELLIPSIS = "…"


def squash(text: str) -> str:
    """Case- and space-insensitive form for "does this quote occur in the source?"."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def quote_head(quote: str) -> str:
    """The start of a candidate line as the model restates it: the line itself when short, else
    its first words up to ``HEAD_CHARS`` characters and an ellipsis."""
    if len(quote) <= HEAD_CHARS + 8:
        return quote
    cut = quote.rfind(" ", 0, HEAD_CHARS + 1)
    return quote[:cut if cut > HEAD_CHARS // 2 else HEAD_CHARS].rstrip() + ELLIPSIS


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


class Line(NamedTuple):
    """One shown line and what its layout said before cleaning: how far it was indented (a
    text file's continuation lines are), whether a blank or letterless line came before it,
    and whether it is a later piece of a long line split for quoting."""

    text: str
    indent: int = 0
    after_gap: bool = False
    piece: bool = False


def source_layout(raw: list[str], limit: int | None = MAX_LINES) -> list[Line]:
    """The lines shown and quoted, at most ``limit`` (None: all), with their layout. Lines without a
    letter (an editor's line numbers, a bullet or an icon read alone) say nothing and would
    push items past the cap: on a photographed editor they were half the lines; they count
    as a gap; but a release's version alone ("2.0.19:", "4.1.1 2022/09/11") heads its changes."""
    lines: list[Line] = []
    gap = False
    for line in raw:
        if not any(c.isalpha() for c in line) and not VERSION_ALONE.match(line):
            gap = True
            continue
        indent = len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())
        for n, piece in enumerate(split_long(clean_text(line))):
            lines.append(Line(piece, indent, gap and n == 0, n > 0))
        gap = False
    return lines[:limit]


def source_lines(raw: list[str]) -> list[str]:
    """The texts of ``source_layout``."""
    return [line.text for line in source_layout(raw)]


# Which lines can be a todo's quote. Code narrows the choice because Qwen 0.5B, offered every
# line, made todos of "Mail", "Inbox" and "9:41" by walking down from the top; offered the lines
# that read like tasks, it mostly only has to title them. A line qualifies if it is a list item
# (bullet, number, checkbox) that is not a "Label: value" spec, asks for something ("please",
# "can you", "don't forget"...), or starts with a common task verb.
# "*" is a mark unless it opens an emphasised word ("*writing* object files" carries on a line).
# A lone "=" before the words is a dash as OCR reads some handwriting ("= Remove the old cruft");
# "=item" and "==" are markup, not marks.
# "--prefix=/opt" is a command-line option, not an item marked with a dash.
# A number may carry a sub-item's letter ("20a. Allow side branches ..."), and a letter alone
# before ")" numbers steps too ("c) Update the files describing the new release:").
# "-c, --config file", "-C[f][n], --create": a manual's option, not an item marked with a dash.
# A dot marks items too (". quick view": lfm's TODO), as OCR reads a small bullet.
_ITEM = re.compile(r"^\s*(?:(?:-(?!-[^\W\d_])(?!\w(?:\[[^\]]*\])*,?\s)|[–—•·>+~☐☑✓✔□■]|\.(?=\s+\w)"
                   r"|\*(?!\w[^*\s]*\*)"
                   # not a version's digits ("1.2.x versions, IIRC ...")
                   r"|\(?\d{1,3}[a-z]?[.)](?!\d+\.[\dx])|\(?[A-Za-z]\)(?=\s)"
                   # "17 - Generate LaTeX": an item's number; "20141130 rename ...": its date
                   r"|\[[ xX]?\]|\d{1,4}\s+[-–]\s|(?:19|20)\d\d(?:[-/.]?\d\d){2}\s)\s*"
                   r"|o\s+|=\s+(?=\S)(?!.*=\s*$))")
_LABEL = re.compile(r"^[A-Za-z][\w ]{0,20}:\s")
_ASK = re.compile(r"\b(please|pls|plz|can you|could you|would you|will you|don'?t forget|"
                  r"remember to|make sure|need to|needs to|have to|has to|must|should|"
                  r"to-?do:|action:|reminder:|fix-?me:|xxx:)", re.I)
# Words before the verb that do not change what is asked: a joiner, a politeness, or a hedge
# ("Maybe switch to ...", "Perhaps add ..."): a hedged task is still a task, of low priority.
_LEAD = re.compile(r"^(?:(?:and|also|then|so|ok|okay|pls|please|maybe|perhaps|possibly|"
                   r"probably|eventually|ideally|optionally|someday)\b[\s,]*)+", re.I)
_VERBS = set("""add answer apply arrange ask back bake book bring buy call cancel change charge
check clean clear close collect confirm contact cook create deliver deploy do drop email
e-mail file fill find finish fix follow get give go hand invite install keep learn leave make
meet move order organise organize pack paint pay phone pick plan post prepare print publish
put read register remind remove renew repair replace reply reserve return review ring run
schedule see sell send set share sign sort start submit take talk tell test text tidy top
transfer update upload visit walk wash water write""".split())
# Verbs of work on software and documents, where TODO files start their items ("ls: add ...",
# "Integrate use of sendfile", "Support of DES"): issue 12 saw items never offered because
# their verb was missing from the everyday list above.
_VERBS |= set("""address allow adapt audit avoid benchmark build cache catch clarify compile
consider convert debug define design detect disable document enable ensure explain export
expose extend fetch filter generalise generalize handle implement import improve integrate
investigate limit list load log merge migrate optimise optimize parse patch port provide reduce
refactor rename reject release report require rethink revisit rework rewrite reuse save scan
search separate show simplify skip split store support switch teach track translate try tweak
unify upgrade use validate verify warn wrap""".split())
# More verbs of the same work that the lists above lacked (session 14: "include #12008 end of
# February", "CI: include ..." in a TODO file were never offered). General vocabulary, not words
# of one note: each is a common first word of an item in software TODO files and issue titles.
_VERBS |= set("""include insert introduce mention prevent print process reorganise reorganize
resolve restore retry revert sanitise sanitize sync trim turn""".split())
# Session 22 (notes-fresh7: "Revise everything about explodes." never counted as a task): more
# verbs of revision work, each a common first word of items in TODO files.
_VERBS |= set("""revise rephrase reword correct modify cleanup polish finalise finalize
streamline harmonise harmonize standardise standardize""".split())
# Screen furniture of a photographed editor or terminal, never a task: key help ("^O Write Out",
# "M-U Undo"), a status message in brackets ("[ Read 15 lines ]"), a menu bar (four or more
# capitalised words and nothing else: "File Edit Options Buffers Tools Help"; from "File Edit"
# on, whatever bar OCR joined to it or "File Edit" alone when it lost the rest; a menu's name may
# join words by a hyphen: "Emacs-Lisp"), a pager's status line ("notes.txt (END)", "--More--").
_MENU = r"[A-Z][a-z]+(?:-[A-Z][a-z]+)?"
MENU_BAR = re.compile(rf"^\s*(?:{_MENU}\s+){{3,}}{_MENU}\s*$")
_CHROME = re.compile(r"(?:^|\s)(?:\^|M-)[A-Z\\_]\b|^\s*\[.*\]\s*$"
                     r"|^[^\[\]]{1,40}\s\]\s*$|^\s*\[\s[^\[\]]{1,40}$"   # one bracket lost by OCR
                     r"|" + MENU_BAR.pattern + rf"|^\s*File\s+Edit(?:(?:\s+{_MENU}){{2,}}\s|\s*$)"
                     r"|\(END\)\s*$|^\s*--\s?More\s?--|^\s*(?:\S+\s+)?lines \d+-\d+/\d+"
                     # an editor's settings for the file: "-*- mode: indented-text -*-", "vim: set"
                     r"|-\*-.*-\*-|(?:^|\s)(?:vim?|ex):\s*set?\s"
                     # Emacs's mode line ("-UU-:----F1  x.tcl", "Top L12"), title ("x - GNU Emacs at vm")
                     r"|^\s*-?[-A-Z%*@]{2,3}[-:][-:%*@]{1,5}\s*F\d+\b|\s-\sGNU Emacs at\s\S+\s*$"
                     r"|^\s*(?:All|Top|Bot|\d{1,3}%)\s+L\d+\b")
# A release's number alone on its line, perhaps with its date: a heading of release notes.
VERSION_ALONE = re.compile(r"^\s*\d+(?:\.\d+)+:?(?:\s+(?:19|20)\d\d([-/.])\d{1,2}\1\d{1,2})?\s*$")
_WHERE = re.compile(r"^[A-Za-z][\w .\-/]{0,30}:\s")      # "copy.c: ", "ls: ", "Docs: "
_WORD = re.compile(r"[^\W\d_]{2,}")
_GLUED = re.compile(r"^([^\W\d_]{2,})(?=--|=)")
RECORD = re.compile(r"(?:fixed|added|changed|removed|improved|updated|renamed|replaced|moved|"
                     r"dropped|bumped|merged|reworked|rewrote|rewritten|cleaned|deprecated|"
                     r"bugfix|implemented|switched|converted|corrected|refactored|upgraded|"
                     r"downgraded|disallowed|enabled|disabled|introduced|reduced|optimi[sz]ed|"
                     r"simplified|documented|ported|restored|reverted)\b", re.I)
NOW = re.compile(r"\b(?:will|can|does|do|is|are) now\b", re.I)
# A change told as made, in the perfect passive ("Error messages ... have been cleaned up", "the
# internal methods have been marked private"); not what was asked or seen ("has been requested",
# "has been reported to crash"), which is still to do.
MADE = re.compile(r"\b(?:was|were) (?:added|removed|fixed|changed|improved|dropped|"
                   r"implemented|introduced|updated|deprecated|renamed|rewritten|made|enabled|"
                   r"disabled)\b|\b(?:has|have) been (?!(?:requested|suggested|proposed|reported|asked|"
                   r"discussed|mentioned|noted|wanted|needed|planned|considered|seen|observed|"
                   r"noticed)\b)(?:\w+ed|made|done|rewritten|written)\b", re.I)
_BRACKETED = re.compile(r"\([^()]*\)")
UNTICKED = re.compile(r"^\s*(?:[-*+]\s*)?\[ \]")
_NEGATIVE = re.compile(r"^(?:don'?t|do not|never|stop)\s+\w", re.I)


def chrome(line: str) -> bool:
    """Screen furniture (see ``_CHROME``)."""
    return bool(_CHROME.search(line))


def list_marked(line: str) -> bool:
    return bool(_ITEM.match(line))


def mark_shape(line: str) -> str | None:
    """The form of the line's list mark, its digits and letters generalised ("68a. " -> "9a.",
    "* " -> "*"); None when it has none."""
    item = _ITEM.match(line)
    if not item:
        return None
    return re.sub(r"[A-Za-z]", "a", re.sub(r"\d+", "9", item.group(0).strip()))


def without_mark(line: str) -> str:
    """The line's words without its list mark ("* Code cleanliness" -> "Code cleanliness")."""
    item = _ITEM.match(line)
    return (line[item.end():] if item else line).strip()


def asks(line: str) -> bool:
    """Does the line ask in words ("please", "should", "need to", "TODO:"), verb or no verb?"""
    return bool(_ASK.search(line)) or tagged(line)


_AGAIN = re.compile(r"^(?:re|un)(?=[a-z]{3})")    # "rebuild", "uninstall" (any "re-" word is one)


def task_verb(word: str) -> bool:
    """Is ``word`` one a task starts with ("fix", "add", "call")? A verb done again or undone
    is one too ("re-run", "rebuild", "unset"); after "re-", any word: "re-index" is work to
    redo, whatever "index" is alone."""
    word = word.lower()
    if word in _VERBS or word.startswith("re-") and len(word) > 5:
        return True
    again = _AGAIN.match(word)
    return bool(again) and word[again.end():] in _VERBS


def task_like(line: str) -> bool:
    """Could this line state something to do? (see the comment above)"""
    if _CHROME.search(line):
        return False
    item = _ITEM.match(line)
    rest = line[item.end():] if item else line
    # A space OCR lost after the verb ("Fix--directories=read.").
    rest = _GLUED.sub(r"\1 ", rest.lstrip())
    # A record of a change made ("Fixed parsing of ...", "Added --foo", "Bugfix: ... should be
    # #if"): a changelog's or a release note's line, however it is marked or worded after.
    if RECORD.match(rest.lstrip("#*+>-–—:;.?! ")):
        return False
    if asks(line):
        return True
    # An item of one word or none ("* SM/DECRYPT.C", "- Design", a row of asterisks) is a
    # heading or a decoration: a task says what to do to what.
    if sum(1 for w in rest.split() if _WORD.search(w)) < 2:
        return False
    # What a release changed, told in the present ("GNU make will now use posix_spawn()") or as
    # made ("... have been cleaned up"); a question about it still asks.
    # Not an unticked box ("- [ ] Appropriate docs were updated"), nor an order ("Check if
    # the archive was changed"), nor what a remark in brackets says.
    told = _BRACKETED.sub("", rest)
    made = MADE.search(told)
    made_last = made is not None and not told[made.end():].strip(" .;")   # "... was added."
    first = told.split()[:1]
    ordered = bool(first) and task_verb(first[0]) and not made_last
    if not UNTICKED.match(line) and not ordered and (NOW.search(told) or made) \
            and not rest.rstrip().endswith("?"):
        return False
    if item and not _LABEL.match(rest):
        return True
    # "component: do something" (a TODO file's way): the label names where, the rest what.
    # A programmer's tag without a colon ("XXX handle auth-int.") is the same kind of label.
    # A tag over a list ("TODO - list of things to do for libpng:") is the list's heading.
    untagged = BARE_TAG.sub("", rest.lstrip())
    if untagged != rest.lstrip() and untagged.rstrip().endswith(":"):
        return False
    rest = untagged
    label = _WHERE.match(rest)
    if label:
        rest = rest[label.end():]
    if _NEGATIVE.match(rest):
        return True
    # Two words at least: a lone "Reply", "Cancel" or "DO" (initials) is a button or a label.
    # Marks OCR misread ("#** ADD ...") before the verb.
    # A "?" or "!" set before an item as its mark ("? Apply added capability ...").
    words = _LEAD.sub("", rest.lstrip("#*+>-–—:;.?! ")).split()
    # "merge, publish, distribute": a verb followed by a comma lists what one may do.
    return len(words) >= 2 and not words[0].endswith(",") \
        and task_verb(words[0].strip(".,:;!"))


# A code comment's tags too ("FIXME: if this is the last component ..."): the tag says the line
# asks, the words after it are the task (OCR reads TODO's O as a zero).
# A tag may carry its kind after a hyphen ("ToDO-OPT No need to copy ...": an optimisation).
_TODO_TAG = re.compile(r"^(?:(?:to-?d[o0]|fixme|xxx)-(?-i:[A-Z]{2,})\b\s*[:\-–]?\s*"
                       r"|(?:to-?d[o0]|fixme|xxx|tbd|action|reminder)\s*[:\-–]\s*)", re.I)
TITLE_CHARS = 80


def title_of(quote: str) -> str:
    """A todo's title: its line as written, without the list mark or a "TODO:" tag, the first
    letter up, cut between words to ``TITLE_CHARS``. Why not the model's words: Qwen 0.5B
    titled "** IMPLEMENT --DEFAULT-KEY" "Default Key" and spent most of a note's time (about
    20 tokens a todo) writing titles; the line is what the person wrote."""
    text = quote
    for _ in range(3):                 # "- [ ] 2) ...": marks can stack
        item = _ITEM.match(text)
        if not item or not item.end():
            break
        text = text[item.end():]
    text = _TODO_TAG.sub("", " ".join(text.split())).rstrip(" .;,") or " ".join(quote.split())
    if len(text) > TITLE_CHARS:
        cut = text[:TITLE_CHARS - 1].rsplit(" ", 1)[0] or text[:TITLE_CHARS - 1]
        text = cut.rstrip(" .;,") + "…"
    return text[:1].upper() + text[1:]


# Items the text itself marks as finished never become todos. Marks people and TODO files use:
# a ticked box, a DONE tag (upper case: "done" in prose is often part of a task, "check that the
# mapping is done"), "(done ...)", "Done:" leading the line, a struck-through item; and sections
# whose heading says they are done ("DONE" in a banner, "Implemented features:", "Completed").
# A list mark may come first ("- Done: the login page"), and a lone "x " before the words is
# todo.txt's mark of a finished task ("x 2026-12-01 call the bank"), an x in the margin.
_TICKED = re.compile(r"^\s*(?:[-*+•]\s*)?(?:\[[xX✓✔]\]|[☑✓✔✅]|x\s+[\w(])")
_DONE_TAG = re.compile(r"\bDONE\b|\((?i:done)\b[^)]*\)|\[(?i:done)\b[^\]]*\]"  # OCR: "(DoNE:"
                       r"|^\s*(?:[-*+•>]+\s*)?(?:Done|done)(?:\s*[:\-–]|\s+for\s+the\b)"
                       # "[done]" opening the line, its brackets misread ("= [『done] void type")
                       r"|^\W{0,4}(?:done|Done)\s*[\]〗」】)]"
                       # struck through, whatever follows ("~~Import CSV~~ - `done`")
                       r"|^\s*(?:[-*+•]\s*)?~~.+~~"
                       # a status after a dash at the end: "Faster build - done", "- `done`"
                       r"|\s[-–—]\s*[`*_]*(?:done|Done)[`*_]*\W*$")
_DONE_SUFFIX = re.compile(r"[-–:(\[]\s*DONE\W*$")      # "FIX LOGIN - DONE", "... (DONE)"
# In capitals, a DONE that ends the line after a word that is not a verb of being or getting
# (or a "not yet", "half") is a status: "REJECT FIRST, LATTER DONE", "(SEEMS DONE)"; while
# "MAPPING IS DONE", "GET IT DONE", "NOT DONE" stay to do.
_DONE_LAST = re.compile(
    r"^(?!.*\b(?:GET|GETS|GOT|GETTING|HAVE|HAS|HAD)\b)"                 # "GET THE RELEASE DONE"
    r".*\b(?!(?:IS|ARE|BE|BEEN|BEING|WAS|WERE|NOT|YET|NEVER|ALMOST|NEARLY|HALF|PARTLY"
    r"|PARTIALLY|MOSTLY|STILL)\b)[A-Z0-9]+\W*\s+DONE\W*$")
# A section of changes made ("* CHANGES" under "* BUGS & TODO'S") records them, as a done one.
DONE_HEADING = re.compile(r"^(?:done|completed?|finished|fixed|resolved|closed|implemented"
                           r"(?: features| items)?|already done|(?:recent )?changes|change ?log)$",
                           re.I)
# A to-do heading ends a done section, whatever its level ('" Changes' over '" TODO:').
_TODO_WORDS = re.compile(r"(?i)^t[o0][\s-]?d[o0]s?$")
_DECORATION = re.compile(r"^[\W_]+|[\W_]+$")
# An outline's item that names a done section ("* done" over "** Make such an M-text ...", "-
# Completed:" over indented items): what it holds, up to its next sibling, is done.
_MARKED = re.compile(r"^(\s*[-*+•]\s+)(.+)$")


def heading(line: str) -> tuple[str, str] | None:
    """("major" | "minor", its words) when the line is a heading, else None. Major: words set
    off by decoration (``*  DONE  *``, ``## Done``, ``=== Fixed ===``) or a short upper-case line;
    minor: a short line ending with a colon (``Sorting:``)."""
    stripped = line.strip()
    if stripped.startswith("(") and stripped.endswith(")"):
        return None           # a remark in brackets ("(DONE)" under a wrapped item), no heading
    if UNTICKED.match(stripped) or _TICKED.match(stripped):
        return None           # a box, ticked or not, is an item ("- [x] `Xarray dev call`")
    core = _DECORATION.sub("", stripped)
    words = core.split()
    if not words or len(words) > 5:
        return None
    # A list item's closing bracket frames nothing ("- Reword messages [mostly done]").
    framed = not stripped[0].isalnum() and not stripped[-1].isalnum() \
        and stripped[-1] not in ".,;:)?!`" and stripped != core and "~~" not in stripped \
        and not (stripped[-1] == "]" and stripped[0] != "[") \
        and not (stripped[-1] == "-" and stripped[-2:-1].isalnum())   # "WRITE-/PIPE-": a cut word
    if framed or stripped.startswith("#"):
        return "major", core
    if _ITEM.match(stripped):
        return None
    if stripped.endswith(":") and stripped[:-1].strip() == core:
        return "minor", core
    if core.isupper() and len(words) <= 3 and core == stripped:
        return "major", core
    if len(words) <= 3 and DONE_HEADING.match(core):      # "Implemented features" alone
        return "major", core
    return None


def _wrapped_tail(lines: list[str], i: int) -> bool:
    """Line ``i`` ends the sentence of the line before, wrapped ("Items marked with + are
    partially / implemented."): in lower case after a line that stops mid-sentence."""
    return i > 0 and lines[i].lstrip()[:1].islower() and bool(lines[i - 1].strip()) \
        and not re.search(r"[.!?:;]\W*$", lines[i - 1].rstrip())


def done_lines(lines: list[str], indents: list[int] | None = None) -> set[int]:
    """Indexes of the lines the text marks as finished (see above). A done section opened by a
    major heading runs to the next major heading; one opened by a minor heading or an item, to
    the next heading of either kind (or the item's next sibling). With the lines' ``indents``
    (a layout's), a "DONE" alone indented under a list item is that item's remark, not a
    section's heading (notes-fresh32: a TODO file's "• ... compiles cleanly" over "    DONE"
    took the two items after it with it)."""
    done: set[int] = set()
    section: str | None = None        # the level of the heading that opened a done section
    sibling = ""                      # or the mark of the item that did
    item_indent: int | None = None    # the indent of the last list-marked line
    for i, line in enumerate(lines):
        found, item = heading(line), _MARKED.match(line)
        if indents is not None and list_marked(line):
            item_indent = indents[i]
        if found is not None and indents is not None and item_indent is not None \
                and indents[i] > item_indent and DONE_HEADING.match(found[1]):
            done.add(i)               # the item's remark: items.py finishes the item with it
            continue
        if section == "item" and item and item.group(1) == sibling:
            section = None
        if found is None and item and DONE_HEADING.match(_DECORATION.sub("", item.group(2))):
            section, sibling = "item", item.group(1)
            continue
        if found is not None:
            level, words = found
            if DONE_HEADING.match(words) and not _wrapped_tail(lines, i):
                section = level
                continue
            if section in ("minor", "item") or level == "major" or _TODO_WORDS.match(words):
                section = None
            if section is None:
                continue
        # In a line all in capitals (a shouted TODO file, OCR of small caps) DONE is a word:
        # "CHECK THAT ALL ERROR CODE MAPPING IS DONE." is still to do.
        tagged = _DONE_TAG.search(line) if not line.isupper() else (
            _DONE_TAG.search(line.lower()) or _DONE_SUFFIX.search(line)
            or _DONE_LAST.search(line))
        if section is not None or _TICKED.match(line) or tagged:
            done.add(i)
    return done
