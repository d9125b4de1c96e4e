"""Images for a llama.cpp vision model: its ``mmproj`` projector loaded through one of
llama-cpp-python's multimodal chat handlers (their ``mtmd`` support), and the request the
handler reads (images as data URLs in the last user message).

Fail-closed: a missing file, an unknown handler, or a projector llama.cpp refuses (wrong
``n_embd`` for the model, a truncated file, not a projector) is a one-line ``WaitingError``
naming the file and llama.cpp's own reason; the job waits until the config is fixed.
"""

from __future__ import annotations

import base64
import collections
import ctypes
import functools
import logging
import threading
from pathlib import Path
from typing import Any

from mustelid.backend import WaitingError

log = logging.getLogger(__name__)

DEFAULT_HANDLER = "MTMDChatHandler"
_errors: collections.deque[str] = collections.deque(maxlen=20)   # llama.cpp's mtmd/clip errors
_errors_lock = threading.Lock()
GGML_LOG_LEVEL_ERROR = 4   # ggml.h: NONE, DEBUG, INFO, WARN, ERROR, CONT


def make_handler(name: str, mmproj: Path, *, verbose: bool) -> Any:
    """The chat handler ``name`` of ``llama_cpp.llama_chat_format`` for projector ``mmproj``.
    Loading happens on ``attach``: the handler needs the loaded text model."""
    from llama_cpp import llama_chat_format as formats

    if not mmproj.is_file():
        raise WaitingError("mmproj_missing", f"projector file {mmproj} does not exist")
    cls = getattr(formats, name, None)
    bases = (formats.Llava15ChatHandler, formats.MTMDChatHandler)
    if not (isinstance(cls, type) and issubclass(cls, bases)):
        known = ", ".join(sorted(handler_names()))
        raise WaitingError("chat_handler_unknown", f"[backend.llama_cpp] chat_handler {name!r} "
                           f"is not a multimodal handler of this llama-cpp-python ({known})")
    if cls is formats.MTMDChatHandler:
        cls = _flat_mtmd_handler()
    try:
        return cls(clip_model_path=str(mmproj), verbose=verbose)
    except ValueError as e:
        raise WaitingError("mmproj_missing", str(e)) from None


def handler_names() -> list[str]:
    from llama_cpp import llama_chat_format as formats

    bases = (formats.Llava15ChatHandler, formats.MTMDChatHandler)
    return [n for n, c in vars(formats).items()
            if isinstance(c, type) and issubclass(c, bases)]


def attach(handler: Any, llm: Any, mmproj: Path) -> None:
    """Load the projector against ``llm`` now (not on the first image), so a projector that
    does not fit the model is refused at load with llama.cpp's reason in one line."""
    _capture_mtmd_log()
    with _errors_lock:
        _errors.clear()
    try:
        handler._init_mtmd_context(llm)
    except ValueError as e:
        with _errors_lock:
            reasons = [line for line in _errors if line]
        # e.g. "mismatch between text model (n_embd = 32) and mmproj (n_embd = 48)"
        reason = "; ".join(reasons[-2:]) or str(e)
        raise WaitingError("mmproj_invalid",
                           f"llama.cpp refused projector {mmproj}: {reason}"[:500]) from None


def with_images(messages: list[dict[str, Any]], images: list[bytes]) -> list[dict[str, Any]]:
    """``messages`` with ``images`` (encoded files) put before the text of the last user
    message, as OpenAI-style ``image_url`` parts with data URLs (what the handlers read)."""
    last = max(i for i, m in enumerate(messages) if m.get("role") == "user")
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": data_url(image)}} for image in images]
    parts.append({"type": "text", "text": messages[last].get("content") or ""})
    out = [dict(m) for m in messages]
    out[last]["content"] = parts
    return out


def data_url(image: bytes) -> str:
    kind = "png" if image.startswith(b"\x89PNG") else "jpeg"
    return f"data:image/{kind};base64," + base64.b64encode(image).decode("ascii")


@functools.cache
def _flat_mtmd_handler() -> type:
    from llama_cpp.llama_chat_format import MTMDChatHandler

    class FlatMTMDChatHandler(MTMDChatHandler):
        """``MTMDChatHandler`` renders the model's own chat template with the content parts
        as a list; many text templates (Qwen2.5's) only take a string. The parts are joined
        into one string, the media marker standing where each image is."""

        @classmethod
        def _convert_message_for_template(cls, message: Any, media_marker: str) -> Any:
            out = dict(message)
            content = out.get("content")
            if isinstance(content, list):
                out["content"] = "".join(
                    media_marker if p.get("type") == "image_url" else p.get("text", "")
                    for p in content)
            return out

    return FlatMTMDChatHandler


@functools.cache
def _capture_mtmd_log() -> None:
    """Route llama.cpp's mtmd/clip log through here once: its errors explain a refused
    projector, which the handler reports only as "Failed to load mtmd context"."""
    from llama_cpp import llama_cpp as lib
    from llama_cpp import mtmd_cpp

    @lib.llama_log_callback
    def callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        line = (text or b"").decode("utf-8", "replace").strip()
        if level == GGML_LOG_LEVEL_ERROR and line:
            line = line.removeprefix("mtmd_init_from_file: error: ")
            with _errors_lock:
                _errors.append(" ".join(line.split()))
        elif line:
            log.debug("mtmd: %s", line)

    _capture_mtmd_log.callback = callback   # type: ignore[attr-defined]  # keep it alive
    mtmd_cpp.mtmd_log_set(callback, ctypes.c_void_p(0))
    mtmd_cpp.mtmd_helper_log_set(callback, ctypes.c_void_p(0))  # "encoding image slice..."



def encode_image(handler: Any, image: bytes) -> dict[str, Any]:
    """Time the projector alone on one encoded image (``mustelid bench``): decode it into a
    bitmap, tokenize it with the media marker, run the image chunk's encode pass. Returns
    seconds and the image's token count."""
    import time

    mtmd = handler._mtmd_cpp
    ctx = handler.mtmd_ctx
    bitmap = handler._create_bitmap_from_bytes(image)
    chunks = mtmd.mtmd_input_chunks_init()
    try:
        text = mtmd.mtmd_default_marker()
        prompt = mtmd.mtmd_input_text()
        prompt.text, prompt.text_len = text, len(text)
        prompt.add_special, prompt.parse_special = False, True
        bitmaps = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
        if mtmd.mtmd_tokenize(ctx, chunks, ctypes.byref(prompt), bitmaps, 1) != 0:
            raise ValueError("mtmd could not tokenize the image")
        for i in range(mtmd.mtmd_input_chunks_size(chunks)):
            chunk = mtmd.mtmd_input_chunks_get(chunks, i)
            if mtmd.mtmd_input_chunk_get_type(chunk) != mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                continue
            started = time.perf_counter()
            if mtmd.mtmd_encode_chunk(ctx, chunk) != 0:
                raise ValueError("mtmd could not encode the image")
            return {"encode_s": round(time.perf_counter() - started, 4),
                    "image_tokens": mtmd.mtmd_input_chunk_get_n_tokens(chunk)}
        raise ValueError("the image gave no image chunk")
    finally:
        mtmd.mtmd_input_chunks_free(chunks)
        mtmd.mtmd_bitmap_free(bitmap)
