"""Our JSON-schema -> GBNF literals (plugins/llama_cpp/gbnf.py): any text an OCR line or a note
can hold becomes an enum/const literal that llama.cpp compiles and that matches exactly the
value's JSON text, on both decoding paths (choices and whole-answer grammar)."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

from mustelid import PermanentError  # noqa: E402
from mustelid.backend import BackendContext  # noqa: E402
from mustelid.config import Config  # noqa: E402
from mustelid.plugins.llama_cpp import LlamaCppBackend  # noqa: E402
from mustelid.plugins.llama_cpp import grammar as grammar_module  # noqa: E402
from mustelid.plugins.llama_cpp.choices import Choice, compile_schema  # noqa: E402
from mustelid.plugins.llama_cpp.gbnf import (  # noqa: E402
    gbnf_literal, is_unsafe, json_text, schema_to_gbnf,
)
from mustelid.plugins.llama_cpp.grammar import Grammars  # noqa: E402

try:
    from tinygguf import write_tiny_gguf
except ImportError:  # tests/ imported as a package
    from tests.tinygguf import write_tiny_gguf

HOSTILE = 'he said "hi" \\ C:\\path \x1b[31m'
# Characters the converter has to get right, mixed into arbitrary text so each example has some.
AWKWARD = ('"', "\\", "\x00", "\x1b", "\n", "\r", "\t", "\x7f", "\x9b", "\u00a0", "\u200f",
           "\u202e", "\u2028", "\u2029", "\ufeff", "\ufffe", "\ud800", "\udbff", "\udc80",
           "\udfff", "\ue000", "\U000e0001", "\U0010ffff", "😀", "\u05e9\u05dc\u05d5\u05dd",
           "\u0645\u0631\u062d\u0628\u0627", "\u4e2d\u6587", "é", "e\u0301", "[", "]", "|",
           "::=", "u", "x", "/", "'")
TEXT = st.lists(st.one_of(st.characters(exclude_categories=()), st.sampled_from(AWKWARD)),
                max_size=30).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="module")
def backend(tiny_path):
    cfg = Config()
    cfg.model.path = tiny_path
    cfg.model.threads = 1
    cfg.backend["llama_cpp"] = {"n_ctx": 512}
    b = LlamaCppBackend(BackendContext.from_config(cfg))
    yield b
    b.close()


def compiles(llm, gbnf: str) -> bool:
    """What Grammars checks: llama.cpp parses the grammar into a sampler (NULL if it cannot)."""
    from llama_cpp import llama_cpp as lib

    sampler = lib.llama_sampler_init_grammar(
        lib.llama_model_get_vocab(llm.model), gbnf.encode("utf-8"), b"root")
    if not sampler:
        return False
    lib.llama_sampler_free(sampler)
    return True


# -- reading GBNF the way llama.cpp does (its parse_char), independently of gbnf.py ----------

_LITERAL = re.compile(r'"((?:\\.|[^"\\])*)"', re.S)
_SIMPLE = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\", '"': '"', "[": "[", "]": "]"}
_HEX = {"x": 2, "u": 4, "U": 8}


def unescape(body: str) -> str:
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
        elif body[i + 1] in _SIMPLE:
            out.append(_SIMPLE[body[i + 1]])
            i += 2
        else:
            n = _HEX[body[i + 1]]    # anything else is "unknown escape" to llama.cpp
            out.append(chr(int(body[i + 2:i + 2 + n], 16)))
            i += 2 + n
    return "".join(out)


def root_literals(gbnf: str) -> list[str]:
    (rule,) = [line for line in gbnf.splitlines() if line.startswith("root ::= ")]
    return [unescape(m.group(1)) for m in _LITERAL.finditer(rule)]


def as_json_reads(value):
    """What JSON can say: a str's high + low surrogate pair is the character they encode (the
    converter copies the schema through JSON, so its literals hold that character)."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")
    if isinstance(value, list):
        return [as_json_reads(v) for v in value]
    if isinstance(value, dict):
        return {as_json_reads(k): as_json_reads(v) for k, v in value.items()}
    return value


def assert_means(text: str, value) -> None:
    assert json.loads(text) == as_json_reads(value)
    assert not any(is_unsafe(c) for c in text)   # no raw control/bidi/surrogate is ever forced


# -- arbitrary text ------------------------------------------------------------------------------


@FAST
@given(values=st.lists(TEXT, min_size=1, max_size=5, unique=True))
def test_any_enum_of_strings_converts_compiles_and_matches_its_json_text(backend, values):
    schema = {"type": "string", "enum": values}
    gbnf = schema_to_gbnf(schema)
    literals = root_literals(gbnf)
    assert literals == [json_text(as_json_reads(v)) for v in values]
    for text, value in zip(literals, values):
        assert_means(text, value)
    assert compiles(backend.llm, gbnf)
    Grammars(backend.llm)(schema)                      # the production check passes too
    # The choice decoder's options are JSON texts of the same values, each tokenizable (UTF-8).
    plan = compile_schema(schema)
    assert plan == Choice([json_text(v) for v in values])
    for option, value in zip(plan.options, values):
        assert_means(option, value)
        option.encode("utf-8")


@FAST
@given(value=JSON_VALUES)
def test_any_const_converts_compiles_and_matches_its_json_text(backend, value):
    gbnf = schema_to_gbnf({"const": value})
    (text,) = root_literals(gbnf)
    assert_means(text, value)
    assert compiles(backend.llm, gbnf)
    (option,) = compile_schema({"const": value}).options
    assert_means(option, value)
    assert option == json_text(value) and text == json_text(as_json_reads(value))


@FAST
@given(name=TEXT, lead=st.sampled_from(["", " "]),
       trail=st.sampled_from(["", "}", ", ", "]}"]))
def test_property_names_and_lead_and_trail_are_literals_too(backend, name, lead, trail):
    schema = {"type": "object", "properties": {name: {"type": "boolean"}}, "required": [name]}
    gbnf = schema_to_gbnf(schema, lead, trail)
    assert compiles(backend.llm, gbnf)
    keys = [unescape(m.group(1)) for m in _LITERAL.finditer(gbnf)
            if unescape(m.group(1)).startswith('"')]
    assert len(keys) == 1 and json.loads(keys[0]) == as_json_reads(name)
    rules = dict(line.split(" ::= ", 1) for line in gbnf.splitlines())
    value = rules["root"]
    if lead or trail:
        assert root_literals(gbnf) == [t for t in (lead, trail) if t]
        value = rules[re.search(r"root-value\d*", value).group()]
    assert value.startswith('"{" space')               # the object, whatever its key is called


def test_gbnf_literal_escapes_what_gbnf_reads_and_nothing_else():
    assert gbnf_literal('a"b\\c') == r'"a\"b\\c"'
    assert gbnf_literal("\x1b\n\x7f\u202e\U000e0001") == r'"\x1b\x0a\x7f\u202e\U000e0001"'
    assert gbnf_literal("é 中文 😀 \u05e9") == '"é 中文 😀 \u05e9"'
    with pytest.raises(ValueError):
        gbnf_literal("\ud800")
    assert json_text("\ud800x\U000e0001\x1b\u202e") == r'"\ud800x\udb40\udc01\u001b\u202e"'
    assert json_text({"k\x9b": ["é", 1.5, None]}) == r'{"k\u009b": ["é", 1.5, null]}'


# -- the old converter's bug, and what did not change --------------------------------------------


def test_the_bundled_converter_breaks_on_a_quote_and_ours_does_not(backend):
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    schema = {"type": "string", "enum": ['a"b']}
    old = json_schema_to_gbnf(json.dumps(schema))
    assert not compiles(backend.llm, old)              # the 37.5 % grammar_unavailable
    ours = schema_to_gbnf(schema)
    assert ours != old and compiles(backend.llm, ours)
    assert root_literals(ours) == ['"a\\"b"']


def test_the_bundled_converter_forces_a_raw_escape_and_ours_an_escaped_one():
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    schema = {"const": "red \x1b[31m"}
    (old,) = root_literals(json_schema_to_gbnf(json.dumps(schema)))
    with pytest.raises(json.JSONDecodeError):         # raw ESC in a JSON string
        json.loads(old)
    (ours,) = root_literals(schema_to_gbnf(schema))
    assert ours == r'"red \u001b[31m"' and json.loads(ours) == schema["const"]


@pytest.mark.parametrize("schema", [
    {"type": "object", "required": ["title", "kind", "n", "tags", "when", "code"], "properties": {
        "title": {"type": "string", "maxLength": 12},
        "kind": {"type": "string", "enum": ["todo", "idea", "dark blue"]},
        "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}, "minItems": 1, "maxItems": 3},
        "when": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
        "code": {"type": "string", "pattern": r'^\d{2}"x\.y$'}},
     "$defs": {"Tag": {"type": "object", "properties": {"t": {"const": "a b"}, "ok": {
         "type": "boolean"}}, "required": ["t"]}}},
    {"type": "string", "pattern": r"^a\.b|c(d)?[^\"]{1,3}$"},
    {"type": "array", "items": {"type": "number"}, "prefixItems": [{"type": "string"}]},
])
def test_schemas_without_awkward_text_convert_as_before(schema):
    """Only literals changed: patterns (regex escapes passed through on purpose), objects,
    arrays, unions and references come out exactly as the library writes them, with the JSON
    string character rule that was already swapped in."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    old = json_schema_to_gbnf(json.dumps(schema)).replace(
        r'char ::= [^"\\] |', r'char ::= [^"\\\x7F\x00-\x1F] |')
    assert schema_to_gbnf(schema) == old


def test_lead_and_trail_wrap_the_value_under_a_fresh_rule_name():
    schema = {"type": "object", "properties": {"root_value": {"enum": ["a"]}},
              "required": ["root_value"]}      # its rule is called root-value already
    gbnf = schema_to_gbnf(schema, " ", "}")
    rules = dict(line.split(" ::= ", 1) for line in gbnf.splitlines())
    assert rules["root"] == '" " root-value0 "}"'
    assert rules["root-value0"].startswith('"{" space root-value-kv')


def test_a_grammar_llama_cpp_rejects_fails_closed(backend, monkeypatch):
    # A NULL grammar sampler would crash or run unconstrained; it must be caught before sampling.
    monkeypatch.setattr(grammar_module, "schema_to_gbnf", lambda *a: "root ::= undefined-rule")
    monkeypatch.setattr(backend.llm, "create_chat_completion", lambda **kw: pytest.fail("ran"))
    with pytest.raises(PermanentError) as e:
        backend.generate([{"role": "user", "content": "x"}],
                         {"type": "string", "maxLength": 3}, max_tokens=20)
    assert e.value.reason == "grammar_unavailable"


# -- end to end on the tiny model ------------------------------------------------------------------


@pytest.mark.parametrize("choices", [True, False])
@pytest.mark.parametrize("wrap", [
    lambda e: e,
    lambda e: {"type": "object", "required": ["line", "ok"],
               "properties": {"line": e, "ok": {"type": "boolean"}}},
])
def test_a_hostile_enum_value_comes_out_as_exactly_that_value(backend, choices, wrap):
    schema = wrap({"type": "string", "enum": [HOSTILE]})
    backend.choice_decoding = choices
    try:
        gen = backend.generate([{"role": "user", "content": HOSTILE}], schema, max_tokens=120)
    finally:
        backend.choice_decoding = True
    assert backend.last_perf["decoder"] == ("choices" if choices else "grammar")
    assert gen.finish_reason == "stop"
    answer = json.loads(gen.text)
    assert (answer if isinstance(answer, str) else answer["line"]) == HOSTILE
    assert "\x1b" not in gen.text                     # escaped, never raw


def test_a_hostile_enum_inside_an_open_value_keeps_its_grammar(backend):
    # anyOf(enum, integer) is open: generated under its own grammar with lead and trail.
    schema = {"type": "object", "required": ["ok", "v"], "properties": {
        "ok": {"type": "boolean"},
        "v": {"anyOf": [{"type": "string", "enum": [HOSTILE, "a\\\"b"]},
                        {"type": "integer"}]}}}
    for text in ("x", "y " * 10, HOSTILE):
        gen = backend.generate([{"role": "user", "content": text}], schema, max_tokens=120)
        assert backend.last_perf["decoder"] == "choices" and gen.finish_reason == "stop"
        v = json.loads(gen.text)["v"]
        assert v in (HOSTILE, "a\\\"b") or isinstance(v, int)


def test_a_note_with_terminal_escapes_in_its_lines_is_answered_at_once(backend):
    """Issue 13's hostile note: ESC/OSC/C1/bidi characters in the quoted lines of a todos-shaped
    schema (an open array of const quotes, under one grammar) give valid JSON on the first
    generation, every quote exactly as on the note."""
    quotes = ["- pay \x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07 now", "- call \x9b2J\u202emom",
              '- fix "C:\\temp\\x"']

    def entry(quote):
        no = {"source_quote": {"const": quote}, "is_todo": {"const": False}}
        yes = {**no, "is_todo": {"const": True}, "title": {"type": "string", "maxLength": 8}}
        return {"anyOf": [{"type": "object", "properties": p, "required": list(p)}
                          for p in (no, yes)]}

    schema = {"type": "object", "required": ["review"], "properties": {"review": {
        "type": "array", "minItems": 3, "maxItems": 3, "prefixItems": [entry(q) for q in quotes]}}}
    for choices in (True, False):
        backend.choice_decoding = choices
        try:
            gen = backend.generate([{"role": "user", "content": "\n".join(quotes)}], schema,
                                   max_tokens=300)
        finally:
            backend.choice_decoding = True
        assert gen.finish_reason == "stop"
        review = json.loads(gen.text)["review"]
        assert [r["source_quote"] for r in review] == quotes
        assert not any(is_unsafe(c) for c in gen.text.replace("\n", ""))
