"""Reading a plugin's own tables without SQL in the plugin.

A plugin owns its tables (created by its migrations) and knows their columns; the store owns the
SQL. ``select`` turns a small, declarative question into one parameterised query: equality
filters, half-open ranges, ordering and a limit. Names are checked against the table's real
columns, so nothing a user typed can become SQL. Anything fancier is filtered in Python by the
caller: these tables are small (one row per receipt, todo or screenshot).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlite_utils


def select(
    db: sqlite_utils.Database,
    table: str,
    where: Mapping[str, Any] | None = None,
    *,
    ranges: Mapping[str, tuple[Any, Any]] | None = None,
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Rows of ``table`` as dicts.

    ``where``: column -> value (``None`` = IS NULL; a list, tuple or set = IN). ``ranges``:
    column -> (low, high), each bound optional: ``low <= column < high``. ``order_by``: column
    names, ``-name`` for descending. A table that does not exist yet reads as empty.
    """
    if not db[table].exists():
        return []
    columns = set(db[table].columns_dict)
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (where or {}).items():
        name = _column(column, columns, table)
        if value is None:
            clauses.append(f"{name} IS NULL")
        elif isinstance(value, (list, tuple, set, frozenset)):
            values = list(value)
            if not values:
                return []
            clauses.append(f"{name} IN ({', '.join('?' * len(values))})")
            args.extend(values)
        else:
            clauses.append(f"{name} = ?")
            args.append(value)
    for column, (low, high) in (ranges or {}).items():
        name = _column(column, columns, table)
        if low is not None:
            clauses.append(f"{name} >= ?")
            args.append(low)
        if high is not None:
            clauses.append(f"{name} < ?")
            args.append(high)
    order = ", ".join(
        f"{_column(o.lstrip('-'), columns, table)}{' DESC' if o.startswith('-') else ''}"
        for o in order_by
    )
    return list(db[table].rows_where(
        " AND ".join(clauses) or None, args, order_by=order or None, limit=limit))


def first(db: sqlite_utils.Database, table: str, where: Mapping[str, Any]) -> dict | None:
    """The first row of ``table`` matching ``where`` (see ``select``), or None."""
    rows = select(db, table, where, limit=1)
    return rows[0] if rows else None


def _column(name: str, columns: Iterable[str], table: str) -> str:
    if name not in columns:
        raise ValueError(f"table {table} has no column {name!r}")
    return f'"{name}"'
