"""JSON-schema grammars for llama.cpp, checked before use and cached per schema.

Fail-closed: a schema the converter (``gbnf.py``) cannot turn into GBNF, or GBNF llama.cpp cannot
parse, is a ``PermanentError("grammar_unavailable")``; nothing is ever generated unconstrained.
"""

from __future__ import annotations

import json
from typing import Any

from mustelid.backend import PermanentError

from .gbnf import schema_to_gbnf

CACHE_SIZE = 32


class Grammars:
    """Grammars checked against the loaded model (``llm``: a ``llama_cpp.Llama``, set by the
    backend at each load), cached per schema, oldest dropped first beyond ``CACHE_SIZE``."""

    def __init__(self, llm: Any = None):
        self.llm = llm
        self._cache: dict[str, Any] = {}

    def __call__(self, schema: dict[str, Any], lead: str = "", trail: str = "") -> Any:
        """The grammar of one JSON value of ``schema``. ``lead`` and ``trail``: literal text
        before and after the value (the choice decoder passes the space after a key's colon and
        the comma or brace after the value, so the model writes them merged with the value's
        first and last characters, as it would on its own)."""
        # Not sort_keys: the order of "properties" is the order the grammar writes them in.
        key = json.dumps(schema) + "\0" + lead + "\0" + trail
        if key in self._cache:
            return self._cache[key]
        from llama_cpp.llama_grammar import LlamaGrammar

        gbnf = schema_gbnf(schema, lead, trail)
        self._check(gbnf)
        grammar = LlamaGrammar.from_string(gbnf, verbose=False)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.pop(next(iter(self._cache)))
        self._cache[key] = grammar
        return grammar

    def _check(self, gbnf: str) -> None:
        """LlamaGrammar only stores text; llama.cpp parses it when sampling starts, and a failed
        parse there gives a NULL sampler (measured: the process died). Parse it here first."""
        from llama_cpp import llama_cpp as lib

        vocab = lib.llama_model_get_vocab(self.llm.model)
        sampler = lib.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
        if not sampler:
            raise PermanentError(
                "grammar_unavailable",
                "llama.cpp rejected the grammar built from the schema (the converter copies regex "
                r"escapes such as \d or \. into it: write [0-9] and [.] in patterns)",
            )
        lib.llama_sampler_free(sampler)


def schema_gbnf(schema: dict[str, Any], lead: str = "", trail: str = "") -> str:
    """The GBNF text of ``schema`` (see ``gbnf.schema_to_gbnf``), or grammar_unavailable."""
    # The converter signals unsupported schemas with AssertionError, ValueError, KeyError...
    try:
        return schema_to_gbnf(schema, lead, trail)
    except Exception as e:
        raise PermanentError(
            "grammar_unavailable", f"JSON schema cannot be turned into a grammar: {e!r}"[:500]
        ) from None
