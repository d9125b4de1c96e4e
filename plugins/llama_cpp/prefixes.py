"""A shelf of earlier contexts' KV, so that jobs of tasks taking turns each find their own prompt
prefix already evaluated.

llama-cpp-python keeps one context and reuses the longest prefix the next prompt shares with it.
Jobs of one task share their system prompt, so each prefills mostly its own evidence; but in a
burst of mixed files a receipt follows a screenshot, finds nothing of the receipts' prompt in the
context and prefills all of it again (most of a job's model time on two cores: bench P5, P8).

Before a prompt that shares (almost) nothing with the context overwrites it, the shelf copies the
context's KV out (``llama_state_seq_get_data``: only the cells in use, ~12 KB a token for the
0.5B model in f16); before a prompt that a shelved context matches better than the live one, it
copies that back. The copy is a memcpy of a few MB, the prefill it saves seconds. Answers are the
same as from a fresh context: the restored cells are the ones the same tokens produced.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

SEQ = 0   # llama-cpp-python evaluates everything as sequence 0
# At most this much is kept aside in all: three prompts of 500 tokens are ~18 MB, but a context
# near n_ctx = 4096 is ~48 MB, and an idle-small daemon must not grow by three of those.
MAX_BYTES = 64 << 20


@dataclass
class Shelved:
    tokens: list[int]
    data: Any            # ctypes uint8 array: the sequence's state

    @property
    def nbytes(self) -> int:
        return ctypes.sizeof(self.data)


class PrefixShelf:
    """At most ``slots`` earlier contexts, the most recently used last. A context is worth
    shelving or restoring only for a prefix of at least ``min_tokens`` (a chat template's
    opening tokens are common to every prompt and worth nothing)."""

    def __init__(self, slots: int, min_tokens: int = 32, max_bytes: int = MAX_BYTES):
        self.slots = slots
        self.min_tokens = min_tokens
        self.max_bytes = max_bytes
        self.kept: list[Shelved] = []
        self.restored = 0          # contexts copied back (bench, info)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.kept)

    def prepare(self, llm: Any, prompt: list[int]) -> None:
        """Before ``prompt`` is evaluated in ``llm``: shelve the live context if the prompt is
        about to discard it, restore the shelved one that serves the prompt best (the library
        then keeps the prefix the context shares with the prompt, as always)."""
        if self.slots <= 0:
            return
        shared = llm.longest_token_prefix        # leading tokens two sequences have in common
        live = llm.input_ids[: llm.n_tokens].tolist()
        here = shared(live, prompt)
        gain, best = max(((shared(s.tokens, prompt), s) for s in self.kept),
                         key=lambda match: match[0], default=(0, None))
        restore = best is not None and gain >= max(self.min_tokens, here + self.min_tokens)
        if (here < self.min_tokens or restore) and len(live) >= self.min_tokens:
            self._shelve(llm, live)       # the prompt is about to overwrite it
        if restore:
            self._restore(llm, best)

    def clear(self) -> None:
        self.kept.clear()

    def _shelve(self, llm: Any, live: list[int]) -> None:
        from llama_cpp import llama_cpp as lib

        size = lib.llama_state_seq_get_size(llm.ctx, SEQ)
        if size > self.max_bytes:
            return
        data = (ctypes.c_uint8 * size)()
        if lib.llama_state_seq_get_data(llm.ctx, data, size, SEQ) != size:
            log.info("could not copy the context out; not shelved")
            return
        # A context of the same prompt family replaces its older copy: the newer serves as well.
        self.kept = [s for s in self.kept
                     if llm.longest_token_prefix(s.tokens, live) < self.min_tokens]
        self._keep(Shelved(live, data))

    def _restore(self, llm: Any, entry: Shelved) -> None:
        from llama_cpp import llama_cpp as lib

        if len(entry.tokens) >= llm.n_ctx():
            return              # shelved in a larger context than the one loaded now
        llm._ctx.kv_cache_seq_rm(SEQ, -1, -1)
        if not lib.llama_state_seq_set_data(llm.ctx, entry.data, entry.nbytes, SEQ):
            log.info("could not copy a shelved context back; starting fresh")
            llm.reset()
            return
        n = len(entry.tokens)
        llm.input_ids[:n] = entry.tokens
        llm.n_tokens = n
        # The logits in the context are not this state's: never sample before one more eval.
        llm._requires_eval = True
        self._keep(entry)
        self.restored += 1

    def _keep(self, entry: Shelved) -> None:
        """``entry`` as the most recently used; the least recently used go first when the
        slots or the byte budget are full."""
        self.kept = [s for s in self.kept if s is not entry] + [entry]
        while len(self.kept) > self.slots or (len(self.kept) > 1 and self.nbytes > self.max_bytes):
            self.kept.pop(0)
