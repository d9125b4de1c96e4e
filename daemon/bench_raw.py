"""The "no daemon" side of ``mustelid bench``: plain llama-cpp-python, run as its own process.

Runs as ``python -m mustelid.bench_raw oneshot|serve MODEL THREADS N_CTX``. ``oneshot`` is what a
script would do per job (import, load, one chat completion, exit); ``serve`` loads once and answers
one JSON request per stdin line, giving raw decode speed on the same prompts the daemon gets.
Deliberately standalone (it imports nothing from mustelid) so nothing of ours is measured.
"""

from __future__ import annotations

import json
import sys
import time


def load(path: str, threads: int, n_ctx: int, **context: object):
    import llama_cpp
    from llama_cpp import llama_cpp as lib

    stock = lib.llama_model_default_params

    def no_extra_bufts():
        # AMX CPUs segfault with extra buffer types on (llama.cpp #20824); same as the daemon.
        params = stock()
        if "use_extra_bufts" in dict(lib.llama_model_params._fields_):
            params.use_extra_bufts = False
        return params

    lib.llama_model_default_params = no_extra_bufts
    try:
        return llama_cpp.Llama(model_path=path, n_ctx=n_ctx, n_threads=threads,
                               n_threads_batch=threads, verbose=False, **context)
    finally:
        lib.llama_model_default_params = stock


def complete(llm, request: dict) -> dict:
    from llama_cpp import llama_cpp as lib
    from llama_cpp.llama_grammar import LlamaGrammar

    grammar = LlamaGrammar.from_json_schema(json.dumps(request["schema"]), verbose=False)
    lib.llama_perf_context_reset(llm.ctx)
    started = time.perf_counter()
    out = llm.create_chat_completion(messages=request["messages"], grammar=grammar,
                                     max_tokens=request["max_tokens"], temperature=0.0, seed=0)
    perf = lib.llama_perf_context(llm.ctx)
    return {"seconds": time.perf_counter() - started,
            "finish_reason": out["choices"][0]["finish_reason"],
            "prefill_tokens": perf.n_p_eval, "prefill_s": perf.t_p_eval_ms / 1000,
            "decode_tokens": perf.n_eval, "decode_s": perf.t_eval_ms / 1000}


def anon_bytes() -> int:
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1]) * 1024
    return 0


def context_cost(path: str, threads: int, n_ctx: int, kv: str, flash: bool) -> dict:
    """Anonymous memory a context setting costs after one generation, from a clean process."""
    import llama_cpp  # noqa: F401  (imported before the baseline: its own heap is not the cost)

    kv_type = {"f16": 1, "q8_0": 8, "q4_0": 2}[kv]   # GGML_TYPE_* ids
    before = anon_bytes()
    llm = load(path, threads, n_ctx, flash_attn=flash, type_k=kv_type, type_v=kv_type)
    request = json.loads(sys.stdin.read())
    result = complete(llm, request)
    result.update(n_ctx=n_ctx, kv=kv, flash_attn=flash,
                  anon_mb=round((anon_bytes() - before) / 2**20, 1))
    llm.close()
    return result


def main(argv: list[str]) -> None:
    mode, path, threads, n_ctx = argv[0], argv[1], int(argv[2]), int(argv[3])
    if mode == "context":
        print(json.dumps(context_cost(path, threads, n_ctx, argv[4], argv[5] == "1")))
        return
    llm = load(path, threads, n_ctx)
    if mode == "oneshot":
        print(json.dumps(complete(llm, json.loads(sys.stdin.read()))), flush=True)
    else:
        print(json.dumps({"ready": True}), flush=True)
        for line in sys.stdin:
            llm.reset()  # every request is a fresh prompt, as for a one-shot script
            print(json.dumps(complete(llm, json.loads(line))), flush=True)
    llm.close()


if __name__ == "__main__":
    main(sys.argv[1:])
