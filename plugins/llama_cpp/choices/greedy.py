"""Greedy decoding of an open value under its grammar (``greedy_under_grammar``)."""

from __future__ import annotations

import ctypes
import math
from collections.abc import Iterator
from typing import Any

from .batch import keep_prefix


def greedy_under_grammar(llm: Any, prompt: list[int], grammar: Any) -> Iterator[int]:
    """The tokens greedy decoding under ``grammar`` writes after ``prompt`` (which extends what
    ``llm`` holds), up to end of generation: the same tokens as ``Llama.generate(prompt,
    temp=0, grammar=grammar)``, faster. llama-cpp-python's sampler checks all ~150k vocabulary
    entries against the grammar at every step (measured: 45 ms a token instead of 26 with the
    default model). The most likely token is usually one the grammar allows, and greedy takes
    the most likely allowed token, so check that one token first and filter the whole
    vocabulary only when the grammar rejects it: llama.cpp's own common sampler does the same.
    (Tried and not kept: prompt-lookup drafts checked in one batch. On screens-dev the model's
    time went up 78.9 -> 83.4 s: each drafted position computes a 150k-vocabulary row of
    logits, and batch sizes changed three summaries by floating-point near-ties.)
    """
    from llama_cpp import llama_cpp as lib

    keep = keep_prefix(llm, prompt)
    pick = _Picker(llm, grammar)
    try:
        llm.eval(prompt[keep:])
        while True:
            token = pick.best(-1)
            if token is None or lib.llama_vocab_is_eog(pick.vocab, token):
                return                         # the grammar is complete, or the model ends
            pick.accept(token)
            yield token
            llm.eval([token])
    finally:
        pick.close()


class _Picker:
    """The most likely token a grammar allows, from a row of the last batch's logits."""

    def __init__(self, llm: Any, grammar: Any):
        from llama_cpp import llama_cpp as lib

        self.llm, self.lib = llm, lib
        self.vocab = lib.llama_model_get_vocab(llm.model)
        self.n_vocab = lib.llama_vocab_n_tokens(self.vocab)
        self.sampler = lib.llama_sampler_init_grammar(
            self.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
        self.one = (lib.llama_token_data * 1)()
        self.every: Any = None   # the whole vocabulary, built the first time it is needed
        self.rows: Any = None

    def best(self, row: int) -> int | None:
        """The greedy token the grammar allows at ``row``; None if it allows none."""
        import numpy as np

        lib, one = self.lib, self.one
        logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(self.llm.ctx, row),
                                       shape=(self.n_vocab,))
        token = int(np.argmax(logits))
        one[0].id, one[0].logit, one[0].p = token, float(logits[token]), 0.0
        lib.llama_sampler_apply(self.sampler, ctypes.byref(
            lib.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)))
        if one[0].logit != -math.inf:
            return token
        if self.every is None:   # rejected: the best token the grammar allows
            self.every = (lib.llama_token_data * self.n_vocab)()
            self.rows = np.frombuffer(self.every, dtype=_TOKEN_DATA)
            self.rows["id"] = np.arange(self.n_vocab, dtype=np.intc)
        rows = self.rows
        rows["logit"], rows["p"] = logits, 0.0
        lib.llama_sampler_apply(self.sampler, ctypes.byref(lib.llama_token_data_array(
            data=self.every, size=self.n_vocab, selected=-1, sorted=False)))
        top = int(np.argmax(rows["logit"]))
        return None if rows["logit"][top] == -np.inf else int(rows["id"][top])

    def accept(self, token: int) -> None:
        self.lib.llama_sampler_accept(self.sampler, token)

    def close(self) -> None:
        self.lib.llama_sampler_free(self.sampler)


# llama.cpp's ``llama_token_data`` (id, logit, p) as a numpy record.
_TOKEN_DATA = {"names": ["id", "logit", "p"], "formats": ["<i4", "<f4", "<f4"], "offsets": [0, 4, 8],
               "itemsize": 12}
