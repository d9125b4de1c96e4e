"""Which kind of screen it is: the signs code can spot in the OCR lines (lines that start with a
message time, mail headers, lines of code, an address bar, a short message box), each with a
weight, and the kinds the model may choose from them.

Why weights and a decision in code: on screens-dev the 0.5B model was told "most signs point to
email" and still answered ``app`` for both mail clients of the tuning half; its choice of kind
follows its own summary more than the evidence. Where the signs are clear (``clear_kind``) the
kind is the only one offered; where they are not, the model chooses among the kinds that have
signs and the generic ones.
"""

from __future__ import annotations

import re

_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:\s?[ap]\.?m\.?)?"
# A message time leads the line ("17:01 <mrvn> ...", "[17:03:47]", "10:02", "9:41 PM"):
# a clock inside a line (top's "16:54:57 up 1:12") or a lone taskbar clock is not a chat.
LEADING_TIME = re.compile(rf"^[\[(]?{_TIME}(?![\d:])[\])]?(\s|$)", re.I)
# A date alone: OCR reads a log's stamp "2025-06-24 14:36:25" as two boxes when the viewer
# colours them apart, and the time's box then leads a line of its own (lnav, screens-fresh13).
_DATE_ALONE = re.compile(r"^[\[(]?(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
                         r"|[A-Z][a-z]{2}\s+\d{1,2})T?$")


def message_times(lines: list[str]) -> list[str]:
    """The lines that lead with a message time: not a time right after a date alone, which is
    the second half of a log's stamp (a chat client stamps a message with its time)."""
    strip = [t.strip() for t in lines]
    return [t for i, t in enumerate(strip) if LEADING_TIME.match(t)
            and not (i and _DATE_ALONE.match(strip[i - 1]))]
# "<Joey> ...", "*** nick has quit", "10:02 * nick waves", after a stamp a log or client puts
# first ("1796511175 <sel> ...", "2026-12-05 10:02 <sel> ...", "[10:02] <sel> ..."), and a
# channel's or server's name before it ("#plug : 12/06/26 00:31 <szur> ..."); not a line of
# markup ("<p>Text</p>"). One star needs a stamp: "* The secure shell" is a bullet.
_CHAT_SOURCE = r"(?:[^\s<>]{0,30}\s?:\s+)?"
_STAMP = r"[\[(]?\d[\d:./T-]{3,}[\])]?\s+"
SPEAKER = re.compile(rf"^{_CHAT_SOURCE}(?:(?:{_STAMP}){{0,2}}"
                      rf"(?:<[@+%~&]?[^<>\s/]{{1,32}}>|\*{{2,3}} \S+)"
                      rf"|(?:{_STAMP}){{1,2}}\* \S+)\s+\S(?!.*</|.*/>)")
_CHAT_WORDS = re.compile(r"\b(type a message|is typing|last seen|has joined|has left|has quit|"
                         r"joined the (?:channel|room|chat)|left the (?:channel|room|chat)|"
                         r"changed the topic|send a message|new messages?|unread messages?)\b",
                         re.I)
# "From: ..." or, in a client that sets headers out as a table, the name alone ("From" over
# its value, "Subject Re: ..."), counted when a subject is among them.
MAIL_HEADER = re.compile(r"^(from|to|cc|bcc|subject|date|reply-to|sender)\s?:", re.I)
_BARE_HEADER = re.compile(r"^(from|to|cc|subject|date)$|^(subject)\s+\S", re.I)
# A mail client's own buttons, each read alone ("Get Messages", "Reply", "Forward", "Archive").
_MAIL_BUTTON = re.compile(r"^\W{0,3}(get messages|reply|reply all|forward|archive|spam|junk|"
                          r"compose|write|new message|mark as read)$", re.I)
# A document viewer's own controls: a page counter ("12 of 50") or "Fit Width", and a zoom.
_PAGE_COUNTER = re.compile(r"^\s*(?:page\s+)?\d+\s*(?:of|/)\s*\d+\s*$|^\s*fit (?:width|page)\s*$",
                           re.I)
_ZOOM = re.compile(r"^\s*zoom (?:in|out)\s*$|^\s*\d{2,3}\s?%\s*$", re.I)
_MAIL_WORDS = re.compile(r"\b(inbox|drafts|sent items|outbox|junk|reply all|forward|"
                         r"compose|mailbox|attachments?|message \d+ of \d+|folder:)", re.I)
# An address with a real top-level domain: "guest@127.0.0.1" in an IRC join line is not mail.
ADDRESS = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.I)
ERROR_WORDS = re.compile(r"\b(error|failed|failure|could not|couldn't|cannot|can't|unable to|"
                          r"exception|warning|fatal|denied|not found|no such file|"
                          r"retry|try again)\b", re.I)
BUTTON = re.compile(r"^(ok|cancel|close|retry|yes|no|abort|ignore|continue|try again|"
                     r"don'?t save|discard|details|show details|report|help)$", re.I)
# An address bar: a line that is one address and nothing else (scheme://..., a known top-level
# domain, or a host with a path: "localhost:8765/doc/x.html", "10.0.0.2/admin"). A link inside a
# sentence is only a hint: documents and mails cite sites too.
ADDRESS_BAR = re.compile(
    r"^(?:[a-z][\w+.-]*://\S+|(?:www\.)?[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|dev|edu|gov|de|uk|"
    r"fr|info)(?::\d{2,5})?(?:/\S*)?|(?:localhost|\d{1,3}(?:\.\d{1,3}){3}|[\w-]+(?:\.[\w-]+)+)"
    r"(?::\d{2,5})?/\S*)$", re.I)
_NAV_WORDS = set("next previous prev up home contents index top module modules topics "
                 "keywords search".split())
_TEXINFO_NAV = re.compile(r"\bNext:\s.{1,60}\b(?:Previous|Prev):\s.{1,60}\bUp:\s")
_CRUMB = re.compile(r"\S\s[»›]\s\S")
_SCHEME = re.compile(r"^[a-z][\w+.-]*://", re.I)
LINK = re.compile(r"(https?://|\bwww\.)\S+", re.I)
# A document viewer or editor names its file in the title bar ("gv: spec.pdf", "notes.txt -
# Mousepad"): a file of prose among the first lines, where the title bar is read.
_DOCUMENT_FILE = re.compile(r"[\w-]\.(pdf|ps|djvu|epub|odt|docx?|rtf|txt)\b", re.I)
_TITLE_LINES = 4
_BROWSER = re.compile(r"\b(mozilla firefox|firefox|chromium|google chrome|microsoft edge|safari|"
                      r"epiphany|konqueror|falkon|lynx|w3m|elinks)\s*$", re.I)
_NAV = re.compile(r"^(prev|previous|next|up|home|back|search|menu|sign in|log in|login|"
                  r"sign up|register|privacy|terms|contact|about|cookies|accept all|"
                  r"skip to (?:main )?content|table of contents)$", re.I)
# A line of code: a statement's ending, a keyword that opens one, an assignment, a call with
# parentheses around arguments at the end (not a count after a label: "Fonts (13)"), a Lisp
# form; or a shell prompt (the "code" kind is also a terminal).
CODE = re.compile(
    r"([;{}]\s*$|(?<!\(\d)(?<!\(\d\d)(?<!\(\d{3})(?<!\(\d{4})\)\s*:?\s*$"
    r"|^\s*(def|class|import|from \S+ import|return|if|elif|else|for|"
    r"while|switch|case|function|const|let|var|public|private|protected|static|void|int|"
    r"#include|#define|package|func|fn|use|module|struct|enum|async|await)\b|"
    r"^\s*[\w.$@\[\]>-]+\s*[-+*/.|&]?=\s*\S|^\s*\((def\w*|let\*?|setq|if|when|unless|lambda)\b|"
    r"^\s*(//|/\*|\*/|;;|>>>)\s?|^\S*[@:~]\S*[$#]\s|^\$ \S)")
PROMPT = re.compile(r"^\S*[@:~]\S*[$#]\s+\S|^\$ \S")      # "alex@vm:~/src$ make", "$ ls"
PROSE_WORD = re.compile(r"[^\W\d_]{2,}")
LETTERS = re.compile(r"[^\W\d_]")
SENTENCE_WORD = re.compile(r"(?<!\S)[^\W\d_]{2,}[,.;:!?]?(?!\S)")   # a word between spaces
_PICTURE_LINES = 8      # lines with a word on a picture's screen: a title, a caption, a status
_SECTION_WORDS = re.compile(r"\b(page \d+|chapter|section|contents|abstract|introduction)\b",
                            re.I)

# What each kind means, for the prompt. app and other are always offered; every other kind,
# document included, only when code found its signs on the screen (see ``allowed_kinds``):
# offered "document" on screens without a line of prose, the 0.5B model took it for a calendar,
# an archive manager and two image viewers of the tuning half.
KIND_HELP = {
    "chat": "a messenger conversation",
    "email": "an e-mail message or mail app",
    "error_dialog": "an error or warning message box",
    "web_page": "a site in a browser",
    "code": "source code or a terminal",
    "document": "a page of prose",
    "app": "any other application screen",
    "other": "none of these",
}
ALWAYS = ("app", "other")
_HOLD_PROSE = ("chat", "email", "web_page")


def distinct(pattern: re.Pattern[str], lines: list[str]) -> list[str]:
    words = [m.group(0).strip() for t in lines for m in pattern.finditer(t)]
    return list(dict.fromkeys(w.lower() for w in words))


Sign = tuple[str, int, str]      # (kind, weight: 1 a hint, 2 a clear sign, what says so)


def weigh_signs(lines: list[str]) -> dict[str, tuple[int, list[str]]]:
    """Per kind: the weight of its signs and what they are, strongest first."""
    # Lines with words: OCR reads an editor's line numbers and an icon as lines of their own.
    n = sum(1 for t in lines if len(LETTERS.findall(t)) >= 2)
    times = message_times(lines)
    timed = set(times)
    conversation = [t for t in lines if t.strip() in timed or SPEAKER.match(t.strip())]
    found: dict[str, list[tuple[int, str]]] = {}
    for kind, weight, says in [*_chat_signs(lines, times), *_mail_signs(lines),
                               *_dialog_signs(lines, n),
                               *_web_signs(lines), *_code_signs(lines, n),
                               *_prose_signs(lines, n, conversation)]:
        found.setdefault(kind, []).append((weight, says))
    weighed = {k: (sum(w for w, _ in v), [s for _, s in v]) for k, v in found.items()}
    if max((w for w, _ in weighed.values()), default=0) < 2:
        for kind, weight, says in _picture_signs(lines, n):
            weighed[kind] = (weight, [says])
    return dict(sorted(weighed.items(), key=lambda kv: -kv[1][0]))


def _chat_signs(lines: list[str], times: list[str]) -> list[Sign]:
    """``times``: the lines that lead with a message time (``message_times``)."""
    out: list[Sign] = []
    if len(times) >= 3:
        out.append(("chat", 3 if len(times) >= 5 else 2,
                    f"{len(times)} lines start with a message time ({times[0].strip()[:12]})"))
    speakers = [t for t in lines if SPEAKER.match(t.strip())]
    if len(speakers) >= 2:
        out.append(("chat", 3 if len(speakers) >= 5 else 2,
                    f"{len(speakers)} lines start with a speaker ({speakers[0][:20]})"))
    if words := distinct(_CHAT_WORDS, lines):
        out.append(("chat", 1, ", ".join(f"'{w}'" for w in words[:3])))
    return out


def _mail_signs(lines: list[str]) -> list[Sign]:
    out: list[Sign] = []
    headers = list(dict.fromkeys(m.group(1).lower() for t in lines
                                 if (m := MAIL_HEADER.match(t.strip()))))
    bare = list(dict.fromkeys((m.group(1) or m.group(2)).lower() for t in lines
                              if (m := _BARE_HEADER.match(t.strip()))))
    if "subject" in bare and len(bare) >= 2:     # a "Date" column alone is a file list's
        headers = list(dict.fromkeys(headers + bare))
    if headers:
        out.append(("email", 2 if len(headers) >= 2 else 1,
                    "mail headers " + ", ".join(f"'{h}:'" for h in headers[:4])))
    if len(buttons := distinct(_MAIL_BUTTON, [t.strip() for t in lines])) >= 3:
        out.append(("email", 2, "a mail client's buttons " + ", ".join(buttons[:3])))
    elif words := distinct(_MAIL_WORDS, lines):
        out.append(("email", 1, ", ".join(f"'{w}'" for w in words[:3])))
    if addresses := distinct(ADDRESS, lines):
        out.append(("email", 1, "addresses " + ", ".join(addresses[:2])))
    return out


def _dialog_signs(lines: list[str], n: int) -> list[Sign]:
    out: list[Sign] = []
    if words := distinct(ERROR_WORDS, lines):
        out.append(("error_dialog", 1, ", ".join(f"'{w}'" for w in words[:3])))
    buttons = distinct(BUTTON, [t.strip() for t in lines])
    if buttons and n <= 15:
        out.append(("error_dialog", 1, "buttons " + ", ".join(buttons[:3])))
    if 1 <= n <= 8 and any(len(SENTENCE_WORD.findall(t)) >= 4 for t in lines):
        out.append(("error_dialog", 1, f"a short message ({n} lines)"))
    return out


def _web_signs(lines: list[str]) -> list[Sign]:
    out: list[Sign] = []
    addresses = distinct(ADDRESS_BAR, [t.strip() for t in lines])
    # A browser's address bar shows the address without its scheme (Chromium, Safari, current
    # Firefox); one written out with "http://" alone on its line is as often a document's
    # own heading ("http://ngircd.barton.de/" under a README's title): a hint.
    addresses = [a for a in addresses if not _SCHEME.match(a)] + distinct(_BROWSER, lines)
    if addresses:
        out.append(("web_page", 2, ", ".join(a[:40] for a in addresses[:2])))
    elif links := distinct(LINK, lines):
        out.append(("web_page", 1, "a link " + links[0][:40]))
    # A site's breadcrumb trail ("3.11.2 Documentation » The Python Tutorial » 4. More ..."),
    # shown with or without the browser around the page.
    if crumbs := [t for t in lines if len(_CRUMB.findall(t)) >= 2]:
        out.append(("web_page", 2, "a breadcrumb trail " + crumbs[0].strip()[:40]))
    # A site's navigation row, read as one line ("Next Previous Contents", "| previous | next |
    # modules | index", "Next: Thread Safety, Previous: ..., Up: ..." of Texinfo's HTML; an Info
    # reader's header names its "Node:" and is a document's).
    if rows := [t for t in lines if _nav_row(t)]:
        out.append(("web_page", 2, "a navigation row " + rows[0].strip()[:40]))
    nav = distinct(_NAV, [t.strip() for t in lines])
    if len(nav) >= 2:
        out.append(("web_page", 1, "navigation " + ", ".join(nav[:3])))
    return out


def _nav_row(line: str) -> bool:
    words = [w.lower() for w in re.findall(r"[^\W\d_]+", line)]
    if _TEXINFO_NAV.search(line) and "node" not in words:
        return True
    return len(set(words)) >= 2 and all(w in _NAV_WORDS for w in words) \
        and not re.search(r"\d", line)        # top's "top - 16:54:57 up 1:12" is no row


def _code_signs(lines: list[str], n: int) -> list[Sign]:
    code = [t for t in lines if CODE.search(t)]
    if len(code) >= 4 and len(code) >= n / 4:
        return [("code", 2, f"{len(code)} of {n} lines read as code")]
    # A terminal session: its commands' output (a listing, a log) may outnumber them.
    if len(prompts := [t for t in lines if PROMPT.match(t)]) >= 3:
        return [("code", 2, f"a terminal: {len(prompts)} command lines")]
    return [("code", 1, f"{len(code)} lines read as code")] if len(code) >= 2 else []


def _prose_signs(lines: list[str], n: int, conversation: list[str]) -> list[Sign]:
    """Long lines of words that are not code and not a chat's messages."""
    out: list[Sign] = []
    prose = [t for t in lines if len(t) > 60 and len(PROSE_WORD.findall(t)) >= 8
             and not CODE.search(t) and t not in conversation]
    if len(prose) >= 8 or (n >= 8 and len(prose) >= n / 2):
        out.append(("document", 2, f"{len(prose)} of {n} lines are prose"))
    elif len(prose) >= 5:
        out.append(("document", 1, f"{len(prose)} lines of prose"))
    if words := distinct(_SECTION_WORDS, lines):
        out.append(("document", 1, ", ".join(f"'{w}'" for w in words[:3])))
    # A manual page, in a pager or a browser: its NAME and SYNOPSIS sections.
    if {"NAME", "SYNOPSIS"} <= {t.strip() for t in lines}:
        out.append(("document", 2, "a manual page"))
    if any(_PAGE_COUNTER.match(t) for t in lines) and any(_ZOOM.match(t) for t in lines):
        out.append(("document", 2, "a document viewer's page and zoom controls"))
    if files := distinct(_DOCUMENT_FILE, lines[:_TITLE_LINES]):
        out.append(("document", 1, f"a .{files[0].rsplit('.', 1)[-1]} file open"))
    return out


def _picture_signs(lines: list[str], n: int) -> list[Sign]:
    """No line holds three words, few lines hold a word, and no other kind has a clear sign:
    what the screen shows is a picture, not text (an image viewer, a game, a demo). An app's
    screen has a menu or a status line of words; a calculator's keys or a file manager's
    listing are many lines of one word or two (25-37 on the sets), a picture's text a few."""
    if n > _PICTURE_LINES or any(len(SENTENCE_WORD.findall(t)) >= 3 for t in lines):
        return []
    return [("other", 2, "no line of three words: a picture more than text")]


def find_signs(lines: list[str]) -> dict[str, list[str]]:
    """Which kinds of screen the text looks like, with what says so, strongest first."""
    return {k: says for k, (_, says) in weigh_signs(lines).items()}


def _ranked(lines: list[str]) -> list[tuple[int, str]]:
    return sorted(((w, k) for k, (w, _) in weigh_signs(lines).items()), reverse=True)


def likely_kind(lines: list[str]) -> str | None:
    """The kind with the most weight (a clear sign at least) and more than any other, or None."""
    ranked = _ranked(lines)
    if ranked and ranked[0][0] >= 2 and (len(ranked) == 1 or ranked[0][0] > ranked[1][0]):
        return ranked[0][1]
    return None


def clear_kind(lines: list[str]) -> str | None:
    """The kind code decides without the model: clear signs (weight 2 or more) with at least
    twice the weight of any other kind's. Prose does not argue against a chat, an e-mail or a
    web page: they hold prose."""
    ranked = _ranked(lines)
    if any(k in _HOLD_PROSE and w >= 2 for w, k in ranked):
        # A page of a manual in a browser is a web page: the document's signs do not count.
        ranked = [(w, k) for w, k in ranked if k != "document"]
    if not ranked or ranked[0][0] < 2:
        return None
    (top, kind), rivals = ranked[0], ranked[1:]
    return kind if not rivals or top >= 2 * rivals[0][0] else None


def allowed_kinds(lines: list[str]) -> list[str]:
    """The kinds the model may choose: only the clear kind when there is one; else those whose
    signs are on the screen, then the generic ones (app, other). Why narrow it: with every kind open, Qwen
    0.5B called the error dialog and the e-mail samples "chat" under some wordings of the
    prompt; a kind is grounded like a value."""
    if clear := clear_kind(lines):
        return [clear]
    signs = weigh_signs(lines)
    return [k for k in KIND_HELP if k in signs and k not in ALWAYS] + list(ALWAYS)
