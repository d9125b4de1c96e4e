"""Which lines the model reviews: a note's items, not only the lines that start with a known verb.

A note is read as a sequence of items. An item starts at a list mark, after a blank line, a
heading or a line that ends a sentence; a line that only carries on the one before it (the
line before stops mid-phrase, on "a", "of", "and" or a comma; or it is indented under it; or
it starts in lower case under a marked item) is that item's continuation and is joined to it,
so that the model judges "Support of DES & other security part", not "security part".

Candidates, in order of how likely they are to be tasks (the review has a token budget, so the
cap keeps the likeliest and the rest are dropped):

1. items that read like tasks by themselves (``lines.task_like``: a list mark, a request, a
   task verb);
2. items of a note that names itself a to-do list (``context.listed_items``: its unmarked
   short lines);
3. the other short items of a note whose items mostly read like tasks: in a TODO file a line
   like "Lazy dynamic linking of the PCRE library." or "rpcgen command missing" is an item
   like its neighbours even though no verb says so.

A section's title written like an item ("* Code cleanliness" over its nested items) is none
of these (``section_titles``). The model then decides, line by line, which are todos. A description, a changelog or a
features list has no task-like items, so rule 3 adds nothing there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .context import todo_heading
from .lines import (QUOTE_CHARS, Line, asks, chrome, heading, list_marked, task_like, task_verb,
                    without_mark)
from .tags import BARE_TAG, tagged
from .todo_names import names_todo_list

_WORD = re.compile(r"[^\W\d_]{2,}")
_SENTENCE_END = re.compile(r"[.!?:;]['\")\]]*$")
# The words after which the next one belongs to a noun phrase, not a verb: an article, a
# preposition, a determiner.
_NOUN_OPENERS = (r"a|an|the|of|for|in|on|at|by|with|from|into|onto|over|under|about|between|this|"
                 r"these|those|its|their|our|your|my|his|her|each|every|some|any|such|other|"
                 r"another|via|per")
_BEFORE_NOUN = re.compile(r"(?:^|\s)(?:" + _NOUN_OPENERS + r")$", re.I)
# A line that stops where a phrase cannot: on one of those, a conjunction or an auxiliary, or
# on a comma, an ampersand or an open bracket. What follows is the rest of the same sentence.
_MODAL_END = re.compile(r"(?i)\b(?:should|must|may|might|could|would|will|shall|can|'ll|"
                        r"(?:need|needs|have|has|ought|want|wants) to)$")
_CUT = re.compile(r"(?:^|\s)(?:" + _NOUN_OPENERS + r"|to|and|or|nor|but|than|as|that|which|who|"
                  r"whose|if|is|are|was|were|be|been|has|have|had|can|could|will|would|should|"
                  r"must|may|might|not|like|e\.g\.|i\.e\.|cannot|(?:can|won|don|doesn|didn|isn|"
                  r"aren|shouldn|mustn|couldn|wouldn)['’]t)$"
                  r"|[,&+(\[{/]$", re.I)
# A line opening on a conjunction in lower case carries on the sentence the line above left
# without an end, whatever the note's width: no entry starts "and ...".
_JOINED = re.compile(r"^\s*(?:and|or|but|nor)\s+\S")
_MARKDOWN_HEADING = re.compile(r"^\s*#{2,6}\s+\S")
# A banner: words between runs of the same mark ("** Requested Features **", "== Bugs ==").
# Not one that starts with a task's verb: "*** CALL MUM ***" is a task shouted.
_BANNER = re.compile(r"^\s*([*=#~+-])\1+\s+(\S+).*\S\s+\1{2,}\s*$")
# A section's way of saying it is empty ("BUGS" / "None noted"): nothing to do.
_NOTHING = re.compile(r"(?i)^\W*(?:none(?:\s+(?:noted|known|yet|so far|at the moment))?|"
                      r"nothing(?:\s+yet)?|n/a|no known (?:bugs|issues|problems))\W*$")
# A status alone, as a to-do file's legend names its marks ("- not yet", "+ partialy done",
# "^ partially implemented"): what a mark means, no task.
_STATUS = re.compile(r"(?i)^\W*(?:(?:not|partial+y|partly|fully|half|already)\s+)*(?:implemented|"
                     r"done|finished|started|tested|fixed|working|supported|yet|in progress)\W*$")
_REMARK = re.compile(r"^\s*\([^()]*(?:\([^()]*\)[^()]*)*\)\W*$")    # a line in brackets
_WRAP_MIN = 60           # a note this wide can hold wrapped prose ...
_WRAPPED = 0.8           # ... and a line this close to its width was wrapped there
# A reference, not an entry: a link target (".. _Lua: http://lua.org/", "[docs]: https://..."),
# a link alone in markup ("* `Try Hy with a web console <http://hylang.org/try-hy>`__", "[Home]
# (https://...)") or a name of two or three words over its address ("* Code: https://...").
_URL = r"(?:https?://|www\.)"
_REFERENCE = re.compile(r"(?i)^\W*(?:\.\.\s+_[^:]{1,60}:|\[[^\]]{1,60}\]:)\s*\S"
                        rf"|^\W*`[^`<]{{1,80}}<{_URL}[^>]+>`_{{0,2}}\W*$"
                        rf"|^\W*\[[^\]]{{1,80}}\]\({_URL}[^)]+\)\W*$"
                        rf"|^\W*(?:[^\W\d_][\w-]*\s+){{0,2}}[^\W\d_][\w-]*:\s+{_URL}\S+\s*$")
# A link or a mail address alone ("wmaker-dev@lists.windowmaker.org" under "feel free to mail
# them to:"): where to read or write, no entry.
_LINK_ONLY = re.compile(rf"(?i)^\W*(?:{_URL}\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+\W*)\s*$")
_SECTION = re.compile(r"^\s*(\d{1,3})\.\s")       # "2. libcurl - multi interface"
_SUBSECTION = re.compile(r"^\s*\d{1,3}\.\d{1,3}\b")  # "2.1 More non-blocking"
SHORT_WORDS = 10         # an item of more words is a sentence of prose, not a list entry
_SIBLINGS_MIN = 2        # task-like items a note needs before its other items count (rule 3)
_SIBLINGS_SHARE = 1 / 3  # ... and the share of its short items they must make
_TITLE_WORDS = 4         # a section title names a topic in a few words
_LIST_TITLE_WORDS = 8    # a list's own title ("LIST OF IDEAS AND TODO ITEMS FOR BABEL")


@dataclass
class Item:
    """One item: the indexes of its lines and the text quoted for it (its lines joined, or its
    first line when the whole would not fit in a quote)."""

    lines: list[int] = field(default_factory=list)
    quote: str = ""
    marked: bool = False
    text: str = ""          # all its lines joined


def _short(text: str) -> bool:
    """A list entry's length: two to ``SHORT_WORDS`` words, one of them of four letters or more
    (OCR's debris, "OV H H DS", is not an entry; "SM/DECRYPT.C" is one word, a heading)."""
    words = [w for w in text.split() if _WORD.search(w)]
    return 2 <= len(words) <= SHORT_WORDS and any(len(m) >= 4 for w in words
                                                  for m in _WORD.findall(w))


def continues(prev: Line, line: Line, item_marked: bool, item_indent: int,
              width: int = 0) -> bool:
    """Does ``line`` carry on the item whose last line is ``prev``? ``width``: the note's
    longest line, to tell prose wrapped at it from short entries."""
    if line.piece:
        return True
    if line.after_gap or list_marked(line.text):
        return False
    if line.indent > item_indent:      # a text file's hanging indent, even after a full stop
        # unless the line starts a task of its own where the one above stopped whole ("•
        # Rework the vendor dialog" over "Disable Undo if ...": OCR lost the bullet)
        return not (_starts_task(line.text) and not _CUT.search(prev.text))
    if _REMARK.match(line.text):       # "(Suggested by Brad.)" under an item: its remark
        return True
    if _SENTENCE_END.search(prev.text):
        return False
    if _CUT.search(prev.text):
        return True
    if _JOINED.match(line.text):       # "submit the patch that implements X" / "and Y in Z"
        return True
    first = line.text.lstrip()[:1]
    # A paragraph wrapped at the note's width carries on in lower case ("... PDP-10 line of
    # computers.  Dumb" / "works.  Full-screen support needed."); short lines in lower case
    # are entries of their own ("book the flights" / "call the bank").
    wrapped = width >= _WRAP_MIN and len(prev.text) >= _WRAPPED * width \
        and not task_verb(line.text.split()[0])     # "support singularities?": an entry
    return (item_marked or wrapped) and (first.islower() or first in "([")


def _starts_task(text: str) -> bool:
    words = text.split()
    return bool(words) and words[0][:1].isupper() and task_verb(words[0]) and len(words) >= 3


def items(lines: list[Line], excluded: set[int], done: set[int] = frozenset()) -> list[Item]:
    """The note's items in order. Excluded lines (done, descriptive, screen furniture),
    headings and chrome belong to no item and end the one before them. A done remark under
    an item ("- Config files editable outside the dialog." over "(Randall Hopper) DONE")
    finishes that whole item: the mark is the item's."""
    found: list[Item] = []
    current: Item | None = None
    width = max((len(line.text) for line in lines), default=0)
    for i, line in enumerate(lines):
        if not _WORD.search(line.text):   # OCR's debris ("头", "e"): neither item nor break
            continue
        # A heading that reads like a task by itself ("#** ADD A FIELD" as OCR reads a
        # marked item) is still an item; "Fix bugs:" introduces the items below it.
        # A Markdown heading ("## Release day") is a heading even when it reads as a task,
        # but not a tag's comment ("### FIXME: Implement ..." in Python).
        if i in excluded or chrome(line.text) or _NOTHING.match(line.text) \
                or _STATUS.match(line.text) or _REFERENCE.match(line.text) \
                or _MARKDOWN_HEADING.match(line.text) and not tagged(line.text) \
                or _banner(line.text) or (
                heading(line.text) is not None and not _refers(lines, i) and (
                line.text.rstrip().endswith(":") or not task_like(line.text))):
            if i in done and current is not None and _carries_on(current, line, lines):
                found.remove(current)
            current = None
            continue
        if _LINK_ONLY.match(line.text):     # a link alone: the item above's reference, no item
            if current is not None:
                current.lines.append(i)
            continue
        if current is not None and continues(lines[current.lines[-1]], line, current.marked,
                                             lines[current.lines[0]].indent, width):
            current.lines.append(i)
            continue
        current = Item([i], marked=list_marked(line.text))
        found.append(current)
    for item in found:
        item.text = " ".join(lines[i].text for i in item.lines)
        item.quote = item.text if len(item.text) <= QUOTE_CHARS else lines[item.lines[0]].text
    return found


def _refers(lines: list[Line], i: int) -> bool:
    """A tagged line ending in a colon over a link alone ("# TODO: implement power series:" /
    "# http://eprints..."): the colon points at the reference, not at a list; an item."""
    return bool(BARE_TAG.match(lines[i].text.lstrip(" #/;*-"))) and i + 1 < len(lines) \
        and bool(_LINK_ONLY.match(lines[i + 1].text))


def _carries_on(item: Item, line: Line, lines: list[Line]) -> bool:
    """Is the done line ``line`` part of ``item``: a bracketed remark under a marked item
    ("- Config files editable outside the dialog." / "(Randall Hopper) DONE") or a "DONE"
    alone indented under it, or the rest of
    a phrase the item's last line leaves open (on "to", a comma, an open bracket)? Not any
    line that ``continues`` would join: OCR loses marks, and "insert ... into sys.path DONE"
    under "- more object inspection ... array items" is an item of its own."""
    if line.after_gap or list_marked(line.text):
        return False
    prev = lines[item.lines[-1]].text
    # A "DONE" alone, indented under a marked item's first line, is its remark.
    remark = heading(line.text) is not None and line.indent > lines[item.lines[0]].indent
    return (item.marked and (line.text.lstrip()[:1] in "([" or remark)) \
        or bool(_CUT.search(prev)) or prev.count("(") > prev.count(")")


def candidates(lines: list[Line], excluded: set[int], listed: set[int],
               limit: int, done: set[int] = frozenset()) -> list[str]:
    """The quotes the model reviews, at most ``limit``, in the note's order; when there are
    more, the likeliest kinds (see the module's docstring) are kept."""
    return kept(ranked(lines, excluded, listed, done), limit)


def kept(found: list[tuple[int, int, str]], limit: int) -> list[str]:
    """The quotes of ``ranked`` items that the review takes: the ``limit`` likeliest, in the
    note's order. The same words on two lines are two items ("# TODO Not implemented" in two
    functions); one line offered twice is one."""
    likeliest = list(dict.fromkeys((first, quote) for _, first, quote in sorted(found)))[:limit]
    return [quote for _, quote in sorted(likeliest)]


def ranked(lines: list[Line], excluded: set[int], listed: set[int],
           done: set[int] = frozenset()) -> list[tuple[int, int, str]]:
    """Every item that may be a task, as ``(rank, first line, quote)``: rank 0 reads like a
    task, 1 is a to-do list's entry, 2 a short item among tasks (the module's docstring)."""
    found = items(lines, excluded, done)
    titles = section_titles(found, lines)
    tasks = [n for n, it in enumerate(found) if n not in titles and (
        task_like(it.quote) or any(task_like(lines[i].text) for i in it.lines))]
    siblings = _siblings(found, tasks)
    start = todo_heading([line.text for line in lines])
    contents = _contents(found, lines)
    out: list[tuple[int, int, str]] = []      # (rank, first line, quote)
    for n, it in enumerate(found):
        first = it.lines[0]
        if n in titles or n in contents or first == start or _before_list(it, start) \
                or n == 0 and len(found) > 1 and _list_title(it.quote):
            continue     # the list's own heading ("-- TODO for IceWM."), what the note describes
        if task_like(it.quote):
            out.append((0, first, it.quote))
        # A to-do list's entries are short lines; a run of them that the reader joined into
        # a long sentence is prose wrapped to the note's width, not entries.
        elif first in listed and len(it.text.split()) <= SHORT_WORDS:
            out.append((1, first, it.quote))
        # Under a to-do list's heading, an item that is one short line on its own ("More
        # tests.", "Paragraph mode?", a blank line before and after) is an entry of it; a date
        # or a key's label there ("December 6, 2026", "k Up") is a calendar's or a screen's
        # cell. (Named only in a title bar, the note may be a window whose status lines stand
        # alone too: not there.)
        elif start is not None and first > start and _alone(lines, first) \
                and 2 <= len(_WORD.findall(it.text)) and len(it.text.split()) <= SHORT_WORDS \
                and heading(it.text) is None:
            out.append((1, first, it.quote))
        # Right under a to-do heading alone ("// TODO:" over a paragraph of comment), the
        # paragraph is what the heading asks: its first line is offered, whatever its words.
        elif start is not None and first == start + 1 and not lines[first].after_gap \
                and heading(it.text) is None and len(_WORD.findall(it.text)) >= 3:
            out.append((1, first, it.quote))
        elif n in siblings:
            out.append((2, first, it.quote))
        # An item too long to quote whole is offered by its first line (above). When that line
        # does not read like a task, a later line that does may be where the item asks
        # ("GNU grep did 32-bit arithmetic. ... / this conversion ... should be checked."): it
        # is offered too. Under a first line that is a task, a later one is the same task
        # ("* The option is deprecated, / as of 1.2. Warnings should be added"): offered, it
        # became a second todo for one item.
        # A later line whose first word finishes a noun phrase the line above left open (on an
        # article, a preposition, a determiner) reads as a task only by asking: "... or that
        # scans the / file once, will have a cache hit rate of zero" is no "file" task. After a
        # modal the verb is the ask ("... Should / detect this situation").
        if len(it.lines) > 1 and it.quote == lines[first].text and not task_like(it.quote):
            out += [(0, i, lines[i].text) for i in it.lines[1:]
                       if not lines[i].piece and task_like(lines[i].text)
                       and _asks_there(lines[i - 1].text, lines[i].text)]
    return out


def _asks_there(prev: str, text: str) -> bool:
    """Is a later line of an item where it asks? It asks in words, or its verb follows a modal
    the line above ends on ("... Should / detect this situation"), or it starts a phrase of its
    own: not in lower case in the middle of a sentence ("It tells debconf where to / store
    data.", "`make install' will build and / install xmahjongg": the verb is the sentence's,
    not an order), nor after an article or a preposition ("... that scans the / file once")."""
    if asks(text) or _MODAL_END.search(prev):
        return True
    mid = text.lstrip()[:1].islower() and not _SENTENCE_END.search(prev)
    return not mid and not _BEFORE_NOUN.search(prev)


def _banner(text: str) -> bool:
    found = _BANNER.match(text)
    return bool(found) and not task_verb(found.group(2))


def _contents(found: list[Item], lines: list[Line]) -> set[int]:
    """A table of contents: the entries whose words are a heading's further down ("-> Running
    saned from inetd" over "## Running saned from inetd"): the document's sections, no tasks."""
    heads = {_words(without_mark(line.text.lstrip("#"))) for line in lines
             if _MARKDOWN_HEADING.match(line.text)}
    return {n for n, it in enumerate(found) if it.marked and _words(without_mark(it.text)) in heads}


def _words(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _list_title(text: str) -> bool:
    """A note's first item that names the list and says nothing more ("LIST OF IDEAS AND TODO
    ITEMS FOR BABEL", "GLHACK TODO"): its title. Not a tag before a task ("TODO: fix it"), nor
    a name with what to do after a colon or a dash ("Todo - call mum"), nor a sentence that
    mentions the tag ("Look out for TODO-Directives in the sources (grep TODO src/*)")."""
    return names_todo_list(text) and not tagged(text) and not asks(text) \
        and not re.search(r":|\s[-–—]\s", text) and len(text.split()) <= _LIST_TITLE_WORDS


def _before_list(item: Item, start: int | None) -> bool:
    """Above a to-do heading, an item that does not ask in words ("please", "should",
    "TODO:"): the heading says where the note's list is, and what comes before it describes
    ("- needs a language pair" in a "Differences with BART:" list over "TODO:") or instructs
    ("3. Upload the generated distribution archives:" in a README over "## TODO")."""
    return start is not None and item.lines[0] < start and not asks(item.quote)


def _alone(lines: list[Line], i: int) -> bool:
    """Line ``i`` is a paragraph of its own: a blank line before it and after it."""
    return lines[i].after_gap and (i + 1 == len(lines) or lines[i + 1].after_gap)


def _siblings(found: list[Item], tasks: list[int]) -> set[int]:
    """Rule 3: in a note whose items mostly read like tasks, the other short items of the same
    list: marked like most of the task-like ones, and between the first and the last of them
    (one item either side). A window's title and status lines around a marked list, or the
    note's own title ("TODO for ..."), are not in it."""
    short = [n for n, it in enumerate(found) if _short(it.text)]
    if len(tasks) < _SIBLINGS_MIN or len(tasks) < _SIBLINGS_SHARE * len(short):
        return set()
    marked = sum(found[n].marked for n in tasks) * 2 > len(tasks)
    lo, hi = tasks[0] - 1, tasks[-1] + 1
    return {n for n in short if lo <= n <= hi and found[n].marked == marked
            and not found[n].quote.rstrip().endswith(":")
            and not names_todo_list(found[n].quote)}


def section_titles(found: list[Item], lines: list[Line]) -> set[int]:
    """Items that are a section's title written like an item ("* Code cleanliness", "Missing
    features"): a few capitalised words that name a topic, not an action. Offered, the model
    takes them for tasks. A title is known by where it stands: the items after it are nested
    under it (marked, indented deeper), or they differ from it in form (marked, or ending a
    sentence, where it is neither) while it opens the list, follows a blank line, or differs
    from the item before it too (it ends one run of items and starts another)."""
    def unlike(a: Item, b: Item) -> bool:
        return a.marked != b.marked or bool(_SENTENCE_END.search(a.text)) != \
            bool(_SENTENCE_END.search(b.text))

    titles: set[int] = set()
    for n, (it, after) in enumerate(zip(found, found[1:])):
        head, below = lines[it.lines[0]], lines[after.lines[0]]
        if _numbers_over(head.text, below.text):
            titles.add(n)
        nested = after.marked and below.indent > head.indent
        if nested and not below.after_gap and len(it.lines) == 1 and _heads_a_list(it.text):
            titles.add(n)
        if len(it.lines) > 1 or not _names_a_topic(it.text) or n in titles:
            continue
        opens = n == 0 or head.after_gap or unlike(found[n - 1], it)
        if nested or (opens and unlike(it, after) and task_like(after.quote)):
            titles.add(n)
    return titles


def _numbers_over(head: str, below: str) -> bool:
    """An outline's section number over its first entry's ("2. libcurl - multi interface" over
    "2.1 More non-blocking"): the section's title, whatever its words."""
    section = _SECTION.match(head)
    return bool(section) and below.lstrip().startswith(section.group(1) + ".") \
        and bool(_SUBSECTION.match(below))


def _heads_a_list(text: str) -> bool:
    """An item with items nested under it that names their topic ("* library API:", "-
    ProdsParser", "- Sequence:"): one to ``_TITLE_WORDS`` words, in any case, ending in a colon
    or in no sentence end, neither a task's verb first nor a request. The nesting says what the
    words cannot: the items below are its parts (notes-fresh32: a phone note's and a docstring's
    TODO lists)."""
    core = without_mark(text).rstrip()
    core = core[:-1].rstrip() if core.endswith(":") else core
    words = [w for w in core.split() if _WORD.search(w)]
    return 1 <= len(words) <= _TITLE_WORDS and not _SENTENCE_END.search(core) and ":" not in core \
        and not task_verb(words[0].strip(".,;:!?\"'`()[]")) and not asks(core)


def _names_a_topic(text: str) -> bool:
    """Two to ``_TITLE_WORDS`` words, the first capitalised, no sentence end, and not read as
    a task without its mark (no verb first, no request)."""
    core = without_mark(text)
    words = [w for w in core.split() if _WORD.search(w)]
    return 2 <= len(words) <= _TITLE_WORDS and core[:1].isupper() \
        and not _SENTENCE_END.search(core) and not task_like(core)
