"""What a document tells its reader, in forms whose lines read like tasks one by one.

- A manual's options: what each option does ("-i, --interactive / Force interactive mode.",
  "-h, --help  Print the usage and exit."). The descriptions start with verbs as tasks do; a
  manual page's OPTIONS section (notes-fresh13) was offered line by line.
- An FAQ written as "Q." and "A.", or as a question at the margin with its answer indented
  under it ("How do I stop monitoring an interface?" / "  Execute "vnstat --remove ..."): the
  answers advise ("A. Put these options in your abcde.conf:", "use -l"), they are no one's
  to-dos.
- An interactive session shown as an example (Python's ">>> " and "... ", a doctest): what to
  type, not what to do.
- A credit: a person's name and address alone ("- Jens Georg <mail@jensge.org>", "Paul Seamons
  <paul at seamons.com>"), or a Debian changelog's signature ("-- Chris Lamb <lamby@...>  Tue,
  06 Aug 2019 16:05:59 +0100").
- A section whose heading names a part of a document that holds no one's tasks: its authors,
  licence, repository, mailing list, how to report bugs ("=head1 AUTHOR" after a POD's "=head1
  TODO", "Mailing list: bug-recutils@gnu.org" over "- please use this list for all discussion").
- A commit's header ("commit 349b847...", "Author: ... <...@...>", "Date: ..."): the message
  under it tells what the commit did, up to a to-do list of its own ("TODO:"), but for a line
  that carries a tag.
"""

from __future__ import annotations

import re

from .context import todo_heading
from .lines import Line, heading, list_marked
from .tags import tagged

# An option line: one or more options ("-h", "-h, --help", "-C[f][n], --create"), an argument
# ("-o FILE", "--file=<path>"), then nothing or what it does, capitalised ("-i, --interactive
# Force interactive mode."). Not a wrapped sentence that starts with an option ("-1 and -L.").
_ONE = r"(?:-[A-Za-z0-9?]|--[A-Za-z][\w-]*)(?:\[[^\]]*\])*(?:=\S+)?"
_OPTION = re.compile(rf"^\s*{_ONE}(?:,\s*{_ONE})*(?:\s+(?:[A-Z_]{{2,}}|<[^>]+>|\[[^\]]+\]))?"
                     r"(?:\s+[A-Z].*)?\s*$"
                     # a short option and its long name, a long one with one dash, and an
                     # argument in lower case (ioping(1): "-b, -burst count")
                     r"|^\s*-[A-Za-z0-9?],\s*--?[A-Za-z][\w-]*(?:=\S+)?(?:\s+[a-z][\w-]*)?"
                     r"(?:\s+[A-Z].*)?\s*$")

_REPL = re.compile(r"^\s*(?:>>>|\.\.\.)(?:\s|$)|^\s*In \[\d+\]:")
_COMMIT = re.compile(r"^\s*commit [0-9a-f]{7,40}\s*$|^\s*Author:\s.*<[^@\s]+@[^>\s]+>\s*$")
# The address as written or spelt out against spam ("paul at seamons.com"); a signature's date
# after it.
_CREDIT = re.compile(r"^\W*(?:[A-Z][\w'.-]*\s+){0,3}[A-Z][\w'.-]*\s*"
                     r"[<(]?[\w.+-]+(?:@|\s+at\s+)[\w-]+(?:\.[\w-]+)+[>)]?"
                     r"(?:\s+\w{3},?\s+\d{1,2}\s+\w{3}\s+\d{4}\b.*)?\W*$")
# A copyright notice ("Copyright (c) 2012 ActiveState Software Inc.", "(C) 2005 Amos Waterland",
# "Copyrisht" as OCR reads it), or years and a name alone ("2007-2013 Michele Martone").
_COPYRIGHT = re.compile(r"(?i)^\W*(?:copyr\w*|\(c\)\s*(?:19|20)\d\d|©)"
                        r"|^\W*(?:19|20)\d\d(?:\s*[-,–]\s*(?:19|20)?\d\d)*,?\s+"
                        r"(?:[A-Z][\w'.-]*\s+){1,3}[A-Z][\w'.-]*\W*$")
# How to install or build it: steps for whoever installs it ("Source Installation - BSD, Mac OS,
# and Linux" over "make install"), no task of the project's.
_INSTALL_SECTION = re.compile(r"(?i)^\W*(?:source\s+|binary\s+)?(?:installation|installing|"
                              r"building|compiling|build instructions|getting started|"
                              r"quick\s?start|how\s+to\s+(?:get\s+started|install|build|compile))\b")
_UNDERLINE = re.compile(r"^\s*(?:-{3,}|={3,})\s*$")
_OPEN_END = re.compile(r"[^\W_]$")
_CARRIED = re.compile(r"^\s*[a-z0-9]")
# Headings of the parts of a document that hold no one's tasks: who made it, its terms, where
# it lives, how to reach or report to its authors, a manual's reference sections. Not "Bugs"
# nor "Bug reports": a BUGS file lists what is to fix.
_NO_TASK_SECTION = re.compile(
    r"(?i)^\W*(?:authors?|maintainers?|contributors|credits|thanks|acknowledge?ments|copyright|"
    r"licen[cs]e|licensing|legal|see also|synopsis|(?:code |source )?repository|source code|"
    r"download(?:ing)?|home ?page|web ?site|contact|mailing lists?|"
    r"(?:how to )?report(?:ing)? bugs|bug reporting|availability)\b"
    r"\W*(?::\s*(?:<?[\w.+-]+@[\w.-]+>?|https?://\S+)\W*)?$")
# An FAQ's marks ("Q. Low on disk space?", "A. abcde has ..."); the note model counts them too.
QUESTION = re.compile(r"^\s*Q\s*[.:)]\s+\S")
ANSWER = re.compile(r"^\s*A\s*[.:)]\s+\S")
# A reader's question as an FAQ puts it: how, what, why ... and a question mark.
_ASKED = re.compile(r"(?i)^(?:how|what|why|where|when|which|who|can|could|is|are|do|does|"
                    r"should|will|would)\b.*\?\s*$")


def option_lines(layout: list[Line]) -> set[int]:
    """Indexes of a manual's option lines and of the lines that describe them: the lines right
    below an option, indented deeper than it, up to a gap."""
    out: set[int] = set()
    for i, line in enumerate(layout):
        if not _OPTION.match(line.text):
            continue
        out.add(i)
        for j in range(i + 1, len(layout)):
            if layout[j].after_gap or layout[j].indent <= line.indent:
                break
            out.add(j)
    return out


def qa_lines(layout: list[Line]) -> set[int]:
    """Indexes of an FAQ's entries, from each "Q." line to the next (when an "A." line answers
    one): the question, its answer and all the answer says."""
    if not any(ANSWER.match(line.text) for line in layout):
        return set()
    first = next((i for i, line in enumerate(layout) if QUESTION.match(line.text)), None)
    return set() if first is None else set(range(first, len(layout)))


def answer_lines(layout: list[Line]) -> set[int]:
    """Indexes of the answers of an FAQ that puts its questions at the margin: the lines
    indented under a question, after a blank line or not, up to the next line at the margin.
    A list under a question is not an answer ("What to pack?" over "  - passport")."""
    out: set[int] = set()
    for i, line in enumerate(layout):
        if line.indent or not _ASKED.match(line.text.strip()):
            continue
        for j in range(i + 1, len(layout)):
            if layout[j].indent <= line.indent or list_marked(layout[j].text):
                break
            out.add(j)
    return out


def repl_lines(layout: list[Line]) -> set[int]:
    """Indexes of an interactive session's input lines (">>> import x", "... return key")."""
    return {i for i, line in enumerate(layout) if _REPL.match(line.text)}


def commit_lines(layout: list[Line]) -> set[int]:
    """Indexes of a commit's header and message, from its header to a to-do heading or the end:
    see the module's docstring."""
    start = next((i for i, line in enumerate(layout) if _COMMIT.match(line.text)), None)
    if start is None:
        return set()
    end = next((i for i in range(start, len(layout)) if todo_heading([layout[i].text]) == 0),
               len(layout))
    # A tagged line in the message still asks ("- TODO: the tab list might be better as ...").
    return {i for i in range(start, end) if not tagged(layout[i].text.lstrip("*-+ "))}


def sections_without_tasks(layout: list[Line]) -> set[int]:
    """Indexes of the sections under a heading of ``_NO_TASK_SECTION`` or ``_INSTALL_SECTION``,
    the heading included, each up to the next heading (a line ``heading`` reads as one, one
    underlined, or a line of these kinds); one that gives its value on its line ("Repository:
    https://...") only up to the next gap."""
    out: set[int] = set()
    inside, to_gap = False, False
    for i, line in enumerate(layout):
        text = line.text
        named = bool(_NO_TASK_SECTION.match(text)) or bool(_INSTALL_SECTION.match(text)) \
            and not text.rstrip().endswith(".")
        opens = named and len(text.lstrip("#*=-_ \t").split()) <= 8
        underlined = i + 1 < len(layout) and bool(_UNDERLINE.match(layout[i + 1].text))
        if opens:
            inside, to_gap = True, ":" in text.strip("#*=-_ \t").rstrip(" :")
        elif heading(text) is not None or underlined or to_gap and line.after_gap:
            inside = False
        if inside:
            out.add(i)
    return out


def sentence_rests(layout: list[Line], ruled_out: set[int]) -> set[int]:
    """The lines that carry on a ruled-out line's sentence: no gap, no list mark, the ruled-out
    line ending on a word and the next starting in lower case or a digit ("Please note that
    this version does not support files larger than" / "2GB. I have toyed with ..."). The
    rest of a sentence that asks nothing asks nothing; alone it read as an item of its own."""
    out: set[int] = set()
    for i in range(1, len(layout)):
        prev, line = layout[i - 1], layout[i]
        if (i - 1 in ruled_out or i - 1 in out) and i not in ruled_out and not line.after_gap \
                and not list_marked(line.text) and line.indent == prev.indent \
                and _OPEN_END.search(prev.text) and _CARRIED.match(line.text):
            out.add(i)
    return out


def credit_lines(layout: list[Line]) -> set[int]:
    """Indexes of the lines that only name a person and an address (see the module's
    docstring), or hold a copyright notice."""
    return {i for i, line in enumerate(layout)
            if _CREDIT.match(line.text) or _COPYRIGHT.match(line.text)}
