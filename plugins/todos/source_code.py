"""A source file as a note: only its tagged comments can hold a to-do.

A source file is mostly code with a few comments. "import logging", "return rc" and
"RARE_RE = re.compile(...)" start with task verbs but are statements (notes-fresh2: a file's
imports and a raise offered as todos), and a comment without a tag explains the code ("# First
try the environment.", a docstring): notes-fresh4's Perl, Python and JavaScript excerpts had
those taken for tasks. Where a comment carries a TODO, FIXME or XXX tag, that comment, up to
the next statement, is what asks; the rest of the file is blank to the rules that follow.
"""

from __future__ import annotations

import re

from .context import key_labels
# An editor's menu bar ("File Edit View Search Tools Help") and the rest of a screen's furniture.
from .lines import MENU_BAR, chrome
from .code_lines import reads_as_code

# Line-comment prefixes of common languages and formats. "*" and "-" are not among them: a
# note whose lines mostly start with them is a list.
# A list mark right after the prefix is a list in the comment: OCR drops the space ("#- item").
# A tag right after the prefix is a comment too ("#TODO: use gconftool-2 ...").
# troff's comment is .\" (a man page's source); Fortran's and X resources' is "!".
COMMENT = re.compile(r'^(\s*)(#+|//+|--|;+|%+|!+|"|[.\']\\")(?=\s|$|[-*•](?=\s|\w)|(?:TODO|FIXME|XXX)\b)\s?')
# A statement of a programming language, whatever the language: a line ending a statement or
# opening or closing a block, brackets alone, an assignment to a name, an import, a return or
# raise, a definition, a control-flow header ending in ":", a preprocessor line, a method call
# on a name ("self.names()"), a decorator, a literal's entry ending in "]," or "),", a shell's
# keywords. Prose rarely ends in ";" or "{" or assigns with "=".
_STATEMENT = re.compile(
    r"[;{}]\s*$|^\s*[)\]}]+[,;:)\]}]*\s*$|[)\]}],\s*$"
    # (its name's first letter may be OCR's digit: "1fh.file_name = ..." for "lfh")
    r"|^\s*(?:[A-Za-z_]|\d(?=[A-Za-z]))[\w.]*(?:\[[^\]]*\])?\s*(?:[-+*/%|&^]|//|<<|>>)?=(?!=)\s*\S"
    r"|^\s*(?:import\s+[\w.]+\s*(?:,|as\b|$)|from\s+[\w.]+\s+import\b|(?:return|raise|throw)\b"
    r"|(?:async\s+)?def\s+\w+\s*\(|class\s+\w+.*:\s*$|(?:for|while|if|elif|with)\b.*:\s*$"
    r"|(?:else|try|finally)\s*:\s*$|except\b.*:\s*$"
    r"|#\s*(?:include|define|ifn?def|if|endif|pragma)\b"
    r"|@\w+|(?:export|local|readonly|declare)\s+\w+=|exec\s+\S|(?:fi|done|then|esac|do)\s*;?\s*$"
    # a parameter of a signature, one a line: "recursive: bool = False,", "**kwargs,"
    r"|(?:\*{1,2}\w+|\w+\s*:\s*[^=,\s][^=,]*(?:=[^,]+)?|\w+\s*=\s*[^,\s]+),\s*$)"
    r"|\w\.\w+\(.*\)[,;]?\s*$"
    # a Lisp form ("(define-module (srfi srfi-19)", "(let ((record ..."), a shell command sent
    # to the background ("gnome-terminal ... &")
    r"|^\s*\((?:define[\w-]*|let\*?|lambda|if|cond|when|unless|set!|setq|use-modules|export|"
    r"begin|def[a-z]*|require|provide|and|progn|dolist|dotimes|push|setf)(?:[\s)]|$)"
    r"|^\s*\((?:or|not)\s+\("
    # a call alone on its line whose name holds an underscore ("add_safe(new_mapping, 0,
    # workspace)"): prose does not write one (a dotted name's call is below)
    r"|^\s*[A-Za-z]\w*_\w*\([^()]*(?:\([^()]*\)[^()]*)*\)\s*;?\s*$"
    # a Lisp call whose name joins words by hyphens ("(add-hook 'kill-emacs-hook ...",
    # "(file-regular-p prefix)"), alone on its line too ("(save-excursion"), a form's end
    # closing three brackets ("prefix)))")
    r"|^\s*\([a-z][a-z0-9]*(?:-[a-z0-9]+)+[!?*]?(?:[\s)]|$)|\){3}\W*$"
    r"|\S\s+&\s*$"
    # a line left open on a bracket ("if needs_conversion(values.dtype) or (")
    r"|\S\s*[(\[]\s*$"
    # Lua's and the shell's blocks: a header ending in "then" or "do", a lone "end"; an
    # assignment to an indexed field ("state[w].closed = {}"); Make's recipes and targets
    # ("$(MAKE) run_profile_task", "touch $@", "build_all_generate_profile:")
    r"|\s(?:then|do)\s*$|^\s*end\W*$|^\s*[A-Za-z_][\w.]*(?:\[[^\]]*\][\w.]*)+\s*=\s*\S"
    r"|^\s*@?\$[({]|\$[@<^]|^[\w.%/]*[_.%/-][\w.%/-]*\s*:\s*$"
    # a call's arguments over several lines: a method call opening its line ("log.warn('[pbr]
    # Support ..."), a line of string literals only ("'pbr 4.0. Upgrade to Sphinx 1.6+')")
    r"|^\s*[A-Za-z_]\w*(?:\.\w+)+\("
    r"|^\s*(?:[rbfuRBFU]{0,2}(?:\"[^\"]*\"|'[^']*')\s*)+[,)\]}]*\s*$"
    # a mapping's entry, one a line ('"timeout": None,', "'encoding': DEFAULT_ENCODING,")
    r"|^\s*(?:\"[^\"]+\"|'[^']+')\s*:\s*\S.*,\s*$"
    # a declaration bound to a value (Vim's "let [token, end] = s:lex(line)", JavaScript's
    # "const x = 1"), Tcl's "set len [string length $ascii]", a condition that compares
    # ("if token == '>'"), the words that close Vim's blocks; fish's "set tokens (commandline)"
    # and a function's header without brackets (fish, Lua, shell)
    r"|^\s*(?:let|var|const|local|my|our)\s+[\[\w$@%][^=]*=\s*\S"
    r"|^\s*set\s+\w+(?:\([^)\s]*\))?\s+[\[{\"$\d(-]|^\s*function\s+[\w.:]+\s*(?:\(.*)?$"
    r"|^\s*(?:if|elseif|elif|while|until|unless)\b.*(?:==|!=|=~|<=|>=|&&|\|\|)"
    r"|^\s*end(?:if|while|for|function|func|try)\s*$"
    # a shell case's branch on options ("(--quote-chars|--no-quote-chars)", "-h|--help)")
    r"|^\s*\(?(?:--?[\w-]+|\*)(?:\s*\|\s*(?:--?[\w-]+|\*))*\)\s*(?:;;|\s#.*)?\s*$"
    # Ruby's definition without arguments ("def reset"), a call without brackets: a name alone
    # on its line, joined by dots or underscores ("Style.clear_index", "reset_use_color")
    r"|^\s*def\s+[\w.]+[?!=]?\s*$|^\s*[A-Za-z_]\w*(?:[._]\w+)+[?!]?\s*$"
    # a match's arm (OCaml's "| Set s -> s", "Sequence l ->", Rust's "Some(x) => {")
    r"|^\s*\|\s*\S.*(?:->|=>)|\S\s*(?:->|=>)\s*$"
    # markup's elements alone on their line ('<xsl:with-param name="node" select="$t" />',
    # "</ref>"): an XML file's or a template's
    r"|^\s*(?:<[/?]?[A-Za-z][\w:.-]*(?:\s[^<>]*)?/?>\s*)+$"
    # a call opening its line, its name in lower case right against the bracket (CMake's
    # "foreach(_cmake_target IN LISTS ...)", "endif()", "message(FATAL_ERROR ..."; C's "free(p);")
    r"|^\s*[a-z_][\w.]*\((?=\S)"
    # an attribute alone on its line (Rust's "#[derive(Debug)]", C#'s "[Serializable]"). Where a
    # source file is weighed, a bracketed line ('[CCode (cname = "SDL_SetWindowSize")]') is
    # already the screen's furniture (lines.chrome) and left out of the count; this counts it
    # where a line alone is asked (a docstring's parity).
    r"|^\s*#?!?\[[A-Za-z_][\w.:]*(?:\s*\(.*\))?\]\s*$")
# A file's head: what it imports, requires or includes, the package or module it declares.
# Two of these make a source file, comments or not: in a picture OCR may lose every comment
# mark (notes-fresh25: "require 'strscan'" and "module Kramdown" above a Ruby file's comments,
# "import socket" above Python's), and no note lists two imports as its tasks.
_HEADER = re.compile(
    r"^\s*(?:import\s+[\w.]+(?:\s+as\s+\w+)?(?:\s*,\s*[\w.]+)*\s*;?\s*$|from\s+[.\w]+\s+import\s+\S"
    r"|import\s+(?:\w+\s+)?[\"'(]|import\s.*\sfrom\s+[\"']|require(?:_relative)?\s*\(?\s*[\"'][^\"']+[\"']\s*\)?\s*;?\s*$"
    r"|#\s*include\s*[<\"]|module\s+[A-Z]\w*(?:::\w+)*\s*$|package\s+(?:require\s+)?[\w.:]+"
    r"(?:\s+[\d.]+)?\s*;?\s*$|use\s+[\w:]+[^;]*;\s*$|global\s+\w+(?:\s*,\s*\w+)*\s*$)")
_HEADERS = 2             # head lines that make a source file without the share below
# A troff request (".TP", ".B \-no\-pad", ".SH NAME"): two make a man page's source, whose text is
# the manual, written for its reader; only its tagged comments (.\" XXX: ...) ask. No sentence
# starts with a dot.
_REQUEST = re.compile(r"^\.[A-Za-z]{1,3}(?:\s|$)")
# A window's title naming a source file ("groovy.rb - coderay/scanners", "main.c (~/src) - VIM",
# with its path: "plugins/milter_headers.lua- VIM"):
# a picture of an editor, where OCR may lose the comment marks and underscores that make its
# lines read as code (notes-fresh29: "GROOVY KEYWORDS = %w[" as prose). With a few statements
# it makes a source file without the share below. At a line's start only: "python setup.py
# install" in an INSTALL file names a file, not the window.
_SOURCE_TITLE = re.compile(
    r"^\W*(?:[\w.-]+/)*[\w.-]+\.(?:py|pyx|rb|pl|pm|c|h|cc|cpp|cxx|hh|hpp|js|mjs|ts|java|go|rs|lua|"
    r"sh|bash|zsh|fish|tcl|el|lisp|scm|vim|php|swift|kt|scala|cs|hs|ml|awk|groovy|pas|f90|ex|erl|clj|dart|"
    r"sql|r|jl|m)(?:\s*[-–—(|:\[]|\s*$)", re.I)
_TITLE_LINES = 2         # a title bar is the note's first line, or its second under a clock
# A block comment: C's "/* ... */", XML's and HTML's "<!-- ... -->" (an XSLT stylesheet's
# "<!-- FIXME Printed manual name -->"), ML's and Pascal's "(* ... *)".
_BLOCK_OPEN = re.compile(r"^\s*(?:/\*+|<!--|\(\*+)\s?")
_BLOCK_CLOSE = re.compile(r"\s*(?:\*+/|-->|\*+\))\s*$")
_BLOCK_LINE = re.compile(r"^(\s*)\*(?!/)\s?")
_DOC_TAG = re.compile(r"^\s*[@\\](?:param|return|returns|throws|raises|stable|internal|since|"
                      r"deprecated|see|brief|note|author)\b")
# OCR reads a docstring's quotes with spaces between them too ('" " "').
_DOCSTRING = re.compile(r'" ?" ?"|\' ?\' ?\'')
# In lower or mixed case, or as OCR reads it ("ToD0:"), a tag opens its comment.
# A comment may open with it in any case and without a colon ("-- ToDo else return error").
# A tag may carry its kind after a hyphen ("// ToDO-OPT No need to copy ...").
_TAG = re.compile(r"\b(?:TODO|FIXME|XXX|TBD)\b|\bHACK:|^\W*(?i:t[o0]d[o0]|fixme)\s*[:(]"
                  r"|^\s*(?i:t[o0]d[o0]|fixme)(?:-[A-Z]{2,})?\s+(?=\w)")
# At a line's start, in any case and without a colon too: a comment whose mark OCR lost
# ("ToD0 add to screen with least # of workspaces" in a Lua file).
_LEADING_TAG = re.compile(r"^\W*(?:TODO|FIXME|XXX|TBD)\b|^\W*(?i:t[o0]d[o0]|fixme)\s*[:(]"
                          r"|^\s*(?i:t[o0]d[o0]|fixme)(?:-[A-Z]{2,})?\s+(?=\w)")
# A tagged comment after code on the same line: "xArrow ...,  // FIXME: doesn't stretch", and
# "size_t offset; /* starting offset: XXX - should this be off_t? */", "end -- ToDo else ...".
_TRAILING = re.compile(r"\s(?://+|#+|--|;+)\s*(?=(?:TODO|FIXME|XXX)\b|(?i:t[o0]d[o0]|fixme)\b)"
                       # or one that ends in its tag ("...; # not works yet FIXME!!!")
                       r"|\s(?://+|#+|--)\s+(?=[^\"'#]*\b(?:TODO|FIXME|XXX)\W*$)")
# "size_t n; /* length */", "(r'[A-Z]\w*', tokens.Name),  # 'Name'." (not "issue #39")
_AFTER_CODE = re.compile(r"\s+(?:/\*.*\*/|//.*|#\s.*)\s*$")
_TRAILING_BLOCK = re.compile(r"\S\s*/\*+\s*(.*\b(?:TODO|FIXME|XXX)\b.*?)\s*\*+/\s*$")
_BOUND = re.compile(r"^\s*(?:(?:export|setenv|set)\s+)?[A-Za-z_][\w.]*\s*=\s*[\[({\"'\d/$]")
# A setting, one a line ("# Input=nothing", "Shortcut=<Primary>t"): a configuration's, no task.
_SETTING = re.compile(r"^\s*(?:[#;]+\s*)?[A-Za-z][\w.]*(?:-[\w.]+)*=\S*\s*$")
# A configuration's directive with a quoted or numeric value ('server "news" ".newsrc"',
# "set force_authentication 0"), inside a comment or commented out without a space ("%set x 0").
_DIRECTIVE_BODY = r'[a-z_][\w-]*(?:\s+[\w.-]+)*\s+(?:"[^"]*"|-?\d+)(?:\s+"[^"]*")*\s*$'
_DIRECTIVE = re.compile(r"^\s*" + _DIRECTIVE_BODY)
_DISABLED = re.compile(r"^\s*(?:#+|%+|;+|//+)" + _DIRECTIVE_BODY)
# A setting as a configuration file writes it: "port 587", "tls on", "tls_starttls on",
# login.defs' "LOG_OK_LOGINS   no" (a key joined by underscores, in either case, then a value).
_SET = re.compile(r"^\s*(?:[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]+\s+\S+|[a-z][a-z0-9_]*\s+(?:on|off|yes|no|true|"
                  r"false|none|auto|-?\d+|[~/.]\S*|\"[^\"]*\"))\s*$")
# A setting as muttrc or vimrc sets it ("set append", "set crt=0"), or one commented out
# without a space ("#set colour-pager", "#session.path.set = ./session"): a sample
# configuration's lines, its comments explaining them.
_SET_LINE = re.compile(r"^\s*(?:#+|;+|//+)?set\s+[\w.-]+(?:\s*=\s*\S+)?\s*$"
                       r"|^\s*(?:#+|;+|//+)[A-Za-z][\w.-]*\s*=\s*\S+\s*$")
_LETTER = re.compile(r"[^\W\d_]")
_TAG_ALONE = re.compile(r"^\W*(?i:t[o0]d[o0]|fixme|xxx|tbd)\W*$")    # a tag and nothing else
_CODE_MIN = 3            # statements a source file shows at least ...
_CODE_SHARE = 0.5        # ... and the share of its lines outside comments they make
# Code with no comment at all asks nothing from this many statements making this share of its
# lines (``_bare_code``; at half, a TODO file whose items name "#else" read as code).
_BARE_MIN, _BARE_SHARE = 6, 0.8
_ANY_TAG = re.compile(r"(?i)(?<![^\W_])(?:t[o0]d[o0]|fixme|xxx|hack|tbd)(?![^\W_])")


def comments_of_code(raw: list[str]) -> list[str]:
    """A source file's tagged comments without their marks, every other comment and statement
    blank (see the module's docstring: a file without a tag asks nothing); any other text as
    it is. A text that is not a source file comes back as it is, but for a name bound to a
    literal."""
    comments = _comment_spans(raw)
    # A setting commented out ('%set force_authentication 0', '# server "news" ".newsrc"') is
    # a statement too: a sample configuration's comments explain its settings.
    # So is one written "name=value" ('# recipient=root' in e2scrub.conf).
    settings = {i for i, text in comments.items() if _DIRECTIVE.match(text)
                or _setting(text)} | {
        i for i, line in enumerate(raw)
        if _DISABLED.match(line) or _SET.match(line) or _SET_LINE.match(line)}
    comments = {i: text for i, text in comments.items() if i not in settings}
    # A line with fewer than two letters is neither code nor prose unless it is a statement
    # ("}"): OCR reads a closing brace as "1" (notes-fresh34: three "1" lines kept a Java file
    # from reading as code), a toolbar's icons as "x" or "Q" (notes-fresh50).
    # The window's furniture in a picture of an editor (its menu bar, its mode line) is neither
    # (notes-fresh36: Emacs's menu bar and mode line kept an Emacs Lisp file from reading as
    # code).
    # So is an editor's key help ("^G Help", "Write Out" on lines of their own: nano, a picture of
    # an Octave file in it, notes-fresh39 and 44).
    furniture = key_labels(raw)
    rest = [i for i, line in enumerate(raw) if line.strip() and i not in comments
            and (len(_LETTER.findall(line)) >= 2 or _statement(line)) and not chrome(line)
            and i not in furniture]
    heads = {i for i in rest if _HEADER.match(raw[i])}
    statements = heads | {i for i in rest if i in settings
                          or _statement(raw[i]) or _reads_as_code(raw[i])}
    # A statement with a comment after it ("public void get_size (...); //TODO: ...") is code
    # too, though its comment is what may ask (notes-fresh36: a Vala file whose every third
    # line carried one read as prose).
    coded = {i for i in comments if not COMMENT.match(raw[i]) and not _BLOCK_OPEN.match(raw[i])
             and _statement(raw[i])}
    titled = any(_SOURCE_TITLE.match(line) for line in raw[:_TITLE_LINES])
    requests = {i for i in rest if _REQUEST.match(raw[i])}
    statements |= requests
    if not (len(heads) >= _HEADERS or len(requests) >= _HEADERS
            or titled and len(statements) >= _CODE_MIN
            or _is_source(comments or _lost_marks(raw, rest, statements), statements | coded,
                          rest + sorted(coded))
            or _bare_code(raw, statements, rest)):
        # Outside a source file, a value bound to a name is still code, never a task:
        # '__slots__ = ("extras", "marker")' under a TODO comment.
        return ["" if _bound(line) or _setting(line) else line for line in raw]
    tagged = _tagged(raw, comments, statements)

    def kept(i: int, line: str) -> str:
        # Outside a tagged comment a line that is neither comment nor statement is code the
        # patterns do not know ("dict_factory: type[Mapping[Any, Any]] = ...,"), no task.
        if i not in tagged or i in statements:
            return ""
        if i not in comments:     # OCR lost its comment mark ("- add helpers ..." under "# TODO")
            return line
        return comments[i] if _TAG.search(comments[i]) else _continued(comments[i])

    return [kept(i, line) for i, line in enumerate(raw)]


def _continued(comment: str) -> str:
    """A tagged comment's next line, indented under it: it carries the item on (items.py joins
    a hanging indent), not an item of its own ("than auto-generated has_foo() methods")."""
    return "  " + comment


def _is_source(comments: dict[int, str], statements: set[int], rest: list[int]) -> bool:
    """Comments and statements, the statements at least half of what is not comment: three
    statements or more, or a block of comments in code (one statement below three comment
    lines: an excerpt of a function's long comment)."""
    return bool(comments) and bool(statements) and len(statements) >= _CODE_SHARE * len(rest) \
        and (len(statements) >= _CODE_MIN or len(comments) >= _CODE_MIN)


def _lost_marks(raw: list[str], rest: list[int], statements: set[int]) -> dict[int, str]:
    """With no comment found, the lines a tag opens outside the statements: comments whose
    mark OCR lost (Vim's '" FIXME:' read as "FIXME:"), which make the code around them a source
    file's."""
    return {i: raw[i] for i in rest if i not in statements and _LEADING_TAG.match(raw[i])}


def _bare_code(raw: list[str], statements: set[int], rest: list[int]) -> bool:
    """Code with no comment at all, nearly every line a statement, and no tag anywhere, in any
    case ("<!--ToDo: list entries-->" inside XML's escapes)."""
    return len(statements) >= _BARE_MIN and len(statements) >= _BARE_SHARE * len(rest) \
        and not any(_ANY_TAG.search(line) for line in raw)


def _tagged(raw: list[str], comments: dict[int, str], statements: set[int]) -> set[int]:
    """The lines of tagged comments: from a comment with a tag up to the next statement or
    blank line (a blank line ends a comment block: "# case (1): ..." below is another)."""
    found: set[int] = set()
    open_tag = bare = False
    for i, line in enumerate(raw):
        blank = i in comments and not comments[i].strip()
        if i in statements or not line.strip() or i in comments and (
                blank and not bare or _DOC_TAG.match(comments[i])):
            open_tag = False      # a blank comment line or "@param" ends what the tag says ...
        # A tag opening a line outside any comment: a picture whose "#" OCR read on a line apart.
        if i in comments and _TAG.search(comments[i]) \
                or i not in statements and _LEADING_TAG.match(line):
            open_tag = True
            # ... once it has said something: a tag alone ("# TODO" over "#" over its list)
            # heads what follows.
            bare = not _TAG_ALONE.sub("", comments.get(i, line)).strip()
        elif open_tag and not blank:
            bare = False
        if open_tag:
            found.add(i)
    return found


def _comment_spans(raw: list[str]) -> dict[int, str]:
    """The lines inside comments (a line comment, a ``/* */`` block, a docstring), each as
    its words without the comment's marks, indentation kept; a tagged comment after code on
    its line, as that comment."""
    found: dict[int, str] = {}
    block = False
    # An excerpt that starts inside a block comment: its lines up to the first "*/".
    close = next((i for i, line in enumerate(raw) if _BLOCK_CLOSE.search(line)), None)
    opened = next((i for i, line in enumerate(raw) if _BLOCK_OPEN.match(line)), None)
    # (A picture's menu bar may stand above, and OCR may lose the "*" before "@param".)
    if close is not None and (opened is None or close < opened) \
            and all(_BLOCK_LINE.match(line) or not line.strip() or _DOC_TAG.match(line)
                    or MENU_BAR.match(line) for line in raw[:close]):
        block = True
    docstring = _starts_in_docstring(raw)
    for i, line in enumerate(raw):
        if docstring and _HEADER.match(line) and not _DOCSTRING.search(line):
            # An import inside a docstring: its closing quotes were lost (notes-fresh32: OCR
            # read a picture's '"""' as "I u I"), the code has begun.
            docstring = False
        if block or _BLOCK_OPEN.match(line):
            text = _BLOCK_CLOSE.sub("", _BLOCK_OPEN.sub(r"", line) if not block else line)
            found[i] = _BLOCK_LINE.sub(r"\1", text) if block else text
            block = not _BLOCK_CLOSE.search(line)
        elif docstring or _DOCSTRING.search(line):
            found[i] = _DOCSTRING.sub("", line)
            docstring ^= len(_DOCSTRING.findall(line)) % 2 == 1
        elif m := COMMENT.match(line):
            found[i] = m.group(1) + line[m.end():]
        elif m := _TRAILING.search(line):
            found[i] = line[:len(line) - len(line.lstrip())] + line[m.end():]
        elif m := _TRAILING_BLOCK.search(line):
            found[i] = line[:len(line) - len(line.lstrip())] + m.group(1)
    return found


def _starts_in_docstring(raw: list[str]) -> bool:
    """Whether an excerpt starts inside a docstring: its first quotes close one. The quotes
    look the same either way, so the lines decide: of the two readings, the one that puts
    fewer statements inside docstrings and fewer lines of prose outside them (notes-fresh28:
    an excerpt of a Python file opening in a method's docstring had its code read as prose)."""
    if not any(_DOCSTRING.search(line) for line in raw):
        return False
    return _misread(raw, inside=True) < _misread(raw, inside=False)


def _misread(raw: list[str], inside: bool) -> int:
    """Lines between docstring quotes that are statements, and lines outside them that are not
    (comments and blank lines aside), when the excerpt starts ``inside`` one or not."""
    wrong = 0
    for line in raw:
        marks = len(_DOCSTRING.findall(line))
        if not marks and line.strip() and not COMMENT.match(line):
            statement = _statement(line)
            wrong += statement if inside else not statement
        inside ^= marks % 2 == 1
    return wrong


def _statement(line: str) -> bool:
    """A statement of code, a comment after it on its line set aside."""
    return bool(_STATEMENT.search(_AFTER_CODE.sub("", line)))


def _reads_as_code(line: str) -> bool:
    """A line whose characters read as code (``code_lines``), unless a tag opens it: a comment
    whose mark OCR lost ("TODO: Try to cache winwidth(0) function" in a Vim file)."""
    return reads_as_code(line) and not _LEADING_TAG.match(line)


def _setting(line: str) -> bool:
    """A setting alone on its line, its brackets balanced: not a sentence's end ("gamma=0.45.)"
    closes a bracket opened above)."""
    return bool(_SETTING.match(line)) and _balanced(line)


def _balanced(line: str) -> bool:
    return all(line.count(a) == line.count(b) for a, b in ("()", "[]", "{}"))


def _bound(line: str) -> bool:
    """A name bound to a literal, its brackets closed on the line or left open at its end;
    not prose that carries on a sentence ("gamma=0.45455.)" closes a bracket opened above)."""
    if not _BOUND.match(line):
        return False
    return _balanced(line) or line.rstrip().endswith(("(", "[", "{"))
