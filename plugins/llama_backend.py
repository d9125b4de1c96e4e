"""The default backend: a local GGUF run by llama.cpp (llama-cpp-python), output constrained by a
grammar built from the task's JSON schema.

Fail-closed throughout: a schema that cannot become a grammar, or a prompt that does not fit the
context with its output budget, is a ``PermanentError``; nothing is ever generated unconstrained
or silently truncated. llama_cpp is imported only here, in the model worker.

Memory (measured figures in docs/BENCHMARKS.md):
- The weights stay a clean file-backed mmap (no mlock, no extra buffer types), so ``release``
  can hand them back to the page cache with MADV_PAGEOUT and ``prewarm`` can read them in again
  with one sequential read (``mustelid.runtime``).
- The context (KV cache + compute buffers, all anonymous memory) starts at ``model.n_ctx_min``
  tokens and doubles when a job's prompt + max_tokens needs more, up to ``model.n_ctx``. Growing
  reloads the model object, which costs little because its pages are already in memory; a job
  beyond ``model.n_ctx`` fails as ``input_too_long``, never truncated.
- Prefix reuse: llama-cpp-python keeps the previous prompt's tokens in the context and only
  evaluates the part of the next prompt that differs (``Llama.generate``'s prefix match). Jobs of
  one task share their system prompt, so each job prefills mostly its own evidence.
  ``model.prefix_reuse = false`` resets the context before every job (for measurement).
- Schemas with a known structure (objects with required members, enums, booleans, unions told
  apart by a first member) are decoded by ``llama_choices``: forced text is appended in batches,
  the model is asked only where options differ, and open values (free strings, numbers) are
  generated under a grammar of their own. ``model.choice_decoding = false`` uses one grammar for
  the whole answer, token by token.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

from mustelid import Generation, PermanentError, WaitingError, hookimpl
from mustelid.config import Config

log = logging.getLogger(__name__)

_GRAMMAR_CACHE_SIZE = 32
# llama-cpp-python 0.3.36's bundled converter lets a JSON string hold raw control characters,
# which JSON forbids (json.loads: "Invalid control character"); upstream llama.cpp excludes them.
_LOOSE_STRING_CHAR = r'char ::= [^"\\] |'
_JSON_STRING_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'
_load_lock = threading.Lock()  # guards the temporary patch in _load_llama


@hookimpl
def register_backends(register):
    register("llama_cpp", create_backend)


def create_backend(cfg: Config) -> LlamaCppBackend:
    return LlamaCppBackend(cfg)


class LlamaCppBackend:
    """Satisfies ``mustelid.Backend``. ``verbose=True`` lets llama.cpp's load log through."""

    def __init__(self, cfg: Config, *, verbose: bool = False):
        from mustelid.models import resolve

        resolved = resolve(cfg)  # WaitingError if missing, corrupt or not the expected bytes
        self.path: Path = resolved.path
        self.sha256: str = resolved.sha256
        self.model_id: str = resolved.model_id
        self.threads = cfg.model.threads
        self.seed = cfg.model.seed
        self.max_ctx = cfg.model.n_ctx
        self.kv_type = cfg.model.kv_type
        self.flash_attn = cfg.model.flash_attn or cfg.model.kv_type != "f16"
        self.prefix_reuse = cfg.model.prefix_reuse
        self.choice_decoding = cfg.model.choice_decoding
        self.verbose = verbose
        self.context_reloads = 0
        self.last_perf: dict[str, Any] = {}
        self.llm: Any = None
        self._load(min(cfg.model.n_ctx_min, self.max_ctx))
        self._grammars: dict[str, Any] = {}

    def _load(self, n_ctx: int) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None
        self.llm = _load_llama(
            self.path, n_ctx=n_ctx, threads=self.threads, verbose=self.verbose,
            flash_attn=self.flash_attn, kv_type=self.kv_type,
        )
        self._formatter = _chat_formatter(self.llm)

    def _fit_context(self, needed: int) -> None:
        """Grow the context in doubling steps until ``needed`` tokens fit (never past
        ``model.n_ctx``): a few sizes over the daemon's life instead of one per job."""
        n_ctx = self.llm.n_ctx()
        if needed <= n_ctx:
            return
        while n_ctx < needed:
            n_ctx *= 2
        self._load(min(n_ctx, self.max_ctx))
        self.context_reloads += 1

    def generate(
        self, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int
    ) -> Generation:
        from mustelid.plugins import llama_choices

        plan = llama_choices.compile_schema(schema) if self.choice_decoding else None
        grammar = None if plan is not None else self.grammar_for(schema)
        tokens = self._prompt_tokens(messages)
        prompt_tokens = len(tokens) if tokens is not None else self.count_prompt_tokens(messages)
        # llama-cpp-python would quietly shrink max_tokens to fit; refuse instead.
        if prompt_tokens + max_tokens > self.max_ctx:
            raise PermanentError(
                "input_too_long",
                f"prompt is {prompt_tokens} tokens; with max_tokens={max_tokens} it needs "
                f"{prompt_tokens + max_tokens}, more than model.n_ctx={self.max_ctx}",
            )
        self._fit_context(prompt_tokens + max_tokens)
        if not self.prefix_reuse:
            self.llm.reset()  # n_tokens = 0: nothing of the previous prompt is matched
        from llama_cpp import llama_cpp as lib

        lib.llama_perf_context_reset(self.llm.ctx)
        started = time.perf_counter()
        if plan is not None and tokens is not None:
            try:
                return self._generate_choices(tokens, plan, max_tokens, started)
            except llama_choices.Unplannable as e:
                log.info("choice decoding gave up (%s); using the grammar", e)
        if grammar is None:
            grammar = self.grammar_for(schema)
        try:
            out = self.llm.create_chat_completion(
                messages=messages,
                grammar=grammar,
                max_tokens=max_tokens,
                temperature=0.0,
                seed=self.seed,
            )
        except ValueError as e:
            # Our count can differ slightly from the library's chat handler; this is the backstop.
            if "exceed context window" in str(e):
                raise PermanentError("input_too_long", str(e)) from None
            raise
        self._record_perf(prompt_tokens)
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return Generation(
            text=choice["message"].get("content") or "",
            finish_reason=choice.get("finish_reason") or "",
            prompt_tokens=usage.get("prompt_tokens", prompt_tokens),
            completion_tokens=usage.get("completion_tokens", 0),
            seconds=time.perf_counter() - started,
            model_id=self.model_id,
        )

    def _generate_choices(
        self, tokens: list[int], plan: Any, max_tokens: int, started: float
    ) -> Generation:
        from mustelid.plugins.llama_choices import ChoiceDecoder

        decoder = ChoiceDecoder(self.llm, grammar_for=self.grammar_for, budget=max_tokens)
        decoded = decoder.decode(tokens, plan)
        self._record_perf(len(tokens))
        batched = self.last_perf["prefill_tokens"]
        self.last_perf.update(
            decoder="choices", decisions=decoded.decisions, evals=decoder.evals,
            reused_tokens=decoded.reused,
            # llama.cpp counts every multi-token batch as prompt evaluation; split off the
            # answer's forced tokens (evaluated in the same batches) so prefill means the prompt.
            prefill_tokens=len(tokens) - decoded.reused,
            forced_tokens=batched - (len(tokens) - decoded.reused),
        )
        return Generation(
            text=decoded.text,
            # The plan always closes the JSON; only an open value can run out of tokens.
            finish_reason="length" if decoded.truncated else "stop",
            prompt_tokens=len(tokens),
            completion_tokens=decoded.tokens,
            seconds=time.perf_counter() - started,
            model_id=self.model_id,
            confidence=decoded.confidence,
        )

    def _record_perf(self, prompt_tokens: int) -> None:
        from llama_cpp import llama_cpp as lib

        perf = lib.llama_perf_context(self.llm.ctx)
        # llama.cpp's own counters: prefill (prompt eval) and decode split, for stats and bench.
        self.last_perf = {
            "prefill_tokens": perf.n_p_eval, "prefill_s": round(perf.t_p_eval_ms / 1000, 4),
            "decode_tokens": perf.n_eval, "decode_s": round(perf.t_eval_ms / 1000, 4),
            "reused_tokens": max(0, prompt_tokens - perf.n_p_eval),
            "decoder": "grammar",
        }

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        tokens = self._prompt_tokens(messages)
        if tokens is None:
            # No chat template in the file: llama-cpp-python picks a generic format. The bare
            # contents are a lower bound; the ValueError backstop in generate() covers the rest.
            return sum(
                len(self.llm.tokenize(m.get("content", "").encode("utf-8"), add_bos=False))
                for m in messages
            )
        return len(tokens)

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> list[int] | None:
        """The rendered chat prompt's tokens, or None without a chat template in the file."""
        if self._formatter is None:
            return None
        prompt = self._formatter(messages=messages).prompt
        # Same flags the library's template handler uses to tokenize the rendered prompt.
        return self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)

    def grammar_for(self, schema: dict[str, Any], lead: str = "", trail: str = "") -> Any:
        """The grammar of one JSON value of ``schema``. ``lead`` and ``trail``: literal text
        before and after the value (the choice decoder passes the space after a key's colon and
        the comma or brace after the value, so the model writes them merged with the value's
        first and last characters, as it would on its own)."""
        key = json.dumps(schema, sort_keys=True) + "\0" + lead + "\0" + trail
        if key in self._grammars:
            return self._grammars[key]
        from llama_cpp import llama_cpp as lib
        from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

        # What LlamaGrammar.from_json_schema does, split in two so we hold the GBNF text. The
        # converter signals unsupported schemas with AssertionError, ValueError, KeyError...
        try:
            gbnf = json_schema_to_gbnf(json.dumps(schema))
        except Exception as e:
            raise PermanentError(
                "grammar_unavailable", f"JSON schema cannot be turned into a grammar: {e!r}"[:500]
            ) from None
        gbnf = gbnf.replace(_LOOSE_STRING_CHAR, _JSON_STRING_CHAR)
        if lead or trail:
            gbnf = re.sub(r"^root ::=", "root-value ::=", gbnf, count=1, flags=re.M)
            before = json.dumps(lead) if lead else ""     # GBNF string literals, as in JSON
            after = json.dumps(trail) if trail else ""
            gbnf += f"\nroot ::= {before} root-value {after}\n"
        # LlamaGrammar only stores text; llama.cpp parses it when sampling starts, and a failed
        # parse there gives a NULL sampler (measured: the process died). Parse it here first.
        vocab = lib.llama_model_get_vocab(self.llm.model)
        sampler = lib.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
        if not sampler:
            raise PermanentError(
                "grammar_unavailable",
                "llama.cpp rejected the grammar built from the schema (the converter copies regex "
                r"escapes such as \d or \. into it: write [0-9] and [.] in patterns)",
            )
        lib.llama_sampler_free(sampler)
        grammar = LlamaGrammar.from_string(gbnf, verbose=False)
        if len(self._grammars) >= _GRAMMAR_CACHE_SIZE:
            self._grammars.pop(next(iter(self._grammars)))
        self._grammars[key] = grammar
        return grammar

    def info(self) -> dict[str, Any]:
        import llama_cpp

        extra_bufts = getattr(self.llm.model_params, "use_extra_bufts", None) if self.llm else None
        return {
            "model_id": self.model_id,
            "path": str(self.path),
            "sha256": self.sha256,
            "n_ctx": self.llm.n_ctx() if self.llm else None,
            "n_ctx_max": self.max_ctx,
            "kv_type": self.kv_type,
            "flash_attn": self.flash_attn,
            "prefix_reuse": self.prefix_reuse,
            "threads": self.threads,
            "use_extra_bufts": extra_bufts,
            "llama_cpp_python": llama_cpp.__version__,
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
        }

    # -- memory tiers (called by the model worker between jobs) --------------------------------

    def release(self) -> dict[str, Any]:
        """Tier 1: page the weights out to their file (MADV_PAGEOUT). The model stays loaded;
        the next touch reads pages back (``prewarm`` does that in one sequential pass)."""
        from mustelid import runtime

        ranges = runtime.file_ranges(self.path)
        before, mapped = runtime.residency(ranges)
        err = runtime.page_out(ranges)
        after, _ = runtime.residency(ranges)
        return {"released": err == 0, "errno": err, "mapped": mapped,
                "resident_before": before, "resident_after": after}

    def prewarm(self) -> dict[str, Any]:
        """Read the weights back with large sequential reads and map them, before a job."""
        from mustelid import runtime

        return runtime.prewarm(self.path)

    def memory(self) -> dict[str, Any]:
        """What the model maps and how much of it is resident (mincore)."""
        from mustelid import runtime

        resident, mapped = runtime.residency(runtime.file_ranges(self.path))
        return {"model_bytes": mapped, "model_resident_bytes": resident,
                "n_ctx": self.llm.n_ctx() if self.llm else None,
                "context_reloads": self.context_reloads}

    def close(self) -> None:
        # Llama.close() frees the model and context; `del` alone does not (llama-cpp-python #1442).
        if self.llm is not None:
            self.llm.close()
            self.llm = None


_KV_TYPES = {"f16": "GGML_TYPE_F16", "q8_0": "GGML_TYPE_Q8_0", "q4_0": "GGML_TYPE_Q4_0"}


def _load_llama(
    path: Path, *, n_ctx: int, threads: int, verbose: bool, flash_attn: bool = False,
    kv_type: str = "f16",
) -> Any:
    import llama_cpp
    from llama_cpp import llama_cpp as lib

    kv = getattr(lib, _KV_TYPES[kv_type])

    # On CPUs with AMX, llama.cpp's default "extra buffer types" repack the weights into an AMX
    # buffer and then segfault on the first decode (llama.cpp #20824). Llama() has no argument
    # for it but builds its params from lib.llama_model_default_params() while constructing, so
    # that lookup is patched for the duration of the constructor only.
    has_flag = "use_extra_bufts" in dict(lib.llama_model_params._fields_)
    if not has_flag:
        log.warning("this llama-cpp-python cannot turn off extra buffer types (AMX CPUs may crash)")
    stock_defaults = lib.llama_model_default_params

    def defaults_without_extra_bufts():
        params = stock_defaults()
        if has_flag:
            params.use_extra_bufts = False
        return params

    with _load_lock:
        lib.llama_model_default_params = defaults_without_extra_bufts
        try:
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,  # the library's default is every core, even for prefill
                use_mmap=True,
                use_mlock=False,
                flash_attn=flash_attn,
                type_k=kv,
                type_v=kv,
                verbose=verbose,
            )
        except ValueError as e:  # "Failed to load model from file": memory, or unsupported arch
            raise WaitingError(
                "model_load_failed", f"llama.cpp could not load {path}: {e}"
            ) from None
        finally:
            lib.llama_model_default_params = stock_defaults
    if has_flag and llm.model_params.use_extra_bufts:
        llm.close()  # before any decode, which is where the crash happens
        raise RuntimeError(
            "extra buffer types are still on: llama-cpp-python changed how it builds params"
        )
    return llm


def _chat_formatter(llm: Any) -> Any:
    """The same Jinja formatter llama-cpp-python builds from the file's chat template, so that
    prompt tokens can be counted before generating."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def token_text(token: int) -> str:
        if token < 0:
            return ""
        return llm.detokenize([token], special=True).decode("utf-8", "replace")

    return Jinja2ChatFormatter(
        template=template,
        eos_token=token_text(llm.token_eos()),
        bos_token=token_text(llm.token_bos()),
    )
