"""The KV cache and batches, a step below ``Llama.eval``: keep a prefix, cut the tail, and
read logits at chosen positions of one batch."""

from __future__ import annotations

import math
from typing import Any


def keep_prefix(llm: Any, prompt: list[int]) -> int:
    """Keep the KV of the longest prefix ``prompt`` shares with what ``llm`` holds, as
    ``Llama.generate`` does, short of the last token (at least one is evaluated, for fresh
    logits); returns how many tokens were kept."""
    keep = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens], prompt)
    keep = min(keep, len(prompt) - 1)
    if keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
        llm.n_tokens = keep
        return keep
    llm.reset()
    return 0


def cut(llm: Any, keep: int) -> None:
    """Forget what the KV holds from position ``keep`` on."""
    if keep < llm.n_tokens:
        llm._ctx.kv_cache_seq_rm(-1, keep, -1)
        llm.n_tokens = keep


def most_likely(scores: dict[int, float], candidates: list[int]) -> tuple[int, float]:
    """The candidate with the highest logit, and its probability among the candidates."""
    best = max(candidates, key=lambda t: scores[t])
    return best, 1.0 / sum(math.exp(scores[t] - scores[best]) for t in candidates)


def eval_at(llm: Any, tokens: list[int], wanted: dict[int, list[int]]) -> dict[int, dict[int, float]]:
    """Evaluate ``tokens`` after what ``llm`` holds, as ``Llama.eval`` does (the KV cache,
    ``input_ids`` and ``n_tokens`` follow), and return, for each index of ``tokens`` in
    ``wanted``, the logits of the candidate tokens listed there. llama-cpp-python asks llama.cpp
    for the last position's logits only, or (``logits_all``) a 150k-float row for every token."""
    from llama_cpp import llama_cpp as lib

    scores: dict[int, dict[int, float]] = {}
    for start in range(0, len(tokens), llm.n_batch):
        chunk = tokens[start:start + llm.n_batch]
        flags = [start + i in wanted for i in range(len(chunk))]
        _decode(llm, chunk, flags)
        for i in range(len(chunk)):
            if flags[i]:
                row = lib.llama_get_logits_ith(llm.ctx, i)
                scores[start + i] = {t: float(row[t]) for t in wanted[start + i]}
    return scores


def _decode(llm: Any, chunk: list[int], flags: list[bool]) -> None:
    from llama_cpp import llama_cpp as lib

    llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
    batch = llm._batch.batch
    n_past = llm.n_tokens
    batch.n_tokens = len(chunk)
    for i, token in enumerate(chunk):
        batch.token[i] = token
        batch.pos[i] = n_past + i
        batch.seq_id[i][0] = 0
        batch.n_seq_id[i] = 1
        batch.logits[i] = flags[i]
    code = lib.llama_decode(llm.ctx, batch)
    if code != 0:
        raise RuntimeError(f"llama_decode returned {code}")
    llm.input_ids[n_past:n_past + len(chunk)] = chunk
    llm.n_tokens += len(chunk)
