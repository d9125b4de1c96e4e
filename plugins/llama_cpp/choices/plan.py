"""The decoding plan of a JSON schema: where a value the schema admits is one of a known list
(enum, const, boolean, null, anyOf of those, objects of them, bounded arrays of such objects),
the answer's text is known except for the choices, so only the choices need the model.

``compile_schema`` turns a schema into a tree of ``Choice`` (a list of JSON texts), ``Obj``,
``Arr`` (bounded), ``Union_`` (objects told apart by a first member) and ``Open`` (a value that
must be generated token by token under a grammar of its own: free strings, numbers, patterns,
unbounded arrays). A schema that is open at its root gets ``None`` and goes through the plain
grammar path of the backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from ..gbnf import json_text


@dataclass
class Choice:
    options: list[str]        # JSON texts (gbnf.json_text), e.g. '"33.90"', 'true', 'null'


@dataclass
class Obj:
    members: list[tuple[str, "Node"]]


@dataclass
class Arr:
    item: "Obj | Choice"
    min_items: int
    max_items: int
    unique: bool = False      # uniqueItems: a chosen option is not offered again


@dataclass
class Union_:
    """``anyOf`` of objects told apart by a member that is a choice (a discriminator such as a
    router's ``kind``): choosing its value chooses the branch. ``shared`` leading members are
    alike in every branch (the same key, one fixed value: a todo's quoted line before its
    ``is_todo``) and are written before the discriminator."""
    branches: list[Obj]
    shared: int = 0


@dataclass
class Tup:
    """A fixed-length array of per-position values (``prefixItems``, as many as min/maxItems)."""
    items: list["Node"]


@dataclass
class Open:
    schema: dict[str, Any]    # self-contained (with the $defs it refers to)


Node = Union[Choice, Obj, Arr, Union_, Tup, Open]
MAX_OPTIONS = 4096   # beyond this a trie per choice costs more than it saves


def compile_schema(schema: dict[str, Any], allow_open: bool = True) -> Node | None:
    """The schema as a decoding plan; None if it is open at the root (or anywhere, when
    ``allow_open`` is false)."""
    defs = schema.get("$defs") or schema.get("definitions") or {}
    try:
        plan = _node(schema, defs, depth=0, allow_open=allow_open)
    except _Open:
        return None
    return None if isinstance(plan, Open) else plan


def is_closed(plan: Node | None) -> bool:
    """No value in the plan needs token-by-token generation."""
    if plan is None or isinstance(plan, Open):
        return False
    if isinstance(plan, Obj):
        return all(is_closed(n) for _, n in plan.members)
    if isinstance(plan, Arr):
        return is_closed(plan.item)
    if isinstance(plan, Union_):
        return all(is_closed(b) for b in plan.branches)
    if isinstance(plan, Tup):
        return all(is_closed(i) for i in plan.items)
    return True


class _Open(Exception):
    pass


def _resolve(s: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = s.get("$ref")
    if ref is None:
        return s
    name = ref.rsplit("/", 1)[-1]
    if not ref.startswith(("#/$defs/", "#/definitions/")) or name not in defs:
        raise _Open
    return defs[name]


def _options(s: dict[str, Any], defs: dict[str, Any]) -> list[str]:
    """The JSON texts a scalar schema admits; _Open if they are not a finite list."""
    s = _resolve(s, defs)
    if "const" in s:
        return [json_text(s["const"])]
    if "enum" in s:
        values = s["enum"]
        kind = s.get("type")
        if kind is not None:   # {"type": "string", "enum": [...]}: keep the values of that type
            values = [v for v in values if _json_type(v) == kind]
        return [json_text(v) for v in values]
    if s.get("type") == "boolean":
        return ["true", "false"]
    if s.get("type") == "null":
        return ["null"]
    branches = s.get("anyOf") or s.get("oneOf")
    if branches:
        return [o for b in branches for o in _options(b, defs)]
    raise _Open


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def _node(s: dict[str, Any], defs: dict[str, Any], depth: int, allow_open: bool = False) -> Node:
    """The plan for ``s``; with ``allow_open``, what cannot be planned becomes ``Open``."""
    try:
        return _closed_node(s, defs, depth, allow_open)
    except _Open:
        if not allow_open or depth > 8:
            raise
        s = _resolve(s, defs)
        return Open({**s, "$defs": defs} if defs and "$defs" not in s else s)


def _closed_node(s: dict[str, Any], defs: dict[str, Any], depth: int, allow_open: bool) -> Node:
    if depth > 8:
        raise _Open
    s = _resolve(s, defs)
    if s.get("type") == "object" and "properties" in s:
        props = s["properties"]
        if set(s.get("required", [])) != set(props) or not props:
            raise _Open   # optional members: the grammar decides whether to emit them
        return Obj([(k, _node(v, defs, depth + 1, allow_open)) for k, v in props.items()])
    if s.get("type") == "array" and "prefixItems" in s:
        items = s["prefixItems"]
        if not (s.get("minItems") == s.get("maxItems") == len(items)) or s.get("items"):
            raise _Open   # a tuple with optional or extra items: the grammar decides
        if not items:
            return Choice(["[]"])
        return Tup([_node(i, defs, depth + 1, allow_open) for i in items])
    if s.get("type") == "array":
        if s.get("maxItems") == 0:
            return Choice(["[]"])
        item = _closed_node(s.get("items") or {}, defs, depth + 1, allow_open=False)
        if "maxItems" not in s or isinstance(item, (Arr, Union_)):
            raise _Open   # unbounded
        if isinstance(item, Choice) and not all(o[:1] in ('"', "{", "[") for o in item.options):
            raise _Open   # bare numbers as items: `1` is a prefix of `12`, the ending is unknown
        return Arr(item, int(s.get("minItems", 0)), int(s["maxItems"]),
                   bool(s.get("uniqueItems")))
    branches = s.get("anyOf") or s.get("oneOf")
    if branches and all(_resolve(b, defs).get("type") == "object" for b in branches):
        return _union([_closed_node(b, defs, depth + 1, allow_open) for b in branches])
    options = list(dict.fromkeys(_options(s, defs)))   # de-duplicated, order kept
    if not options or len(options) > MAX_OPTIONS:
        raise _Open
    return Choice(options)


def _union(branches: list[Node]) -> Union_:
    """Objects told apart by the value of a member they share: the first member, or the first
    after members that are alike in every branch (same key, the same single value)."""
    objs = [b for b in branches if isinstance(b, Obj)]
    if len(objs) != len(branches) or not objs:
        raise _Open
    shared = 0
    while all(len(o.members) > shared + 1 for o in objs) and _alike(
            [o.members[shared] for o in objs]):
        shared += 1
    if len({o.members[shared][0] for o in objs}) != 1:
        raise _Open
    firsts = [o.members[shared][1] for o in objs]
    if not all(isinstance(f, Choice) for f in firsts):
        raise _Open
    options = [opt for f in firsts for opt in f.options]
    if len(set(options)) != len(options):
        raise _Open   # the same value in two branches: choosing it would not choose a branch
    return Union_(objs, shared)


def _alike(members: list[tuple[str, Node]]) -> bool:
    key, value = members[0]
    return isinstance(value, Choice) and len(value.options) == 1 and all(
        k == key and isinstance(v, Choice) and v.options == value.options for k, v in members)
