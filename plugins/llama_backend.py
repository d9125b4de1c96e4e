"""The default backend: a local GGUF run by llama.cpp (llama-cpp-python), output constrained by a
grammar built from the task's JSON schema.

Fail-closed throughout: a schema that cannot become a grammar, or a prompt that does not fit the
context with its output budget, is a ``PermanentError``; nothing is ever generated unconstrained
or silently truncated. llama_cpp is imported only here, in the model worker.
"""

from __future__ import annotations

import json
import logging
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
        self.llm = _load_llama(
            self.path, n_ctx=cfg.model.n_ctx, threads=self.threads, verbose=verbose
        )
        self._formatter = _chat_formatter(self.llm)
        self._grammars: dict[str, Any] = {}

    def generate(
        self, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int
    ) -> Generation:
        grammar = self.grammar_for(schema)
        prompt_tokens = self.count_prompt_tokens(messages)
        n_ctx = self.llm.n_ctx()
        # llama-cpp-python would quietly shrink max_tokens to fit; refuse instead.
        if prompt_tokens + max_tokens > n_ctx:
            raise PermanentError(
                "input_too_long",
                f"prompt is {prompt_tokens} tokens; with max_tokens={max_tokens} it needs "
                f"{prompt_tokens + max_tokens}, more than model.n_ctx={n_ctx}",
            )
        started = time.perf_counter()
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

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        if self._formatter is None:
            # No chat template in the file: llama-cpp-python picks a generic format. The bare
            # contents are a lower bound; the ValueError backstop in generate() covers the rest.
            return sum(
                len(self.llm.tokenize(m.get("content", "").encode("utf-8"), add_bos=False))
                for m in messages
            )
        prompt = self._formatter(messages=messages).prompt
        # Same flags the library's template handler uses to tokenize the rendered prompt.
        return len(self.llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def grammar_for(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
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
            "threads": self.threads,
            "use_extra_bufts": extra_bufts,
            "llama_cpp_python": llama_cpp.__version__,
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
        }

    def close(self) -> None:
        # Llama.close() frees the model and context; `del` alone does not (llama-cpp-python #1442).
        if self.llm is not None:
            self.llm.close()
            self.llm = None


def _load_llama(path: Path, *, n_ctx: int, threads: int, verbose: bool) -> Any:
    import llama_cpp
    from llama_cpp import llama_cpp as lib

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
