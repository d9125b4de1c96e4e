"""Characters a model's answer may not carry into the store or a terminal."""

from __future__ import annotations

import re
from typing import Any

# C0/C1 controls but tab and newline, DEL, and the bidi embeddings, overrides and isolates: a
# model can write them through JSON \u escapes (a title holding ESC ] 52 ... sets the clipboard
# of the terminal that prints it). Stripped from every string of an answer before validation.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_controls(value: Any) -> Any:
    """``value`` (freshly parsed JSON, changed in place) with the characters above removed from
    every string and key. Iterative, like ``tasks._reject_non_finite``: output may nest deeply."""
    if isinstance(value, str):
        return _UNSAFE.sub("", value)
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key in [k for k in node if _UNSAFE.search(k)]:
                node[_UNSAFE.sub("", key)] = node.pop(key)
            items = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            continue
        for key, item in list(items):
            if isinstance(item, str):
                node[key] = _UNSAFE.sub("", item)
            else:
                stack.append(item)
    return value
