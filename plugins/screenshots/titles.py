"""Which OCR line names the screen: the window's title bar when the capture has one, else the
lines the model may choose from (never a menu bar).

Why a line and not the model's words: given free text, Qwen 0.5B titled screens from the prompt's
own examples ("Conversation partner's screen", "Error Dialog") or from the menu bar; a title
copied from the screen is grounded like every other value, and the title bar is what a person
calls a window.
"""

from __future__ import annotations

import re
from typing import Any

from .kinds import BUTTON

ROW = 25                  # lines whose tops are this close (0-1000 grid) share the first row
_LETTERS = re.compile(r"[^\W\d_]")
_CLOCK_OR_NUMBER = re.compile(r"^[\W\d_]*(\d{1,2}:\d{2}(:\d{2})?\s*([ap]\.?m\.?)?)?[\W\d_]*$", re.I)
# The words of an application's menu bar (and of a terminal program's key bar) across toolkits.
_MENU_WORDS = set("""file edit view help tools window windows options search document documents
project build format run insert go bookmarks history settings preferences server buffers archive
action actions image layer layers select selection filters tabs tab terminal navigate code
refactor debug message messages mailbox table data page text emacs-lisp erc""".split())
# A document's or a site's own navigation row ("Next Previous Contents", "Prev Up Home Next").
_MENU_WORDS |= set("next previous prev up home back forward top".split())


# A terminal program's row of key bindings: "i:Exit -:PrevPg <Space>:NextPg" (mutt, less),
# "^G Get Help  ^O Write Out" (nano, pico), "1Help 2Save 3Mark" (mc's function keys).
_KEY_BINDING = re.compile(r"(?:^|\s)(?:[^\s:]{1,8}:[A-Z]|\^[A-Z@\\\]_]\s?[A-Z]|(?:10|[1-9])[A-Z][a-z]+)")


def is_menu_bar(text: str) -> bool:
    """A row of the program's own controls, not its content: one menu word alone ("File"); half
    its words or more are menu words ("File Edit View", "Next Previous Contents"); or, a
    program's own menus beside the common ones ("File Options Buffers Tools Gnus Post Threads
    Article ... Help"), four or more capitalised single words and nothing else, two of them
    menu words; or three key bindings or more."""
    if len(_KEY_BINDING.findall(text)) >= 3:
        return True
    raw = [w.strip("&_:") for w in text.split()]
    if len(raw) == 1 and raw[0].lower() in _MENU_WORDS and raw[0].istitle():
        return True           # one menu read alone ("File", "View"): OCR splits a menu bar
    # A menu's entries are capitalised: "Unsupported file format for file ..." is a message.
    menu = sum(w.lower() in _MENU_WORDS and w[:1].isupper() for w in raw)
    if len(raw) >= 3 and menu >= max(2, (len(raw) + 1) // 2):
        return True
    return len(raw) >= 4 and menu >= 2 and all(w[:1].isupper() and w.isalpha() for w in raw)


# A terminal's title bar that names only the shell or the terminal ("bash", "xterm"): the
# program running in it (a pager, an editor, a text browser) names what the screen shows.
_SHELL = re.compile(r"(?i)^\W*(?:(?:ba|z|k|c|tc|da|fi|a)?sh|u?xterm|u?rxvt|terminal|konsole|"
                    r"lxterminal|xfce4-terminal|gnome-terminal|terminator|tilix|alacritty|"
                    r"kitty|foot|st)\W*$")


# A control's label read on the top row or alone: a header bar's "Open" button, a toolbar's
# "Zoom In". A window is not called by them.
_CONTROL = re.compile(r"(?i)^\W*(?:open|save|save as|new|close|cancel|ok|quit|exit|menu|back|"
                      r"forward|reload|search|zoom in|zoom out|fit width|fit page|undo|redo)\W*$")


_CRUMB_END = re.compile(r"\s[»›]\s*$")
# A mail's subject header: what a person calls a mail on screen, whatever the window says.
_SUBJECT = re.compile(r"^\s*subject\s?:\s*\S", re.I)


def _names_something(text: str) -> bool:
    return len(_LETTERS.findall(text)) >= 3 and not _CLOCK_OR_NUMBER.match(text)


def _names_no_window(text: str) -> bool:
    """A bare shell's or a control's name ("bash", "Open", "Zoom In"), or the first crumb of a
    site's breadcrumb trail ("Python »" atop a page shown without the browser): never a title
    bar."""
    return bool(_SHELL.match(text) or _CONTROL.match(text) or _CRUMB_END.search(text))


def _labels_a_control(text: str) -> bool:
    """A button's, a toolbar's or a bare shell's name: no screen is called by it."""
    return bool(BUTTON.match(text.strip())) or _names_no_window(text)


def title_bar(lines: list[dict[str, Any]]) -> int | None:
    """The 1-based number of the line read as the window's title bar: the first line of the
    topmost row of text (a window need not be maximised) that names something and is not a menu
    bar or a bare shell's name; None when that row has none (an icon, a clock, "bash")."""
    if not lines:
        return None
    top = min(l["box"][1] for l in lines)
    for n, line in enumerate(lines, 1):
        if line["box"][1] <= top + ROW and _names_something(line["text"]) \
                and not is_menu_bar(line["text"]) and not _names_no_window(line["text"]):
            return n
    return None


def title_lines(lines: list[dict[str, Any]], kind: str | None = None) -> list[int]:
    """The numbers of the lines that may be the title: an e-mail's subject line when the screen
    is a mail (a terminal client's title bar says "mutt"); else only the title bar when there
    is one, else every line that names something and is not a menu bar (every line, if none
    does)."""
    if kind == "email" and (subject := next((n for n, l in enumerate(lines, 1)
                                             if _SUBJECT.match(l["text"])), None)):
        return [subject]
    if (bar := title_bar(lines)) is not None:
        return [bar]
    named = [n for n, l in enumerate(lines, 1)
             if _names_something(l["text"]) and not is_menu_bar(l["text"])]
    # A button's label ("Close", "Cancel") or a bare shell's name names no screen while
    # another line does.
    labelled = [n for n in named if not _labels_a_control(lines[n - 1]["text"])]
    return labelled or named or list(range(1, len(lines) + 1))
