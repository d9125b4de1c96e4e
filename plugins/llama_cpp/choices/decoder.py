"""Jump-forward decoding of a plan (``plan.py``) against a loaded ``llama_cpp.Llama``.

Grammar-constrained sampling (the general path of the backend) runs one decode per output
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

Open values inside a schema are generated token by token under a grammar built for that value
alone, and decoding by choices resumes after them: a router's kind, a task's enums and every key
are still chosen or forced.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from ..gbnf import json_text
from .batch import keep_prefix, most_likely
from .greedy import greedy_under_grammar
from .lookahead import Guess, Lookahead, Replay
from .lookahead import Truncated as _Truncated
from .plan import Arr, Choice, Node, Obj, Open, Tup, Union_, is_closed


class Unplannable(Exception):
    """Decoding by plan went wrong in a way the whole-answer grammar does not: use that."""


@dataclass
class Decoded:
    text: str
    tokens: int                  # tokens of the answer (decided + forced)
    decisions: int               # times the model was asked
    reused: int                  # prompt tokens whose KV was kept from the previous call
    truncated: bool = False      # an open value ran out of the token budget
    confidence: dict[str, float] = field(default_factory=dict)   # per field path: P(choice)


class ChoiceDecoder:
    """Runs one plan against a loaded ``llama_cpp.Llama``, reusing its KV cache like
    ``Llama.generate`` does (the longest common prefix with the previous prompt is kept)."""

    def __init__(self, llm: Any, grammar_for: Any = None, budget: int = 1 << 30,
                 lookahead: int = 4, guess: Guess | None = None):
        self.llm = llm
        self.grammar_for = grammar_for   # schema -> LlamaGrammar, for Open values
        self.budget = budget             # answer tokens an open value may use, in all
        self.lookahead = lookahead       # guesses checked in one batch (lookahead.py); 1 = none
        self.guess = guess
        self.ahead: Lookahead | None = None
        self._open_tokens = 0
        self._truncated = False
        self._text_parts: list[str] = []
        self._pending_tokens: list[int] = []   # forced, not yet evaluated
        # Forced, not yet tokenized. Bytes: a decision can fall inside a multi-byte character.
        self._pending_text = b""
        self._decisions = 0
        self._confidence: dict[str, float] = {}
        self.evals: list[tuple[int, float]] = []   # (tokens, seconds) per model call

    def decode(self, prompt_tokens: list[int], plan: Node) -> Decoded:
        reused = self._start(prompt_tokens)
        head = self._pending_tokens
        if self.lookahead > 1 and is_closed(plan):
            self.ahead = Lookahead(self.llm, reused, self.evals, self.lookahead, self.guess)
        ahead = self.ahead
        while True:      # more than one walk only with guesses (lookahead.py)
            self._text_parts, self._pending_tokens, self._pending_text = [], list(head), b""
            self._confidence = {}
            try:
                if ahead:
                    ahead.start_walk()
                self._emit(plan, after="", path="")
                if ahead and (ahead.checks or ahead.guessed):
                    if ahead.checks:
                        ahead.check()
                    continue     # once more with every decision known, for the probabilities
            except Replay:
                continue
            except _Truncated:
                if ahead and ahead.checks:
                    try:
                        ahead.check()
                    except Replay:
                        pass
                    continue
                self._truncated = True
            break
        if ahead:
            self._decisions = len(ahead.known)
        text = "".join(self._text_parts)
        return Decoded(text, len(self._tokenize(text.encode("utf-8"))), self._decisions,
                       reused, self._truncated, self._confidence)

    # -- walking the plan ------------------------------------------------------------------

    def _emit(self, node: Node, after: str, path: str, opened: bool = False) -> None:
        """Write ``node`` followed by the literal ``after``."""
        if isinstance(node, Choice):
            self._choose([o + after for o in node.options], path)
        elif isinstance(node, Obj):
            self._members(node, 0, after, path, opened)
        elif isinstance(node, Union_):
            head = node.branches[0].members
            fixed = "".join(f"{json_text(k)}: {v.options[0]}, " for k, v in head[:node.shared])
            key = head[node.shared][0]
            self._literal("{" + fixed + json_text(key) + ": ")
            owners, options = [], []
            for branch in node.branches:
                sep = ", " if len(branch.members) > node.shared + 1 else "}" + after
                for option in branch.members[node.shared][1].options:
                    owners.append(branch)
                    options.append(option + sep)
            branch = owners[self._choose(options, f"{path}.{key}".lstrip("."))]
            self._members(branch, node.shared + 1, after, path, opened=True)
        elif isinstance(node, Tup):
            self._literal("[")
            for i, item in enumerate(node.items):
                last = i == len(node.items) - 1
                self._emit(item, ("]" + after) if last else ", ", f"{path}[{i}]")
        elif isinstance(node, Open):
            self._open(node, after)
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

    def _members(self, node: Obj, start: int, after: str, path: str, opened: bool) -> None:
        for i, (key, value) in enumerate(node.members[start:], start):
            head = ("" if opened else "{") if i == 0 else ""
            self._literal(head + json_text(key) + ": ")
            last = i == len(node.members) - 1
            self._emit(value, ("}" + after) if last else ", ", f"{path}.{key}".lstrip("."))

    def _open(self, node: Open, after: str) -> None:
        """Generate one open value token by token under its own grammar (greedy, like the
        grammar path), continuing from everything forced or chosen so far."""
        llm = self.llm
        # The space after a key's colon goes into the value's grammar instead of being
        # tokenized alone: models write ' "' as one token, and a lone ' ' token before a value
        # is text they have rarely seen (measured: the default model then wrote "No one" for a
        # name it otherwise copied right).
        # Likewise the comma or brace after the value: the model writes '",' as one token, and
        # a grammar that ends at the closing quote pushed it to put the comma inside the string.
        lead = " " if self._pending_text.endswith(b" ") else ""
        trail = after.rstrip(" ")
        pending = self._pending_text[:-1] if lead else self._pending_text
        prompt = [*llm.input_ids[: llm.n_tokens], *self._pending_tokens, *self._tokenize(pending)]
        self._pending_tokens, self._pending_text = [], b""
        grammar = self.grammar_for(node.schema, lead, trail)
        # Bounded by the answer budget and by the context (forced text is not in the budget).
        room = min(self.budget - self._open_tokens, llm.n_ctx() - len(prompt) - 1)
        out: list[int] = []
        if room <= 0:
            raise _Truncated
        for token in greedy_under_grammar(llm, prompt, grammar):
            out.append(token)
            self._open_tokens += 1
            if len(out) >= room:
                self._text_parts.append(_text(self._detokenize(out)))
                raise _Truncated
        self._decisions += len(out)
        # The lead is already in the text (a literal) and the trail is added with ``after``;
        # whitespace the value's grammar allows around them is dropped.
        value = _text(self._detokenize(out))
        if value.startswith(lead) and value.endswith(trail):
            value = value[len(lead):len(value) - len(trail)].strip()
        try:
            json.loads(value)
        except ValueError:
            # A grammar whose strings admit '"' (a pattern such as [^0-9@]) let the model run
            # on past the value's end: the whole answer is redone by the caller's grammar path.
            raise Unplannable(f"open value did not end where its grammar does: {value[:80]!r}")
        self._text_parts.append(value + after)
        self._pending_text = after[len(trail):].encode("utf-8")

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
        asked = 0        # the key of a guess: this field in any entry, its n-th question
        while len(alive) > 1:
            nexts: dict[int, list[int]] = {}
            for i in alive:
                nexts.setdefault(seqs[i][position], []).append(i)
            if len(nexts) > 1:
                token, p = self._pick(self._pending_tokens + path_tokens, list(nexts),
                                      (_template(path), asked))
                self._pending_tokens, path_tokens = [], []
                probability *= p
                asked += 1
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
        keep = keep_prefix(self.llm, prompt)
        self._pending_tokens = list(prompt[keep:])
        return keep

    def _pick(self, tokens: list[int], candidates: list[int], key: tuple = ()) -> tuple[int, float]:
        """Evaluate ``tokens``; return the candidate with the highest logit and its probability
        among the candidates."""
        from llama_cpp import llama_cpp as lib

        if self.ahead:
            return self.ahead.pick(tokens, candidates, key)

        if self.llm.n_tokens + len(tokens) >= self.llm.n_ctx():
            raise _Truncated   # the answer would not fit the context: reported as cut off
        started = time.perf_counter()
        self.llm.eval(tokens)
        self.evals.append((len(tokens), round(time.perf_counter() - started, 4)))
        self._decisions += 1
        logits = lib.llama_get_logits_ith(self.llm.ctx, -1)
        return most_likely({t: float(logits[t]) for t in candidates}, candidates)

    def _tokenize(self, text: bytes) -> list[int]:
        return self.llm.tokenize(text, add_bos=False, special=False) if text else []

    def _detokenize(self, tokens: list[int]) -> bytes:
        return self.llm.detokenize(tokens) if tokens else b""


def _template(path: str) -> str:
    """A field path without its item numbers: siblings' decisions share it."""
    return re.sub(r"\[\d+\]", "[]", path)


def _text(generated: bytes) -> str:
    # As llama-cpp-python's completions do: bytes that are not UTF-8 (a byte-level token the
    # grammar admitted on its own) are dropped, not turned into U+FFFD characters.
    return generated.decode("utf-8", errors="ignore")
