"""The default backend, ``llama_cpp``: a local GGUF run by llama.cpp (llama-cpp-python), output
constrained by the task's JSON schema. Settings: ``[backend.llama_cpp]`` (``settings.py``).

Fail-closed throughout: a schema that cannot become a grammar, or a prompt that does not fit the
context with its output budget, is a ``PermanentError``; nothing is ever generated unconstrained
or silently truncated. llama_cpp (the library) is imported only in the model worker.

Memory (measured figures in docs/BENCHMARKS.md):
- The weights stay a clean file-backed mmap (no mlock, no extra buffer types: ``loading.py``),
  so ``release`` can hand them back to the page cache with MADV_PAGEOUT and ``prewarm`` can read
  them in again with one sequential read.
- The context (KV cache + compute buffers, all anonymous memory) starts at ``n_ctx_min`` tokens
  and doubles when a job's prompt + max_tokens needs more, up to ``n_ctx``. Growing reloads the
  model object, which costs little because its pages are already in memory; a job beyond
  ``n_ctx`` fails as ``input_too_long``, never truncated.
- Prefix reuse: llama-cpp-python keeps the previous prompt's tokens in the context and only
  evaluates the part of the next prompt that differs (``Llama.generate``'s prefix match). Jobs of
  one task share their system prompt, so each job prefills mostly its own evidence.
  Tasks that take turns (a burst of mixed files) each find their own prefix on a shelf of the
  last ``prefix_slots`` contexts' KV (``prefixes.py``), emptied by ``release``.
  ``prefix_reuse = false`` resets the context before every job (for measurement).
- Schemas with a known structure (objects with required members, enums, booleans, unions told
  apart by a first member) are decoded by choices (``choices/``): forced text is appended in
  batches, the model is asked only where options differ, and open values (free strings, numbers)
  are generated under a grammar of their own (``grammar.py``). ``choice_decoding = false`` uses
  one grammar for the whole answer, token by token.
"""

from __future__ import annotations

from typing import Callable

from mustelid import hookimpl
from mustelid.backend import BackendFactory

from .backend import LlamaCppBackend
from .settings import LlamaSettings

__all__ = ["LlamaCppBackend", "LlamaSettings", "register_backends"]


@hookimpl
def register_backends(register: Callable[[str, BackendFactory], None]) -> None:
    register("llama_cpp", LlamaCppBackend)
