"""Decisions taken on a guess and checked later, several in one batch.

Every decision of a plan costs one ``llama_decode`` of the few tokens before it, and on two
cores each call has a fixed cost of ~40 ms besides its tokens (the weights are read once per
call): a 12-token call took 95 ms, where a 400-token prefill costs 4.2 ms a token. Most
decisions of a closed plan repeat the one before at the same place of a sibling entry (a to-do
note's lines are mostly to-dos), so that answer is taken as a guess, the walk goes on, and the
guesses are checked together: one batch with logits at each decision's position. A wrong guess
keeps what was checked before it, cuts the KV cache back to its position, and the walk starts
again with the right answer (``Replay``; walking again is Python only, nothing is evaluated
twice). The answers are those of asking at each decision, bar floating-point differences
between batch sizes. Only closed plans: an open value generates, and a replay would repeat it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .batch import cut, eval_at, most_likely

# (key, candidates, the last answer at that key in this walk) -> a guess, or None to ask now.
Guess = Callable[[tuple, list[int], "int | None"], "int | None"]


class Truncated(Exception):
    """The answer would not fit the context."""


class Replay(Exception):
    """A guess was wrong: walk the plan again with the decisions known so far."""


def same_as_last(key: tuple, candidates: list[int], last: int | None) -> int | None:
    return last if last in candidates else None


class Lookahead:
    def __init__(self, llm: Any, base: int, evals: list, depth: int = 4, guess: Guess | None = None):
        self.llm = llm
        self.base = base                 # prompt tokens held in the KV before the answer
        self.evals = evals               # (tokens, seconds) per model call, the decoder's list
        self.depth = depth               # guesses in flight before they are checked
        self.guess = guess or same_as_last
        self.known: list[tuple[int, float]] = []   # (token, probability) per decision, checked
        self.replays = 0
        self.start_walk()

    def start_walk(self) -> None:
        self.stream: list[int] = []      # the answer's tokens so far, as the walk has them
        self.checks: list[tuple[int, list[int], int | None]] = []   # (position, candidates, guess)
        self.count = 0                   # decisions met in this walk
        self.last: dict[tuple, int] = {}
        self.guessed = False             # a probability in this walk is a placeholder

    def pick(self, tokens: list[int], candidates: list[int], key: tuple) -> tuple[int, float]:
        """``tokens`` extend the answer, then a decision among ``candidates``."""
        self.stream += tokens
        k, self.count = self.count, self.count + 1
        if k >= len(self.known):
            if self.base + len(self.stream) >= self.llm.n_ctx():
                raise Truncated
            guess = self.guess(key, candidates, self.last.get(key))
            self.checks.append((len(self.stream) - 1, candidates, guess))
            if guess is not None and len(self.checks) < self.depth:
                self.guessed = True
                return guess, 1.0
            self.check()
        token, p = self.known[k]
        self.last[key] = token
        return token, p

    def check(self) -> None:
        """Evaluate what the KV lacks up to the last pending decision, logits at each pending
        decision; ``Replay`` at the first wrong guess."""
        llm, base = self.llm, self.base
        upto = self.checks[-1][0] + 1
        start = llm.longest_token_prefix(llm.input_ids[base:llm.n_tokens], self.stream[:upto])
        start = min(start, *(pos for pos, _, _ in self.checks))
        cut(llm, base + start)
        wanted: dict[int, list[int]] = {}
        for pos, candidates, _ in self.checks:
            wanted.setdefault(pos - start, []).extend(candidates)
        started = time.perf_counter()
        scores = eval_at(llm, self.stream[start:upto], wanted)
        self.evals.append((upto - start, round(time.perf_counter() - started, 4)))
        checks, self.checks = self.checks, []
        for pos, candidates, guess in checks:
            best, p = most_likely(scores[pos - start], candidates)
            self.known.append((best, p))
            if guess is not None and best != guess:
                cut(llm, base + pos + 1)     # keep the tokens that led to the decision
                self.replays += 1
                raise Replay
