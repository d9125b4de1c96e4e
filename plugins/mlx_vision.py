"""Images for backend ``mlx``: a vision model folder (its ``config.json`` has a
``vision_config``: Qwen2-VL, Qwen2.5-VL, SmolVLM, Gemma 3, ... as mlx-community converts them)
is loaded by mlx-vlm instead of mlx-lm, and answers about images under the same llguidance
token mask as text answers (``mlx_backend._MaskProcessor``): never unconstrained.

Fail-closed: a vision model without mlx-vlm installed, or one mlx-vlm cannot load (vision
weights missing or the wrong shape, an unknown model type, no processor files), is a one-line
``WaitingError`` naming the folder; the backend never falls back to reading it as text only.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

from mustelid.backend import WaitingError


def is_vision_model(folder: Path) -> bool:
    """Whether the MLX model in ``folder`` has a vision tower (mlx-vlm's models all declare
    one as ``vision_config``). An unreadable config is left to the loader to report."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and isinstance(config.get("vision_config"), dict)


def require_mlx_vlm(folder: Path) -> None:
    """``WaitingError("vision_unavailable")`` when mlx-vlm cannot be imported."""
    try:
        import mlx_vlm  # noqa: F401
    except ImportError as e:
        raise WaitingError(
            "vision_unavailable",
            f"mlx-vlm is not installed: {folder} is a vision model "
            f"(pip install 'mustelid[mlx]'): {e}"[:500]) from None


def load(folder: Path) -> tuple[Any, Any]:
    """mlx-vlm's model and processor for ``folder``; ``WaitingError("vision_model_invalid")``
    with mlx-vlm's reason when it refuses the folder."""
    from mlx_vlm import load as vlm_load

    try:
        model, processor = vlm_load(str(folder))
    except Exception as e:  # mlx-vlm raises ValueError, KeyError, OSError ... for bad folders
        # its first line: some of mlx-vlm's errors go on with a how-to in several paragraphs
        reason = next((line.strip() for line in str(e).splitlines() if line.strip()),
                      type(e).__name__)
        raise WaitingError("vision_model_invalid",
                           f"mlx-vlm could not load {folder}: {reason}"[:500]) from None
    missing = _missing_vision_parts(model)
    if missing:
        raise WaitingError("vision_model_invalid",
                           f"vision model {folder} has no weights for {', '.join(missing)}: "
                           "it cannot see (a text-only conversion?)")
    if getattr(processor, "tokenizer", None) is None:
        raise WaitingError("vision_model_invalid",
                           f"mlx-vlm found no image processor and tokenizer in {folder}")
    return model, processor


def _missing_vision_parts(model: Any) -> list[str]:
    """The parts that let ``model`` see that mlx-vlm dropped for want of weights: it loads
    such a checkpoint with the module set to None (and a log line) instead of refusing it."""
    import mlx.nn as nn

    dropped = sorted(name for name, value in vars(model).items()
                     if value is None and any(word in name for word in _VISION_WORDS))
    others = [name for name, child in model.items()
              if isinstance(child, nn.Module) and name != "language_model"]
    return dropped or ([] if others else ["its vision tower"])


_VISION_WORDS = ("vision", "visual", "image", "projector", "connector")


def vocab_size(model: Any) -> int:
    config = model.config
    text = getattr(config, "text_config", None)
    return int(getattr(text, "vocab_size", None) or config.vocab_size)


def run(model: Any, processor: Any, messages: list[dict[str, Any]], images: list[bytes],
        mask: Any, max_tokens: int) -> dict[str, Any]:
    """Greedy generation from ``messages`` and ``images`` (encoded files, already upright
    and scaled) with ``mask`` (an mlx logits processor) as the only way to pick a token.
    Returns the generated token ids (without the stop token), the finish reason, the prompt's
    token count (image tokens included) and timings."""
    import mlx.core as mx
    from mlx_vlm import stream_generate
    from mlx_vlm.prompt_utils import apply_chat_template
    from PIL import Image

    prompt = apply_chat_template(processor, model.config, messages, num_images=len(images))
    pictures = [Image.open(io.BytesIO(f)) for f in images]
    started = time.perf_counter()
    first = None
    last = None
    for last in stream_generate(model, processor, prompt, image=pictures or None,
                                max_tokens=max_tokens, temperature=0.0,
                                sampler=lambda logp: mx.argmax(logp, axis=-1),
                                logits_processors=[mask]):
        first = first or time.perf_counter()
    ended = time.perf_counter()
    if last is None:
        raise RuntimeError("mlx-vlm generated nothing")
    tokens = list(last.token_ids or [])
    finish = last.finish_reason or "length"
    if finish == "stop" and tokens:
        tokens = tokens[:-1]    # the stop token: mlx-vlm counts it, the answer does not hold it
    return {"tokens": tokens, "finish": finish, "prompt_tokens": int(last.prompt_tokens),
            "prefill_s": round((first or ended) - started, 4),
            "decode_s": round(ended - (first or ended), 4), "seconds": ended - started}


def encode(model: Any, processor: Any, image: bytes) -> dict[str, Any]:
    """``mustelid bench``: the vision tower's time on one image (processor output to image
    embeddings) and how many tokens the image becomes."""
    import mlx.core as mx
    from mlx_vlm.prompt_utils import apply_chat_template
    from mlx_vlm.utils import prepare_inputs
    from PIL import Image

    prompt = apply_chat_template(processor, model.config, "x", num_images=1)
    inputs = prepare_inputs(processor, images=[Image.open(io.BytesIO(image))], prompts=prompt)
    ids = inputs.pop("input_ids")
    pixels = inputs.pop("pixel_values", None)
    mask = inputs.pop("attention_mask", None)
    started = time.perf_counter()
    out = model.get_input_embeddings(ids, pixels, mask=mask, **inputs)
    mx.eval(out.inputs_embeds)
    seconds = time.perf_counter() - started
    image_token = getattr(processor, "image_token_id", None)
    if image_token is None:
        image_token = getattr(model.config, "image_token_id", None) or \
            getattr(model.config, "image_token_index", None)
    count = int((ids == image_token).sum().item()) if image_token is not None else 0
    return {"encode_s": round(seconds, 4), "image_tokens": count}
