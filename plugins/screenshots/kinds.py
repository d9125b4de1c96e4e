"""Which kind of screen it is: the signs code can spot (message times in a chat, an address
bar, "Error code: ..."), and the kinds the model may choose from them."""

from __future__ import annotations

import re

# Words that mark each kind of screen. They are shown to the model as *signs*, not a verdict:
# an e-mail about an error has both kinds of words, and the model weighs them.
_SIGNS: dict[str, re.Pattern[str]] = {
    "chat": re.compile(r"\b(type a message|online|typing|last seen|delivered)\b", re.I),
    "email": re.compile(r"(\b(inbox|subject:|from:|to:|cc:|reply all|reply|forward|drafts)"
                        r"(?!\w)|\b[\w.+-]+@[\w-]+\.\w+)", re.I),
    "error_dialog": re.compile(r"\b(error|failed|could not|cannot|can't|unable to|exception|"
                               r"warning|retry|try again)\b", re.I),
    "web_page": re.compile(r"(https?://|\bwww\.|\badd to cart\b|\bsign in\b|\blog in\b|"
                           r"\bcheckout\b|\bcookies\b|\bshipping\b)", re.I),
    "code": re.compile(r"(\bdef |\bimport |\bclass |\breturn\b|\bfunction\b|=>|#include|"
                       r"[{};]\s*$|\bconst |\bvar |\blet )"),
    "document": re.compile(r"\b(page \d+|chapter|section|contents|abstract|introduction)\b",
                           re.I),
}
_CLOCK = re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?:\s?[ap]m)?(?![\d:])", re.I)

# What each kind means, for the prompt. app, document and other are always offered; a specific
# kind only when code found its signs on the screen (see ``allowed_kinds``).
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
ALWAYS = ("app", "document", "other")


def find_signs(lines: list[str]) -> dict[str, list[str]]:
    """Which kinds of screen the text looks like, with the words that say so (at most 4 each)."""
    signs: dict[str, list[str]] = {}
    clocks = [m.group(0) for t in lines for m in _CLOCK.finditer(t)]
    if len(clocks) >= 3:
        signs["chat"] = [f"{len(clocks)} message times ({', '.join(clocks[:3])})"]
    for kind, pattern in _SIGNS.items():
        words = []
        for t in lines:
            words += [m.group(0).strip() for m in pattern.finditer(t)]
        words = list(dict.fromkeys(w.lower() for w in words))
        if words:
            signs.setdefault(kind, []).extend(f"'{w}'" for w in words[:4])
    long_lines = sum(1 for t in lines if len(t) > 60)
    if len(lines) >= 8 and long_lines >= len(lines) / 2:
        signs.setdefault("document", []).append(f"{long_lines} long lines of prose")
    # Strongest first: more distinct signs = more likely.
    return dict(sorted(signs.items(), key=lambda kv: -len(kv[1])))


def likely_kind(signs: dict[str, list[str]]) -> str | None:
    """The kind with clearly the most signs (at least two, and more than any other), or None."""
    ranked = sorted(((len(v), k) for k, v in signs.items()), reverse=True)
    if ranked and ranked[0][0] >= 2 and (len(ranked) == 1 or ranked[0][0] > ranked[1][0]):
        return ranked[0][1]
    return None


def allowed_kinds(signs: dict[str, list[str]]) -> list[str]:
    """The kinds the model may choose: those whose signs are on the screen, then the generic
    ones. Why narrow it: with every kind open, Qwen 0.5B called the error dialog and the e-mail
    samples "chat" under some wordings of the prompt; a kind is now grounded like a value."""
    return [k for k in KIND_HELP if k in signs and k not in ALWAYS] + list(ALWAYS)
