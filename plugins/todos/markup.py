"""A note as plain lines when it is written inside code or documentation markup.

To-do lists live in source files as much as in TODO files: a ``# TODO:`` block in Python, a
``" TODO:`` header in a Vim script, a ``=head1 TODO`` section of Perl's POD. Their prefixes hide
the structure the rules read (a list mark, an indented continuation, a heading): "# - support
HDR" starts with "#", not with a mark. ``plain_lines`` takes the markup away and leaves the
words, so that such a note reads as the same list typed in a text file. Quotes still occur in
the note's text, which is made from these lines.

A source file is mostly code with a few comments, and only its comments can hold a to-do:
"import logging", "return rc" and "RARE_RE = re.compile(...)" start with task verbs but are
statements (notes-fresh2: a file's imports and a raise offered as todos). ``plain_lines``
keeps a code file's comments and blanks its statements.
"""

from __future__ import annotations

import re

# Line-comment prefixes of common languages and formats. "*" and "-" are not among them: a
# note whose lines mostly start with them is a list.
# A list mark right after the prefix is a list in the comment: OCR drops the space ("#- item").
_COMMENT = re.compile(r'^(\s*)(#+|//+|--|;+|%+|")(?=\s|$|[-*•](?=\s|\w))\s?')
_MOSTLY = 0.6
# A statement of a programming language, whatever the language: a line ending a statement or
# opening or closing a block, brackets alone, an assignment to a name, an import, a return or
# raise, a definition, a control-flow header ending in ":", a preprocessor line, a method call
# on a name ("self.names()"), a decorator. Prose rarely ends in ";" or "{" or assigns with "=".
_STATEMENT = re.compile(
    r"[;{}]\s*$|^\s*[)\]}]+[,;:)\]}]*\s*$"
    r"|^\s*[A-Za-z_][\w.]*(?:\[[^\]]*\])?\s*(?:[-+*/%|&^]|//|<<|>>)?=(?!=)\s*\S"
    r"|^\s*(?:import\s+[\w.]+\s*(?:,|as\b|$)|from\s+[\w.]+\s+import\b|(?:return|raise|throw)\b"
    r"|(?:async\s+)?def\s+\w+\s*\(|class\s+\w+.*:\s*$|(?:for|while|if|elif|with)\b.*:\s*$"
    r"|(?:else|try|finally)\s*:\s*$|except\b.*:\s*$|#\s*(?:include|define|ifn?def|if|endif|pragma)\b"
    r"|@\w+)"
    r"|\w\.\w+\(.*\)[,;]?\s*$")
_BLOCK_OPEN, _BLOCK_CLOSE = re.compile(r"^\s*/\*+\s?"), re.compile(r"\s*\*+/\s*$")
_BLOCK_LINE = re.compile(r"^(\s*)\*(?!/)\s?")
_DOCSTRING = re.compile(r'"""|\'\'\'')
_UNDERLINE = re.compile(r"^\s*(?:={3,}|-{3,}|~{3,}|\^{3,})\s*$")
_UNDERLINE_SLACK = 4     # an underline is about as long as its title
_BOUND = re.compile(r"^\s*[A-Za-z_][\w.]*\s*=\s*[\[({\"'\d]")
_CODE_MIN = 3            # statements a source file shows at least ...
_CODE_SHARE = 0.5        # ... and the share of its lines outside comments they make
# Perl's POD: a heading, an item, and the commands that only frame them.
_POD_HEAD = re.compile(r"^=head\d\s+(.*)$")
_POD_ITEM = re.compile(r"^=item\s*(.*)$")
_POD_FRAME = re.compile(r"^=(?:over|back|cut|pod|begin|end|for|encoding)\b")


def plain_lines(raw: list[str]) -> list[str]:
    """``raw`` without a comment prefix most of its lines share, with POD commands read as
    what they mean (``=head1 TODO`` a heading, ``=item Tests`` a list item), and a heading
    underlined in reStructuredText or Markdown's other form ("FAQ" over "===") written as
    ``## FAQ``: the underline has no letters and would be lost, and the line read as an item
    ("Where is a graphical interface?" in an FAQ)."""
    return _underlined(_without_pod(_uncommented(_comments_of_code(raw))))


def _underlined(raw: list[str]) -> list[str]:
    out = list(raw)
    for i in range(1, len(raw)):
        title = raw[i - 1].strip()
        if _UNDERLINE.match(raw[i]) and title and not _UNDERLINE.match(raw[i - 1]) \
                and abs(len(raw[i].strip()) - len(title)) <= _UNDERLINE_SLACK:
            out[i - 1], out[i] = f"## {title}", ""
    return out


def _comment_spans(raw: list[str]) -> dict[int, str]:
    """The lines inside comments (a line comment, a ``/* */`` block, a docstring), each as
    its words without the comment's marks, indentation kept."""
    found: dict[int, str] = {}
    block = docstring = False
    for i, line in enumerate(raw):
        if block or _BLOCK_OPEN.match(line):
            text = _BLOCK_CLOSE.sub("", _BLOCK_OPEN.sub(r"", line) if not block else line)
            found[i] = _BLOCK_LINE.sub(r"\1", text) if block else text
            block = not _BLOCK_CLOSE.search(line)
        elif docstring or _DOCSTRING.search(line):
            found[i] = _DOCSTRING.sub("", line)
            docstring ^= len(_DOCSTRING.findall(line)) % 2 == 1
        elif m := _COMMENT.match(line):
            found[i] = m.group(1) + line[m.end():]
    return found


def _bound(line: str) -> bool:
    """A name bound to a literal, its brackets closed on the line or left open at its end;
    not prose that carries on a sentence ("gamma=0.45455.)" closes a bracket opened above)."""
    if not _BOUND.match(line):
        return False
    balanced = all(line.count(a) == line.count(b) for a, b in ("()", "[]", "{}"))
    return balanced or line.rstrip().endswith(("(", "[", "{"))


def _comments_of_code(raw: list[str]) -> list[str]:
    """A source file with its comments' marks taken away and its statements blank (see the
    module's docstring); any other text as it is."""
    comments = _comment_spans(raw)
    rest = [i for i, line in enumerate(raw) if line.strip() and i not in comments]
    statements = sum(1 for i in rest if _STATEMENT.search(raw[i]))
    if not comments or statements < _CODE_MIN or statements < _CODE_SHARE * len(rest):
        # Outside a source file, a value bound to a name is still code, never a task:
        # '__slots__ = ("extras", "marker")' under a TODO comment.
        return ["" if _bound(line) else line for line in raw]
    # A line OCR read without its comment mark stays: "- add helpers for ..." under "# TODO".
    return [comments.get(i, "" if _STATEMENT.search(line) else line) for i, line in enumerate(raw)]


def _uncommented(raw: list[str]) -> list[str]:
    written = [line for line in raw if line.strip()]
    if not written:
        return raw
    prefixes = [m.group(2)[0] for m in map(_COMMENT.match, written) if m]
    if not prefixes:
        return raw
    common = max(set(prefixes), key=prefixes.count)
    if prefixes.count(common) < _MOSTLY * len(written):
        return raw
    out = []
    for line in raw:
        m = _COMMENT.match(line)
        out.append(m.group(1) + line[m.end():] if m and m.group(2)[0] == common else line)
    return out


def _without_pod(raw: list[str]) -> list[str]:
    if not any(_POD_HEAD.match(l) or _POD_ITEM.match(l) for l in raw):
        return raw
    out = []
    for line in raw:
        head, item = _POD_HEAD.match(line), _POD_ITEM.match(line)
        if head:
            out.append(head.group(1))
        elif item:
            text = item.group(1).strip()
            # "=item *" or "=item 2." alone: the item's words are the next paragraph.
            out.append(f"* {text}" if re.search(r"[^\W\d_]", text) else "")
        elif _POD_FRAME.match(line):
            out.append("")
        else:
            out.append(line)
    return out
