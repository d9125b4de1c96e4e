"""The union schema the model answers in: one branch per candidate task, then ``ignore``."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from mustelid import Evidence, PermanentError, Task, TaskContext

IGNORE = "ignore"        # the function that files nothing
OTHER = "other"          # its kind


class Ignore(BaseModel):
    """The arguments of ``ignore``: a short reason, bounded so a small model cannot ramble."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=60)


@dataclasses.dataclass
class Candidate:
    task: Task
    evidence: Evidence
    schema: dict[str, Any]


def union_schema(candidates: dict[str, Candidate]) -> dict[str, Any]:
    """``anyOf`` of ``{"kind": task name, "name": function, "arguments": schema}`` per candidate,
    then ``{"kind": "other", "name": "ignore", ...}``.

    Branch schemas must have no ``$ref`` left (see ``inline_refs``): llama-cpp-python's converter
    names a referenced rule after the ref's last segment only, so two tasks each defining
    ``$defs/Item`` would silently share one rule.
    """
    branches = [_branch(name, c.task.function, c.schema) for name, c in candidates.items()]
    branches.append(_branch(OTHER, IGNORE, inline_refs(Ignore.model_json_schema())))
    return {"anyOf": branches}


def _branch(kind: str, function: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"kind": {"const": kind}, "name": {"const": function},
                       "arguments": arguments},
        "required": ["kind", "name", "arguments"],
        "additionalProperties": False,
    }


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace every local ``#/$defs/...`` reference with a copy of its target.

    Raises ``PermanentError("grammar_unavailable")`` for recursive or non-local references: a
    grammar for those would need named rules, which is exactly what cannot be shared safely.
    """
    root = copy.deepcopy(schema)

    def resolve(ref: str) -> Any:
        if not ref.startswith("#/"):
            raise PermanentError("grammar_unavailable", f"unsupported $ref {ref!r}")
        node: Any = root
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                raise PermanentError("grammar_unavailable", f"dangling $ref {ref!r}")
            node = node[part]
        return node

    def visit(node: Any, seen: tuple[str, ...]) -> Any:
        if isinstance(node, list):
            return [visit(v, seen) for v in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            ref = node["$ref"]
            if ref in seen:
                raise PermanentError("grammar_unavailable", f"recursive $ref {ref!r}")
            target = visit(resolve(ref), seen + (ref,))
            siblings = {k: visit(v, seen) for k, v in node.items() if k != "$ref"}
            return {**target, **siblings}
        return {k: visit(v, seen) for k, v in node.items()
                if k not in ("$defs", "definitions")}

    return visit(root, ())


def drop_unenforceable(candidates: dict[str, Candidate], dropped: dict[str, str],
                       ctx: TaskContext) -> None:
    """One task whose schema cannot become a grammar (a ``\\.`` in a pattern...) must not sink
    the whole union: backends that can check a schema ahead (the llama.cpp backend's
    ``grammar_for``, which caches what it builds) drop that candidate instead."""
    check = getattr(ctx.backend, "grammar_for", None)
    if check is None:
        return
    for name in list(candidates):
        try:
            check(union_schema({name: candidates[name]}))
        except PermanentError as e:
            candidates.pop(name)
            dropped[name] = f"{e.reason}: {e.message}"[:300]
