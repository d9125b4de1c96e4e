"""Decoding JSON schemas by choices: ``compile_schema`` makes a plan of the schema (``plan``),
``ChoiceDecoder`` runs it against a loaded llama.cpp context (``decoder``)."""

from .decoder import ChoiceDecoder, Decoded, Unplannable
from .plan import (MAX_OPTIONS, Arr, Choice, Node, Obj, Open, Tup, Union_, compile_schema,
                   is_closed)

__all__ = [
    "MAX_OPTIONS",
    "Arr",
    "Choice",
    "ChoiceDecoder",
    "Decoded",
    "Node",
    "Obj",
    "Open",
    "Tup",
    "Union_",
    "Unplannable",
    "compile_schema",
    "is_closed",
]
