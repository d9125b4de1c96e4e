"""``LlamaCppBackend``: a local GGUF run by llama.cpp, output constrained by the task's schema
(decoded by choices where the schema allows it, else one grammar for the whole answer). With a
``[model] mmproj`` it sees images too (``vision.py``): their answer is under the same grammar."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from mustelid.backend import (
    BackendContext,
    Capabilities,
    Generation,
    PermanentError,
    file_ranges,
    model_images,
    page_out,
    populate,
    refuse_images,
    residency,
    rss_split,
    unmap,
)
from mustelid.backend import prewarm as prewarm_file

from .choices import ChoiceDecoder, Node, Unplannable, compile_schema
from .grammar import Grammars
from .loading import chat_formatter, context_size, load_llama
from .prefixes import PrefixShelf
from .settings import LlamaSettings
from .vision import attach, encode_image, make_handler, with_images

log = logging.getLogger(__name__)


class LlamaCppBackend:
    """Satisfies ``mustelid.Backend``. ``verbose=True`` lets llama.cpp's load log through."""

    settings_model = LlamaSettings   # [backend.llama_cpp]

    def __init__(self, ctx: BackendContext, *, verbose: bool = False):
        resolved = ctx.resolve_model()  # WaitingError if missing, corrupt or not the expected bytes
        settings = ctx.parse_settings(LlamaSettings)
        self.path: Path = resolved.path
        self.sha256: str = resolved.sha256
        self.model_id: str = resolved.model_id
        projector = ctx.resolve_mmproj()   # None without one; WaitingError like the model's
        self.mmproj: Path | None = projector.path if projector else None
        if projector:
            # Answers seen through a projector differ from text-only ones: not the same model.
            self.model_id += f"+mmproj@{projector.sha256[:12]}"
        self.chat_handler = settings.chat_handler
        self.image_max_side = settings.image_max_side
        self._vision: Any = None       # the chat handler holding the projector, once loaded
        self.mmproj_rss_bytes: int | None = None
        self.threads = ctx.model.threads
        self.seed = settings.seed
        self.max_ctx = settings.n_ctx
        self.kv_type = settings.kv_type
        self.flash_attn = settings.flash_attn or settings.kv_type != "f16"
        self.prefix_reuse = settings.prefix_reuse
        self.shelf = PrefixShelf(settings.prefix_slots if settings.prefix_reuse else 0)
        self.choice_decoding = settings.choice_decoding
        self.verbose = verbose
        self.context_reloads = 0
        self.last_perf: dict[str, Any] = {}
        self.llm: Any = None
        self.grammar_for = Grammars()   # kept across context reloads: grammars are only text
        self._load(min(settings.n_ctx_min, self.max_ctx))

    def _load(self, n_ctx: int) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None
        self.llm = load_llama(
            self.path, n_ctx=n_ctx, threads=self.threads, verbose=self.verbose,
            flash_attn=self.flash_attn, kv_type=self.kv_type,
        )
        self._formatter = chat_formatter(self.llm)
        self.grammar_for.llm = self.llm
        if self.mmproj is not None:
            try:
                if self._vision is None:
                    self._vision = make_handler(self.chat_handler, self.mmproj,
                                                verbose=self.verbose)
                # Closing the previous Llama freed its projector context: load it again.
                before = rss_split()
                attach(self._vision, self.llm, self.mmproj)
                after = rss_split()
                if before and after:   # what the projector costs (bench, info)
                    self.mmproj_rss_bytes = after["rss"] - before["rss"]
            except BaseException:
                self.close()
                raise

    def capabilities(self) -> Capabilities:
        return Capabilities(vision=self.mmproj is not None)

    def measure_images(self, images: list[Any]) -> list[dict[str, Any]]:
        """``mustelid bench``: the projector's encode time and token count of each image,
        scaled as a job's would be."""
        if self.mmproj is None:
            refuse_images("llama_cpp", images)
        return [encode_image(self._vision, f) for f in model_images(images, self.image_max_side)]

    def generate(
        self, messages: list[dict[str, str]], schema: dict[str, Any], max_tokens: int,
        *, images: list[Any] | None = None,
    ) -> Generation:
        if images:
            if self.mmproj is None:
                refuse_images("llama_cpp", images)
            return self._generate_seeing(messages, schema, max_tokens, images)
        plan = compile_schema(schema) if self.choice_decoding else None
        grammar = None if plan is not None else self.grammar_for(schema)
        tokens = self._prompt_tokens(messages)
        prompt_tokens = len(tokens) if tokens is not None else self.count_prompt_tokens(messages)
        self._make_room(prompt_tokens, max_tokens)
        if tokens is not None:
            self.shelf.prepare(self.llm, tokens)
        from llama_cpp import llama_cpp as lib

        lib.llama_perf_context_reset(self.llm.ctx)
        started = time.perf_counter()
        if plan is not None and tokens is not None:
            try:
                return self._generate_choices(tokens, plan, max_tokens, started)
            except Unplannable as e:
                log.info("choice decoding gave up (%s); using the grammar", e)
        if grammar is None:
            grammar = self.grammar_for(schema)
        return self._generate_grammar(messages, grammar, max_tokens, prompt_tokens, started)

    def _make_room(self, prompt_tokens: int, max_tokens: int) -> None:
        """Size the context for the prompt and its output budget, or refuse: llama-cpp-python
        would quietly shrink max_tokens to fit."""
        if prompt_tokens + max_tokens > self.max_ctx:
            raise PermanentError(
                "input_too_long",
                f"prompt is {prompt_tokens} tokens; with max_tokens={max_tokens} it needs "
                f"{prompt_tokens + max_tokens}, more than backend.llama_cpp.n_ctx={self.max_ctx}",
            )
        n_ctx = context_size(self.llm.n_ctx(), prompt_tokens + max_tokens, self.max_ctx)
        if n_ctx != self.llm.n_ctx():
            # Reloading costs little: the weights' pages are already in memory.
            self._load(n_ctx)
            self.context_reloads += 1
        if not self.prefix_reuse:
            self.llm.reset()  # n_tokens = 0: nothing of the previous prompt is matched

    def _generate_grammar(self, messages: list[dict[str, str]], grammar: Any, max_tokens: int,
                          prompt_tokens: int, started: float) -> Generation:
        """The whole answer under one grammar, token by token."""
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
        return self._generation(out, prompt_tokens, started)

    def _generation(self, out: dict[str, Any], prompt_tokens: int, started: float) -> Generation:
        """A chat completion as a ``Generation`` (llama.cpp's own usage counts when it gives them)."""
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

    def _generate_seeing(self, messages: list[dict[str, str]], schema: dict[str, Any],
                         max_tokens: int, images: list[Any]) -> Generation:
        """The answer about ``images`` under the schema's one grammar (the choice decoder
        works on tokens, and an image is embeddings): the handler evaluates text and image
        chunks, then completes under ``grammar``."""
        grammar = self.grammar_for(schema)
        files = model_images(images, self.image_max_side)
        text_tokens = self.count_prompt_tokens(messages)
        # How many tokens an image becomes is the projector's business (4 to thousands); a
        # seeing job runs with the whole context rather than guess and overflow.
        self._make_room(text_tokens, max_tokens)
        self.shelf.prepare(self.llm, [])     # the image job overwrites the context: keep it
        if self.llm.n_ctx() < self.max_ctx:
            self._load(self.max_ctx)
            self.context_reloads += 1
        from llama_cpp import llama_cpp as lib

        lib.llama_perf_context_reset(self.llm.ctx)
        started = time.perf_counter()
        try:
            out = self._vision(
                llama=self.llm, messages=with_images(messages, files), grammar=grammar,
                max_tokens=max_tokens, temperature=0.0, seed=self.seed,
            )
        except ValueError as e:
            if "exceeds n_ctx" in str(e) or "exceed context window" in str(e):
                raise PermanentError("input_too_long", f"{e} (images included)") from None
            raise PermanentError("image_not_encoded",
                                 f"llama.cpp could not take the image: {e}") from None
        finally:
            # The image's positions hold embeddings, not the token ids the library remembers
            # for prefix reuse: the next prompt must not match against them.
            self.llm.reset()
        usage = out.get("usage") or {}
        self._record_perf(usage.get("prompt_tokens", text_tokens))
        self.last_perf.update(decoder="grammar+images", images=len(files))
        return self._generation(out, text_tokens, started)

    def _generate_choices(
        self, tokens: list[int], plan: Node, max_tokens: int, started: float
    ) -> Generation:
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
            "prefix_slots": self.shelf.slots,
            "threads": self.threads,
            "use_extra_bufts": extra_bufts,
            "mmproj": str(self.mmproj) if self.mmproj else None,
            "chat_handler": self.chat_handler if self.mmproj else None,
            "vision": self.mmproj is not None,
            "mmproj_rss_bytes": self.mmproj_rss_bytes,
            "llama_cpp_python": llama_cpp.__version__,
            "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
        }

    # -- memory tiers (called by the model worker between jobs) --------------------------------

    def release(self) -> dict[str, Any]:
        """Tier 1: page the weights out to their file (MADV_PAGEOUT). The model stays loaded;
        the next touch reads pages back (``prewarm`` does that in one sequential pass)."""
        self.shelf.clear()      # small at rest: an idle daemon keeps no spare contexts
        ranges = file_ranges(self.path)
        before, mapped = residency(ranges)
        err = page_out(ranges)
        after, _ = residency(ranges)
        return {"released": err == 0, "errno": err, "mapped": mapped,
                "resident_before": before, "resident_after": after}

    def step_aside(self) -> dict[str, Any]:
        """For a step of the job that needs memory but not the model (OCR): the weights leave
        our RSS but stay in the page cache (MADV_DONTNEED on the shared file mapping)."""
        return {"unmapped": unmap(file_ranges(self.path)) == 0}

    def step_back(self) -> dict[str, Any]:
        """After ``step_aside``: map the weights again in one call (MADV_POPULATE_READ), from the
        page cache, so the prefill takes no page faults."""
        started = time.perf_counter()
        err = populate(file_ranges(self.path))
        return {"populated": err == 0, "seconds": round(time.perf_counter() - started, 3)}

    def prewarm(self) -> dict[str, Any]:
        """Read the weights back with large sequential reads and map them, before a job."""
        return prewarm_file(self.path)

    def memory(self) -> dict[str, Any]:
        """What the model maps and how much of it is resident (mincore)."""
        resident, mapped = residency(file_ranges(self.path))
        return {"model_bytes": mapped, "model_resident_bytes": resident,
                "n_ctx": self.llm.n_ctx() if self.llm else None,
                "context_reloads": self.context_reloads,
                "shelved_contexts": len(self.shelf.kept), "shelved_bytes": self.shelf.nbytes,
                "contexts_restored": self.shelf.restored}

    def close(self) -> None:
        # Llama.close() frees the model and context; `del` alone does not (llama-cpp-python #1442).
        self.shelf.clear()
        if self.llm is not None:
            self.llm.close()
            self.llm = None
