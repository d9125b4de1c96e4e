"""Loading a GGUF into llama.cpp the way mustelid needs it, and sizing its context.

The weights stay a clean file-backed mmap (no mlock, no extra buffer types), so the backend's
``release`` can hand them back to the page cache and ``prewarm`` can read them in again with
one sequential read (``mustelid.backend.page_out`` / ``prewarm``).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mustelid.backend import WaitingError

log = logging.getLogger(__name__)

KV_TYPES = {"f16": "GGML_TYPE_F16", "q8_0": "GGML_TYPE_Q8_0", "q4_0": "GGML_TYPE_Q4_0"}
_load_lock = threading.Lock()  # guards the temporary patch in load_llama


def load_llama(
    path: Path, *, n_ctx: int, threads: int, verbose: bool, flash_attn: bool = False,
    kv_type: str = "f16",
) -> Any:
    """A ``llama_cpp.Llama`` for ``path`` with extra buffer types off; ``WaitingError`` if
    llama.cpp cannot load the file (memory, or an architecture it does not know)."""
    import llama_cpp
    from llama_cpp import llama_cpp as lib

    kv = getattr(lib, KV_TYPES[kv_type])
    has_flag = "use_extra_bufts" in dict(lib.llama_model_params._fields_)
    if not has_flag:
        log.warning("this llama-cpp-python cannot turn off extra buffer types (AMX CPUs may crash)")
    with _load_lock, _without_extra_buffer_types(lib, has_flag):
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
    if has_flag and llm.model_params.use_extra_bufts:
        llm.close()  # before any decode, which is where the crash happens
        raise RuntimeError(
            "extra buffer types are still on: llama-cpp-python changed how it builds params"
        )
    return llm


@contextlib.contextmanager
def _without_extra_buffer_types(lib: Any, has_flag: bool) -> Iterator[None]:
    """On CPUs with AMX, llama.cpp's default "extra buffer types" repack the weights into an AMX
    buffer and then segfault on the first decode (llama.cpp #20824). Llama() has no argument
    for it but builds its params from lib.llama_model_default_params() while constructing, so
    that lookup is patched for the duration of the constructor only."""
    stock_defaults = lib.llama_model_default_params

    def defaults_without_extra_bufts() -> Any:
        params = stock_defaults()
        if has_flag:
            params.use_extra_bufts = False
        return params

    lib.llama_model_default_params = defaults_without_extra_bufts
    try:
        yield
    finally:
        lib.llama_model_default_params = stock_defaults


def context_size(current: int, needed: int, maximum: int) -> int:
    """The context to run with when ``needed`` tokens must fit: ``current`` if they do, else
    ``current`` doubled until they do, never past ``maximum``. Doubling keeps the sizes a
    daemon goes through to a few over its life instead of one per job."""
    if needed <= current:
        return current
    n_ctx = current
    while n_ctx < needed:
        n_ctx *= 2
    return min(n_ctx, maximum)


def chat_formatter(llm: Any) -> Any:
    """The same Jinja formatter llama-cpp-python builds from the file's chat template, so that
    prompt tokens can be counted before generating; None without a template in the file."""
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
