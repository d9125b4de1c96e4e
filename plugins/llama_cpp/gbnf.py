"""JSON schema -> GBNF (llama.cpp's grammar format), with the literals written by us.

llama-cpp-python's converter (0.3.36) writes an enum or const value as
``_format_literal(json.dumps(value))``, and ``_format_literal`` escapes only CR, LF and ``"``, not
the backslash. So any value whose JSON text holds a backslash breaks: ``a"b`` (JSON ``"a\\"b"``)
becomes a literal that ends early and llama.cpp rejects the grammar, and JSON escapes such as
``\\u001b`` or ``\\\\`` are read by GBNF as escapes of its own, so the grammar forces a raw ESC
(invalid JSON) or a lone backslash into the answer. OCR lines and note lines become enum values,
so this is data, not our code, that decides.

Here the library's converter is kept for everything else (objects, arrays, unions, references,
strings with lengths, and patterns, whose regex escapes it copies through on purpose) and only
literals are ours: ``json_text`` gives a value's JSON text, ``gbnf_literal`` a GBNF literal that
matches exactly a given text. The choice decoder uses the same ``json_text`` for its options, so
both decoding paths write a value the same way.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from typing import Any

# Characters never written raw into JSON text or a GBNF literal: controls (C0, DEL, C1),
# format characters (bidi overrides, zero-width marks), line/paragraph separators, private use,
# unassigned code points and lone surrogates (which cannot even be UTF-8).
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})

# A character of a JSON string in an open (generated) value. The library's rule is
# `[^"\\]`, which lets the model write raw control characters: JSON forbids them
# (json.loads: "Invalid control character"), and upstream llama.cpp excludes them too.
JSON_STRING_CHAR = (
    r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] '
    r"[0-9a-fA-F])"
)


def is_unsafe(char: str) -> bool:
    return unicodedata.category(char) in UNSAFE_CATEGORIES


def json_text(value: Any) -> str:
    """``value`` as JSON text the way the model is to write it: ``json.dumps``'s layout, other
    scripts as they are (the model reads and writes them as text, not as ``\\u`` escapes), and
    every unsafe character as a JSON ``\\u`` escape, so a constraint never forces a raw control
    or bidi character into an answer, and a lone surrogate still has a text.

    ``json.loads(json_text(v)) == v``, except that a str holding a high surrogate followed by a
    low one loads as the character they encode: JSON cannot tell the two apart."""
    text = json.dumps(value, ensure_ascii=False)
    if text.isprintable():
        return text
    # Outside strings json.dumps writes printable ASCII only, so every unsafe character here is
    # inside a string, where a \u escape means that character.
    return "".join(_json_escape(c) if is_unsafe(c) else c for c in text)


def gbnf_literal(text: str) -> str:
    """A GBNF string literal that matches exactly ``text``. ValueError for a lone surrogate:
    no UTF-8 output can match it (write it as JSON text first, ``json_text``)."""
    if text.isprintable():
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    out = []
    for c in text:
        if c in '\\"':
            out.append("\\" + c)
        elif is_unsafe(c):
            out.append(_gbnf_escape(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def schema_to_gbnf(schema: dict[str, Any], lead: str = "", trail: str = "") -> str:
    """The GBNF of one JSON value of ``schema``, with the literal texts ``lead`` before it and
    ``trail`` after it. Raises what the library's converter raises for a schema it does not
    support (AssertionError, ValueError, KeyError...)."""
    converter = _converter_class()(
        prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False
    )
    # A copy: resolve_refs rewrites "$ref" values in place.
    schema = converter.resolve_refs(json.loads(json.dumps(schema)), "stdin")
    converter.visit(schema, "")
    if lead or trail:
        rules = converter._rules
        value = converter._add_rule("root-value", rules.pop("root"))
        parts = [gbnf_literal(lead)] if lead else []
        parts.append(value)
        parts += [gbnf_literal(trail)] if trail else []
        rules["root"] = " ".join(parts)
    return converter.format_grammar()


@functools.cache
def _converter_class() -> type:
    # llama_cpp loads the native library: imported only where a grammar is built (the worker).
    from llama_cpp import llama_grammar

    class Converter(llama_grammar.SchemaConverter):
        """The library's converter with our literals. ``_visit_pattern`` does not go through
        ``_format_literal``: patterns are converted exactly as before."""

        def _format_literal(self, literal: str) -> str:
            # Called with json.dumps(property name): that text, matched exactly.
            return gbnf_literal(literal)

        def _generate_constant_rule(self, value: Any) -> str:   # const and enum members
            return gbnf_literal(json_text(value))

        def visit(self, schema: dict[str, Any], name: str) -> str:
            # A member's rule is named after its key, and the name "" means the root: a key ""
            # would take the root's place (its value alone would be the whole grammar).
            if not name and getattr(self, "_root_visited", False):
                name = "empty-key"
            self._root_visited = True
            return super().visit(schema, name)

        def _add_primitive(self, name: str, rule: Any) -> str:
            if name == "char":
                rule = llama_grammar.BuiltinRule(JSON_STRING_CHAR, [])
            return super()._add_primitive(name, rule)

    return Converter


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000   # JSON escapes are UTF-16: a surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def _gbnf_escape(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        raise ValueError(f"lone surrogate U+{code:04X} in a grammar literal")
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
