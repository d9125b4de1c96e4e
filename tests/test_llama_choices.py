"""Choice decoding (plugins/llama_cpp/choices/): which schemas are closed, and, on a tiny random
GGUF and on the real model, that what it decodes is what greedy decoding under the schema picks."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

from mustelid.backend import BackendContext  # noqa: E402
from mustelid.config import Config  # noqa: E402
from mustelid.plugins.llama_cpp import LlamaCppBackend  # noqa: E402
from mustelid.plugins.llama_cpp.choices import (  # noqa: E402
    Arr, Choice, ChoiceDecoder, Obj, Open, Tup, Union_, compile_schema, is_closed,
)

try:
    from tinygguf import write_tiny_gguf
except ImportError:  # tests/ imported as a package
    from tests.tinygguf import write_tiny_gguf


class Pick(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ok: bool
    colour: Literal["red", "green", "blue", "dark blue"]
    size: Literal[1, 2, 12, 120] | None
    tags: list[Literal["a", "ab", "abc"]] = Field(max_length=2, json_schema_extra={
        "uniqueItems": True})


def closed_schema() -> dict:
    schema = Pick.model_json_schema()
    schema["required"] = list(schema["properties"])
    return schema


# -- which schemas are closed ----------------------------------------------------------------


def test_enums_booleans_nulls_and_bounded_arrays_compile():
    plan = compile_schema(closed_schema())
    assert isinstance(plan, Obj)
    members = dict(plan.members)
    assert members["ok"] == Choice(["true", "false"])
    assert members["colour"] == Choice(['"red"', '"green"', '"blue"', '"dark blue"'])
    assert members["size"] == Choice(["1", "2", "12", "120", "null"])
    tags = members["tags"]
    assert isinstance(tags, Arr) and tags.max_items == 2 and tags.unique
    assert tags.item == Choice(['"a"', '"ab"', '"abc"'])


@pytest.mark.parametrize("schema", [
    {"type": "string", "maxLength": 5},                                  # free text
    {"type": "number"},
    {"type": "string", "pattern": "^[0-9]+$"},
    {"type": "object", "properties": {"a": {"type": "boolean"}}},        # optional member
    {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "boolean"}},
                                "required": ["a"]}},                     # unbounded array
    {"type": "array", "items": {"enum": [1, 12]}, "maxItems": 2},        # `1` is a prefix of `12`
    {"$ref": "#/$defs/gone"},
    {"enum": []},
])
def test_open_or_unsupported_schemas_get_no_plan(schema):
    assert compile_schema(schema) is None


def test_open_members_are_planned_as_open_values_between_choices():
    schema = {"type": "object", "required": ["kind", "title", "n"], "properties": {
        "kind": {"enum": ["todo", "idea"]}, "title": {"type": "string", "maxLength": 8},
        "n": {"type": "integer"}}}
    plan = compile_schema(schema)
    assert isinstance(plan, Obj) and not is_closed(plan)
    assert [type(n) for _, n in plan.members] == [Choice, Open, Open]
    assert compile_schema(schema, allow_open=False) is None
    assert is_closed(compile_schema(closed_schema()))


def test_a_union_told_apart_by_its_first_member_is_one_choice():
    def branch(kind, args):
        return {"type": "object", "required": ["kind", "arguments"], "properties": {
            "kind": {"const": kind}, "arguments": args}}
    union = {"anyOf": [branch("receipts", {"enum": [1, 2]}),
                       branch("other", {"type": "string", "maxLength": 9})]}
    plan = compile_schema(union)
    assert isinstance(plan, Union_) and len(plan.branches) == 2
    # The same kind in both: told apart by the next member instead.
    same_kind = {"anyOf": [branch("a", {"enum": [1]}), branch("a", {"enum": [2]})]}
    assert compile_schema(same_kind).shared == 1
    twins = {"anyOf": [branch("a", {"enum": [1]}), branch("a", {"enum": [1]})]}
    assert compile_schema(twins) is None      # no value chooses a branch


def review_schema(quotes: list[str]) -> dict:
    """The todos task's shape: a tuple of one entry per line, each a union told apart by
    ``is_todo`` after the line's quote, which both branches fix alike."""
    def entry(quote):
        no = {"source_quote": {"const": quote}, "is_todo": {"const": False}}
        yes = {**no, "is_todo": {"const": True},
               "priority": {"type": "string", "enum": ["low", "normal"]}}
        return {"anyOf": [{"type": "object", "properties": p, "required": list(p),
                           "additionalProperties": False} for p in (no, yes)]}
    return {"type": "object", "required": ["review"], "properties": {"review": {
        "type": "array", "prefixItems": [entry(q) for q in quotes],
        "minItems": len(quotes), "maxItems": len(quotes)}}}


def test_a_tuple_of_unions_told_apart_after_a_shared_member_is_closed():
    plan = compile_schema(review_schema(["buy milk", "call Bo"]))
    assert is_closed(plan)
    review = dict(plan.members)["review"]
    assert isinstance(review, Tup) and len(review.items) == 2
    assert isinstance(review.items[0], Union_) and review.items[0].shared == 1
    # A tuple whose length is not fixed is left to the grammar.
    loose = review_schema(["a"])
    loose["properties"]["review"]["minItems"] = 0
    assert not is_closed(compile_schema(loose))


def test_typed_enums_keep_only_values_of_that_type_and_empty_arrays_are_literal():
    assert compile_schema({"type": "string", "enum": ["a", 1, None]}) == Choice(['"a"'])
    assert compile_schema({"type": "array", "maxItems": 0, "items": {"type": "string"}}) \
        == Choice(["[]"])


# -- decoding with a real llama.cpp context (tiny random weights) -------------------------------


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    cfg = Config()
    cfg.model.path = write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    cfg.model.threads = 1
    cfg.backend["llama_cpp"] = {"n_ctx": 512}
    b = LlamaCppBackend(BackendContext.from_config(cfg))
    yield b
    b.close()


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Pick."}, {"role": "user", "content": text}]


def prompt_tokens(backend, text: str) -> list[int]:
    prompt = backend._formatter(messages=ask(text)).prompt
    return backend.llm.tokenize(prompt.encode(), add_bos=False, special=True)


@pytest.mark.parametrize("text", ["a red one", "size 12 please", "zz " * 20])
def test_backend_decodes_closed_schemas_by_choices_into_valid_answers(backend, text):
    gen = backend.generate(ask(text), closed_schema(), max_tokens=64)
    assert backend.last_perf["decoder"] == "choices"
    assert gen.finish_reason == "stop" and gen.completion_tokens > 0
    pick = Pick.model_validate_json(gen.text)          # schema-valid, whatever the weights say
    assert len(set(pick.tags)) == len(pick.tags)        # uniqueItems held
    assert json.loads(gen.text) == pick.model_dump(mode="json")
    assert 0 < backend.last_perf["decisions"] <= 2 + 1 + 5 + 3   # ok, colour, size, tags
    assert set(gen.confidence) >= {"ok", "colour", "size"}
    assert all(0 < p <= 1 for p in gen.confidence.values())


def test_each_choice_is_the_most_likely_next_token_among_the_options(backend):
    # One decision, options differing in their first token: the decoder must pick the option
    # whose first token has the highest logit after the prompt and the forced '{"colour": '.
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green", "blue"]}},
              "required": ["colour"]}
    tokens = prompt_tokens(backend, "which colour?")
    decoded = ChoiceDecoder(backend.llm).decode(tokens, compile_schema(schema))
    fulls = {c: backend.llm.tokenize(f'{{"colour": "{c}"}}'.encode(), add_bos=False)
             for c in ("red", "green", "blue")}
    common = 0
    while len({tuple(f[:common + 1]) for f in fulls.values()}) == 1:
        common += 1
    firsts = {c: f[common] for c, f in fulls.items()}
    assert len(set(firsts.values())) == 3   # so the single decision is at this token
    backend.llm.reset()
    backend.llm.eval(tokens + fulls["red"][:common])
    from llama_cpp import llama_cpp as lib

    logits = lib.llama_get_logits_ith(backend.llm.ctx, -1)
    best = max(firsts, key=lambda c: logits[firsts[c]])
    assert json.loads(decoded.text) == {"colour": best}
    assert decoded.decisions == 1 and 0 < decoded.confidence["colour"] <= 1


def test_reused_prefix_gives_the_same_answer_as_a_fresh_context(backend):
    tokens = prompt_tokens(backend, "the same prompt twice")
    plan = compile_schema(closed_schema())
    backend.llm.reset()
    fresh = ChoiceDecoder(backend.llm).decode(tokens, plan)
    again = ChoiceDecoder(backend.llm).decode(tokens, plan)
    assert fresh.reused == 0 and again.reused == len(tokens) - 1
    assert again.text == fresh.text


class Mixed(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["todo", "idea"]
    title: str = Field(max_length=10)
    tags: list[str] = Field(max_length=2)
    urgent: bool


def mixed_schema() -> dict:
    schema = Mixed.model_json_schema()
    schema["properties"]["tags"]["items"]["maxLength"] = 5
    return schema


@pytest.mark.parametrize("text", ["buy milk", "an idea", "zz " * 30])
def test_open_values_inside_a_planned_schema_are_generated_under_their_grammar(backend, text):
    gen = backend.generate(ask(text), mixed_schema(), max_tokens=96)
    assert backend.last_perf["decoder"] == "choices" and gen.finish_reason == "stop"
    Mixed.model_validate_json(gen.text)


@pytest.mark.parametrize("text", ["buy milk", "an idea", "zz " * 30, "Ünïcode \"quoted\" \\"])
@pytest.mark.parametrize("value", [
    {"type": "string", "maxLength": 40},
    {"type": "string", "pattern": "^[a-z ]{1,12}$"},
    {"type": "integer"},
])
def test_greedy_under_a_grammar_writes_what_the_library_sampler_writes(backend, text, value):
    # Random weights make the most likely token one the grammar rejects at most steps, so
    # both ways through the loop (the one-token check and the whole-vocabulary filter) run.
    from llama_cpp import llama_cpp as lib

    from mustelid.plugins.llama_cpp.choices.greedy import greedy_under_grammar

    llm = backend.llm
    vocab = lib.llama_model_get_vocab(llm.model)
    tokens = prompt_tokens(backend, text) + llm.tokenize(b'{"v":', add_bos=False)
    expected = []
    llm.reset()
    for token in llm.generate(tokens, temp=0.0, top_k=40, top_p=0.95, min_p=0.05,
                              repeat_penalty=1.0, grammar=backend.grammar_for(value, " ", "}")):
        if lib.llama_vocab_is_eog(vocab, token) or len(expected) >= 60:
            break
        expected.append(token)
    llm.reset()
    got = []
    for token in greedy_under_grammar(llm, tokens, backend.grammar_for(value, " ", "}")):
        got.append(token)
        if len(got) >= 60:
            break
    assert got == expected and got


def test_a_router_union_decodes_to_one_consistent_branch(backend):
    def branch(kind, fn, args):
        return {"type": "object", "required": ["kind", "name", "arguments"], "properties": {
            "kind": {"const": kind}, "name": {"const": fn}, "arguments": args}}
    union = {"anyOf": [branch("receipts", "record_expense", closed_schema()),
                       branch("other", "ignore", {"type": "object", "required": ["reason"],
                              "properties": {"reason": {"type": "string", "maxLength": 9}}})]}
    for text in ("a receipt", "nothing", "x " * 40):
        gen = backend.generate(ask(text), union, max_tokens=96)
        answer = json.loads(gen.text)
        assert (answer["kind"], answer["name"]) in {("receipts", "record_expense"),
                                                    ("other", "ignore")}
        if answer["kind"] == "receipts":
            Pick.model_validate(answer["arguments"])
        else:
            assert len(answer["arguments"]["reason"]) <= 9


def test_a_review_tuple_decodes_by_choices_to_one_entry_per_line_in_order(backend):
    quotes = ["buy milk", 'say "hi" to Bo', "zz"]
    gen = backend.generate(ask("a note"), review_schema(quotes), max_tokens=200)
    assert backend.last_perf["decoder"] == "choices" and gen.finish_reason == "stop"
    review = json.loads(gen.text)["review"]
    assert [r["source_quote"] for r in review] == quotes
    for r in review:
        assert set(r) == ({"source_quote", "is_todo", "priority"} if r["is_todo"]
                          else {"source_quote", "is_todo"})
    assert set(gen.confidence) >= {f"review[{i}].is_todo" for i in range(3)}


def _guessers():
    """Guesses to check the lookahead with: its own (the last answer at the same field), a
    wrong one where it can be (the least likely), and a coin that is right about half the time."""
    import random

    coin = random.Random(5)
    return {
        "same_as_last": None,
        "always_first": lambda key, candidates, last: candidates[0],
        "always_last": lambda key, candidates, last: candidates[-1],
        "coin": lambda key, candidates, last: coin.choice(candidates),
    }


@pytest.mark.parametrize("guesser", list(_guessers()))
@pytest.mark.parametrize("depth", [2, 4, 16])
def test_decisions_checked_in_one_batch_are_the_ones_asked_one_by_one(backend, guesser, depth):
    """Lookahead (guess, walk on, check several decisions in one batch, replay from the first
    wrong guess) gives the answer and the probabilities of asking at each decision, in fewer
    model calls when the guesses are right."""
    quotes = ["buy milk", 'say "hi" to Bo', "zz", "call the bank", "x", "fix the door"]
    plans = [compile_schema(review_schema(quotes)), compile_schema(closed_schema())]
    replays = fewer = 0
    for plan in plans:
        for text in ("a note", "size 12, red, ok", "zz " * 10):
            tokens = prompt_tokens(backend, text)
            backend.llm.reset()
            one_by_one = ChoiceDecoder(backend.llm, lookahead=1).decode(tokens, plan)
            backend.llm.reset()
            decoder = ChoiceDecoder(backend.llm, lookahead=depth, guess=_guessers()[guesser])
            ahead = decoder.decode(tokens, plan)
            assert ahead.text == one_by_one.text
            assert ahead.decisions == one_by_one.decisions
            assert ahead.confidence == pytest.approx(one_by_one.confidence, abs=1e-3)
            replays += decoder.ahead.replays
            fewer += len(decoder.evals) < one_by_one.decisions
            # What the KV holds is what the library thinks it holds: the next prompt reuses it.
            again = ChoiceDecoder(backend.llm, lookahead=1).decode(tokens, plan)
            assert again.text == one_by_one.text and again.reused == len(tokens) - 1
    if guesser in ("always_last", "coin"):
        assert replays > 0
    if guesser == "same_as_last":
        assert fewer > 0


def test_an_open_value_that_runs_out_of_tokens_is_reported_truncated(backend):
    schema = {"type": "object", "required": ["ok", "text"], "properties": {
        "ok": {"type": "boolean"}, "text": {"type": "string", "maxLength": 400}}}
    gen = backend.generate(ask("write a lot"), schema, max_tokens=3)
    assert gen.finish_reason == "length"


def test_open_schemas_and_the_switch_use_the_grammar(backend):
    backend.generate(ask("x"), {"type": "string", "maxLength": 4}, max_tokens=32)
    assert backend.last_perf["decoder"] == "grammar"
    backend.choice_decoding = False
    try:
        gen = backend.generate(ask("x"), closed_schema(), max_tokens=96)
        assert backend.last_perf["decoder"] == "grammar"
        Pick.model_validate_json(gen.text)
    finally:
        backend.choice_decoding = True


# -- the real model ------------------------------------------------------------------------------


@pytest.mark.real
def test_real_receipts_get_the_same_fields_from_choices_and_from_the_grammar(real_model):
    """The speed-up must not change answers: two SROIE receipts through the receipts task, once
    per decoder, give the same merchant, date and total (and the right ones)."""
    from pathlib import Path

    from mustelid.config import load_config
    from mustelid.evaluate import load_cases, run_case
    from mustelid.host import Host
    from mustelid.worker import WorkerContext

    sroie = Path(__file__).resolve().parents[2] / "shared" / "data" / "sroie-dev"
    if not sroie.is_dir():
        pytest.skip(f"{sroie} is not here")
    cfg = load_config()
    host = Host(cfg.plugins_path)
    task = host.tasks["receipts"]
    cases, _ = load_cases(sroie, task, 2)
    answers = {}
    for choice in (True, False):
        cfg.backend["llama_cpp"] = {**cfg.backend.get("llama_cpp", {}), "choice_decoding": choice}
        ctx = WorkerContext(cfg, host)
        try:
            rows = [run_case(task, case, ctx)[0] for case in cases]
            assert ctx._backend.last_perf["decoder"] == ("choices" if choice else "grammar")
        finally:
            ctx.close()
        answers[choice] = [{f: v["got"] for f, v in r["fields"].items()} for r in rows]
        assert all(r["fields"]["total"]["match"] and r["fields"]["date"]["match"] for r in rows)
    assert answers[True] == answers[False]
