"""Backend ``mlx``: a local MLX model (Apple Silicon) run by mlx-lm, output constrained by
llguidance, a token-mask engine built from the task's JSON schema.

Install with ``pip install 'mustelid[mlx]'`` (resolves only on macOS arm64; ``mlx[cpu]`` also
runs it on Linux, which is how the tests do). ``model.path`` is a local MLX model folder
(config.json, *.safetensors, tokenizer files): nothing is downloaded at run time.

Fail-closed: without llguidance, or for a schema it cannot compile, a schema job raises
``PermanentError("grammar_unavailable")``; nothing is generated unconstrained.

Vision: a model folder whose config has a ``vision_config`` is loaded by mlx-vlm
(``mlx_vision.py``) and sees images, under the same token mask; without mlx-vlm it is refused
(``vision_unavailable``), never read as a text model.

Memory: MLX keeps weights in unified memory it allocated itself (no file mapping to page out),
so tier 1 (``release``) unloads the model and ``prewarm`` loads it again. Memory is wired
(mlx-lm's ``wired_limit``) only for the duration of a generation, so an idle daemon never pins
the machine's memory.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from mustelid import hookimpl
from mustelid.backend import (
    BackendContext,
    BackendFactory,
    Capabilities,
    Generation,
    PermanentError,
    WaitingError,
    model_images,
    refuse_images,
)

from . import mlx_vision


class MlxSettings(BaseModel):
    """``[backend.mlx]``"""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(0, description="sampling seed; generation is greedy anyway")
    image_max_side: int = Field(1024, ge=64, description="a vision model's images are scaled "
                                "to at most this many pixels a side before its processor")


@hookimpl
def register_backends(register: Callable[[str, BackendFactory], None]) -> None:
    register("mlx", MlxBackend)


def _grammar_engine() -> Any:
    try:
        import llguidance
        import llguidance.hf
        import llguidance.numpy
    except ImportError:
        return None
    return llguidance


class MlxBackend:
    """Satisfies ``mustelid.Backend``."""

    settings_model = MlxSettings

    def __init__(self, ctx: BackendContext):
        settings = ctx.parse_settings(MlxSettings)
        try:
            import mlx.core  # noqa: F401
            import mlx_lm  # noqa: F401
        except ImportError as e:
            raise WaitingError("backend_unavailable",
                               f"backend mlx needs mlx-lm (pip install 'mustelid[mlx]'): {e}")
        path = ctx.model.path
        if path is None or not Path(path).expanduser().is_dir():
            raise WaitingError("model_missing",
                               f"backend mlx needs model.path = a local MLX model folder "
                               f"(got {path})")
        self.path = Path(path).expanduser()
        self.vision = mlx_vision.is_vision_model(self.path)
        if self.vision:
            mlx_vision.require_mlx_vlm(self.path)
        self.model_id = f"mlx:{self.path.name}"
        self.seed = settings.seed
        self.image_max_side = settings.image_max_side
        self.model: Any = None
        self.tokenizer: Any = None
        self.processor: Any = None     # mlx-vlm's (images and tokenizer) for a vision model
        self.model_bytes = 0
        self._lltok: Any = None
        self.last_perf: dict[str, Any] = {}
        self._load()

    def _load(self) -> None:
        from mlx.utils import tree_reduce

        if self.vision:
            self.model, self.processor = mlx_vision.load(self.path)
            self.tokenizer = self.processor.tokenizer
        else:
            from mlx_lm import load

            self.model, self.tokenizer = load(str(self.path))
        self.model_bytes = tree_reduce(
            lambda acc, x: acc + getattr(x, "nbytes", 0), self.model.parameters(), 0)

    def _grammar_tokenizer(self) -> Any:
        engine = _grammar_engine()
        if engine is None:
            raise PermanentError("grammar_unavailable",
                                 "backend mlx enforces schemas with llguidance, which is not "
                                 "installed (pip install llguidance); refusing to generate "
                                 "unconstrained output")
        if self._lltok is None:  # ~1 s to build: once per load
            # mlx-lm wraps the Hugging Face tokenizer; mlx-vlm's processor holds it as is
            hf = self.tokenizer if self.vision else getattr(self.tokenizer, "_tokenizer",
                                                            self.tokenizer)
            self._lltok = engine.hf.from_tokenizer(hf, n_vocab=self._vocab_size(),
                                                   eos_token=self.tokenizer.eos_token_id)
        return self._lltok

    def _vocab_size(self) -> int:
        if self.vision:
            return mlx_vision.vocab_size(self.model)
        return int(self.model.args.vocab_size) if hasattr(self.model, "args") else \
            len(self.tokenizer.get_vocab())

    def matcher(self, schema: dict[str, Any]) -> Any:
        """An llguidance matcher for the schema, or PermanentError("grammar_unavailable")."""
        import llguidance

        lltok = self._grammar_tokenizer()
        try:
            # compact JSON: free whitespace lets a weak model loop on blanks until max_tokens
            grammar = llguidance.LLMatcher.grammar_from_json_schema(
                json.dumps(_closed(schema)), overrides={"whitespace_flexible": False})
            matcher = llguidance.LLMatcher(lltok, grammar)
        except Exception as e:
            raise PermanentError("grammar_unavailable", f"schema not compilable: {e}"[:500])
        if matcher.is_error():
            raise PermanentError("grammar_unavailable", matcher.get_error()[:500])
        return matcher

    def capabilities(self) -> Capabilities:
        return Capabilities(vision=self.vision)

    def measure_images(self, images: list[Any]) -> list[dict[str, Any]]:
        """``mustelid bench``: the vision tower's encode time and token count of each image,
        scaled as a job's would be."""
        if not self.vision:
            refuse_images("mlx", images)
        if self.model is None:
            self._load()
        return [mlx_vision.encode(self.model, self.processor, f)
                for f in model_images(images, self.image_max_side)]

    def generate(self, messages: list[dict[str, str]], schema: dict[str, Any],
                 max_tokens: int, *, images: list[Any] | None = None) -> Generation:
        if images and not self.vision:
            refuse_images("mlx", images)
        if self.model is None:
            self._load()      # released: load again
        matcher = self.matcher(schema)
        if self.vision:
            return self._generate_seeing(messages, matcher, max_tokens, images or [])
        import mlx.core as mx
        from mlx_lm.generate import generate_step, wired_limit

        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                    tokenize=True)
        if isinstance(prompt, dict):  # transformers 5 returns a BatchEncoding
            prompt = prompt["input_ids"]
        mx.random.seed(self.seed)
        processor = _MaskProcessor(matcher, len(prompt), self._vocab_size())
        eos = set(self.tokenizer.eos_token_ids)
        tokens: list[int] = []
        finish = "length"
        started = time.perf_counter()
        first = None
        wire = wired_limit(self.model) if mx.metal.is_available() else contextlib.nullcontext()
        with wire:
            for token, _ in generate_step(mx.array(prompt), self.model, max_tokens=max_tokens,
                                          sampler=lambda logp: mx.argmax(logp, axis=-1),
                                          logits_processors=[processor]):
                first = first or time.perf_counter()
                token = int(token)
                if token in eos:
                    finish = "stop" if matcher.is_accepting() else "length"
                    break
                tokens.append(token)
                if matcher.is_error():
                    raise PermanentError("grammar_unavailable",
                                         f"llguidance: {matcher.get_error()}"[:500])
        ended = time.perf_counter()
        self.last_perf = {"prefill_tokens": len(prompt),
                          "prefill_s": round((first or ended) - started, 4),
                          "decode_tokens": len(tokens),
                          "decode_s": round(ended - (first or ended), 4), "reused_tokens": 0}
        return Generation(text=self.tokenizer.decode(tokens), finish_reason=finish,
                          prompt_tokens=len(prompt), completion_tokens=len(tokens),
                          seconds=ended - started, model_id=self.model_id)

    def _generate_seeing(self, messages: list[dict[str, str]], matcher: Any, max_tokens: int,
                         images: list[Any]) -> Generation:
        """A vision model's answer (with or without images) through mlx-vlm, under the
        same token mask as a text model's."""
        import mlx.core as mx

        mx.random.seed(self.seed)
        # mlx-vlm hands the processor only the prompt's tail it still had to evaluate
        processor = _MaskProcessor(matcher, None, self._vocab_size())
        out = mlx_vision.run(self.model, self.processor, messages,
                             model_images(images, self.image_max_side), processor, max_tokens)
        if matcher.is_error():
            raise PermanentError("grammar_unavailable",
                                 f"llguidance: {matcher.get_error()}"[:500])
        finish = out["finish"]
        if finish == "stop" and not matcher.is_accepting():
            finish = "length"
        tokens = out["tokens"]
        self.last_perf = {"prefill_tokens": out["prompt_tokens"], "prefill_s": out["prefill_s"],
                          "decode_tokens": len(tokens), "decode_s": out["decode_s"],
                          "reused_tokens": 0}
        return Generation(text=self.tokenizer.decode(tokens), finish_reason=finish,
                          prompt_tokens=out["prompt_tokens"], completion_tokens=len(tokens),
                          seconds=out["seconds"], model_id=self.model_id)

    # -- memory tiers: MLX owns its memory, so release means unload ---------------------------

    def release(self) -> dict[str, Any]:
        import mlx.core as mx

        self.model = None
        self.processor = None
        self._lltok = None
        mx.clear_cache()
        return {"released": True, "unloaded": True}

    def prewarm(self) -> dict[str, Any]:
        started = time.perf_counter()
        if self.model is None:
            self._load()
        return {"loaded": True, "seconds": round(time.perf_counter() - started, 3)}

    def memory(self) -> dict[str, Any]:
        return {"model_bytes": self.model_bytes,
                "model_resident_bytes": self.model_bytes if self.model is not None else 0}

    def close(self) -> None:
        if self.model is not None:
            self.release()


class _MaskProcessor:
    """mlx-lm logits processor: only tokens the grammar allows next keep their logits."""

    def __init__(self, matcher: Any, prompt_len: int | None, vocab: int):
        import llguidance.numpy as lln

        self.matcher = matcher
        self.prompt_len = prompt_len   # None: whatever history the first call sees is prompt
        self.vocab = vocab
        self.consumed = 0            # generated tokens already fed to the matcher
        self.bitmask = lln.allocate_token_bitmask(1, vocab)
        self._fill = lln.fill_next_token_bitmask

    def __call__(self, tokens: Any, logits: Any) -> Any:
        import mlx.core as mx
        import numpy as np

        # mlx-lm computes step n+1 before it yields token n, so the matcher learns the sampled
        # tokens here, from the token history, not from the consumer of the generator.
        if self.prompt_len is None:
            self.prompt_len = len(tokens)
        for token in tokens[self.prompt_len + self.consumed:].tolist():
            self.matcher.consume_token(int(token))
            self.consumed += 1
        self._fill(self.matcher, self.bitmask, 0)
        # Applied with numpy, not llguidance.mlx's Metal kernel, so it also runs on CPU builds.
        allowed = np.unpackbits(self.bitmask[0].view(np.uint8), bitorder="little")
        width = logits.shape[-1]
        allowed = np.pad(allowed[:width], (0, max(0, width - allowed.size)))
        return mx.where(mx.array(allowed.astype(bool)), logits, -mx.inf)


def _closed(schema: Any) -> Any:
    """Objects with listed properties get ``additionalProperties: false`` unless they say
    otherwise: llguidance follows JSON Schema's default (extra keys allowed), which lets a weak
    model invent unbounded keys until max_tokens; pydantic models list every field they read."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema
