"""Jump-forward decoding for *closed* JSON schemas: when every value the schema admits is one of
a known list (enum, const, boolean, null, anyOf of those, objects of them, bounded arrays of such
objects), the answer's text is known except for the choices, so only the choices need the model.

Grammar-constrained sampling (the general path in ``llama_backend``) runs one decode per output
token, including the ~70 % of tokens the grammar forces anyway (keys, quotes, commas, the rest of
an enum value once its first digits are chosen), and checks every vocabulary entry against the
grammar at each step. Here the forced text is appended without asking the model, and the model is
asked only where options diverge: the pending forced tokens and the branch point go in one batch
(prefill speed, ~10x decode speed per token on CPU), and the next token is the most likely of the
tokens that continue some option. That is greedy decoding restricted to the schema, the same rule
as the grammar path at temperature 0, without the wasted steps (SGLang calls it "jump-forward").

Each option is tokenized *together with* the forced text before it and the separator after it, so
the model sees the tokenization it would have produced itself, and no option's tokens can be a
prefix of another's (every option ends in the same separator, and a JSON value cannot contain
that separator outside a string). Tokens not needed for a decision stay as text and are
re-tokenized with whatever follows.

Schemas with any open value (free strings, numbers, patterns) get ``None`` from ``compile`` and
go through the grammar path.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Union


@dataclass
class Choice:
    options: list[str]        # JSON texts, e.g. '"33.90"', 'true', 'null'


@dataclass
class Obj:
    members: list[tuple[str, "Node"]]


@dataclass
class Arr:
    item: "Obj | Choice"
    min_items: int
    max_items: int
    unique: bool = False      # uniqueItems: a chosen option is not offered again


Node = Union[Choice, Obj, Arr]
MAX_OPTIONS = 4096   # beyond this a trie per choice costs more than it saves


def compile_schema(schema: dict[str, Any]) -> Node | None:
    """The schema as a decoding plan, or None if any value in it is open-ended."""
    defs = schema.get("$defs") or schema.get("definitions") or {}
    try:
        return _node(schema, defs, depth=0)
    except _Open:
        return None


class _Open(Exception):
    pass


def _resolve(s: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = s.get("$ref")
    if ref is None:
        return s
    name = ref.rsplit("/", 1)[-1]
    if not ref.startswith(("#/$defs/", "#/definitions/")) or name not in defs:
        raise _Open
    return defs[name]


def _options(s: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    """The JSON texts a scalar schema admits; _Open if they are not a finite list."""
    s = _resolve(s, defs)
    if "const" in s:
        return [json.dumps(s["const"], ensure_ascii=False)]
    if "enum" in s:
        values = s["enum"]
        kind = s.get("type")
        if kind is not None:   # {"type": "string", "enum": [...]}: keep the values of that type
            values = [v for v in values if _json_type(v) == kind]
        return [json.dumps(v, ensure_ascii=False) for v in values]
    if s.get("type") == "boolean":
        return ["true", "false"]
    if s.get("type") == "null":
        return ["null"]
    branches = s.get("anyOf") or s.get("oneOf")
    if branches:
        return [o for b in branches for o in _options(b, defs)]
    raise _Open


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def _node(s: dict[str, Any], defs: dict[str, Any], depth: int) -> Node:
    if depth > 8:
        raise _Open
    s = _resolve(s, defs)
    if s.get("type") == "object" and "properties" in s:
        props = s["properties"]
        if set(s.get("required", [])) != set(props) or not props:
            raise _Open   # optional members: the grammar path decides whether to emit them
        return Obj([(k, _node(v, defs, depth + 1)) for k, v in props.items()])
    if s.get("type") == "array":
        if s.get("maxItems") == 0:
            return Choice(["[]"])
        item = _node(s.get("items") or {}, defs, depth + 1)
        if "maxItems" not in s or isinstance(item, Arr):
            raise _Open   # unbounded
        if isinstance(item, Choice) and not all(o[:1] in ('"', "{", "[") for o in item.options):
            raise _Open   # bare numbers as items: `1` is a prefix of `12`, the ending is unknown
        return Arr(item, int(s.get("minItems", 0)), int(s["maxItems"]),
                   bool(s.get("uniqueItems")))
    options = list(dict.fromkeys(_options(s, defs)))   # de-duplicated, order kept
    if not options or len(options) > MAX_OPTIONS:
        raise _Open
    return Choice(options)


@dataclass
class Decoded:
    text: str
    tokens: int                  # tokens of the answer (decided + forced)
    decisions: int               # times the model was asked
    reused: int                  # prompt tokens whose KV was kept from the previous call
    confidence: dict[str, float] = field(default_factory=dict)   # per field path: P(choice)


class ChoiceDecoder:
    """Runs one plan against a loaded ``llama_cpp.Llama``, reusing its KV cache like
    ``Llama.generate`` does (the longest common prefix with the previous prompt is kept)."""

    def __init__(self, llm: Any):
        self.llm = llm
        self._text_parts: list[str] = []
        self._pending_tokens: list[int] = []   # forced, not yet evaluated
        # Forced, not yet tokenized. Bytes: a decision can fall inside a multi-byte character.
        self._pending_text = b""
        self._decisions = 0
        self._confidence: dict[str, float] = {}
        self.evals: list[tuple[int, float]] = []   # (tokens, seconds) per model call

    def decode(self, prompt_tokens: list[int], plan: Node) -> Decoded:
        reused = self._start(prompt_tokens)
        self._emit(plan, after="", path="")
        text = "".join(self._text_parts)
        return Decoded(text, len(self._tokenize(text.encode("utf-8"))), self._decisions,
                       reused, self._confidence)

    # -- walking the plan ------------------------------------------------------------------

    def _emit(self, node: Node, after: str, path: str, opened: bool = False) -> None:
        """Write ``node`` followed by the literal ``after``."""
        if isinstance(node, Choice):
            self._choose([o + after for o in node.options], path)
        elif isinstance(node, Obj):
            for i, (key, value) in enumerate(node.members):
                head = ("" if opened else "{") if i == 0 else ""
                self._literal(head + json.dumps(key, ensure_ascii=False) + ": ")
                last = i == len(node.members) - 1
                self._emit(value, ("}" + after) if last else ", ", f"{path}.{key}".lstrip("."))
        elif isinstance(node.item, Choice):
            self._emit_choices(node, after, path)
        else:
            self._literal("[")
            for i in range(node.max_items + 1):
                sep = ", {" if i else "{"
                if i < node.min_items:
                    self._literal(sep)
                elif i == node.max_items:
                    self._literal("]" + after)
                    return
                elif self._choose(["]" + after, sep], f"{path}[{i}]") == 0:
                    return
                self._emit(node.item, "", f"{path}[{i}]", opened=True)

    def _emit_choices(self, node: Arr, after: str, path: str) -> None:
        """An array of whole options: each step is one choice between closing the array and
        each option still on offer (one decision per item, not one per token)."""
        self._literal("[")
        offered = list(node.item.options)
        for i in range(node.max_items + 1):
            sep = ", " if i else ""
            close = [] if i < node.min_items else ["]" + after]
            if i == node.max_items or not offered:
                if not close:
                    raise ValueError("the schema requires more items than it offers")
                self._literal(close[0])
                return
            picked = self._choose(close + [sep + o for o in offered], f"{path}[{i}]")
            if close and picked == 0:
                return
            chosen = offered[picked - len(close)]
            if node.unique:
                offered.remove(chosen)

    def _literal(self, text: str) -> None:
        self._pending_text += text.encode("utf-8")
        self._text_parts.append(text)

    def _choose(self, options: list[str], path: str) -> int:
        """Append the option the model prefers; return its index."""
        prefix = self._pending_text
        seqs = [self._tokenize(prefix + o.encode("utf-8")) for o in options]
        alive = list(range(len(options)))
        position = 0
        path_tokens: list[int] = []
        probability = 1.0
        while len(alive) > 1:
            nexts: dict[int, list[int]] = {}
            for i in alive:
                nexts.setdefault(seqs[i][position], []).append(i)
            if len(nexts) > 1:
                token, p = self._pick(self._pending_tokens + path_tokens, list(nexts))
                self._pending_tokens, path_tokens = [], []
                probability *= p
                alive = nexts[token]
            else:
                (token,) = nexts
            path_tokens.append(token)
            position += 1
        (chosen,) = alive
        rest = seqs[chosen][position:]
        # What stays undecided goes back to text, so it is tokenized with what follows.
        self._pending_tokens += path_tokens
        self._pending_text = self._detokenize(rest)
        self._text_parts.append(options[chosen])
        if path:
            self._confidence[path] = round(probability, 4)
        return chosen

    # -- the model -------------------------------------------------------------------------

    def _start(self, prompt: list[int]) -> int:
        llm = self.llm
        keep = 0
        for a, b in zip(llm.input_ids[: llm.n_tokens], prompt):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(prompt) - 1)   # at least one token is evaluated, for fresh logits
        if keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            llm.n_tokens = keep
        else:
            llm.reset()
            keep = 0
        self._pending_tokens = list(prompt[keep:])
        return keep

    def _pick(self, tokens: list[int], candidates: list[int]) -> tuple[int, float]:
        """Evaluate ``tokens``; return the candidate with the highest logit and its probability
        among the candidates."""
        from llama_cpp import llama_cpp as lib

        started = time.perf_counter()
        self.llm.eval(tokens)
        self.evals.append((len(tokens), round(time.perf_counter() - started, 4)))
        self._decisions += 1
        logits = lib.llama_get_logits_ith(self.llm.ctx, -1)
        scores = {t: float(logits[t]) for t in candidates}
        best = max(candidates, key=lambda t: scores[t])
        top = scores[best]
        total = sum(math.exp(v - top) for v in scores.values())
        return best, 1.0 / total

    def _tokenize(self, text: bytes) -> list[int]:
        return self.llm.tokenize(text, add_bos=False, special=False) if text else []

    def _detokenize(self, tokens: list[int]) -> bytes:
        return self.llm.detokenize(tokens) if tokens else b""
