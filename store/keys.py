"""Foreign keys for tables that were made without them, keeping every row.

SQLite cannot add a FOREIGN KEY to an existing table, so the table is rebuilt as SQLite
documents it (https://www.sqlite.org/lang_altertable.html#otheralter): a new table with the old
definition plus the keys, every row copied, the old table dropped, the new one renamed, its
indexes and triggers made again. ``migrate`` runs this with enforcement off inside one
transaction and checks ``PRAGMA foreign_key_check`` before it commits.

A row whose reference points at nothing (an orphan: a hand edit, a row a test left) is not
dropped: its old value goes to ``broken_references`` with the whole row as JSON, and the
reference is set to NULL, or, when the column cannot be NULL (NOT NULL, or the primary key),
the row itself moves there. Either way it is counted and logged.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Mapping

import sqlite_utils

log = logging.getLogger("mustelid.store")

SIDE_TABLE = "broken_references"
ON_DELETE = ("RESTRICT", "CASCADE", "SET NULL", "NO ACTION")


def add_foreign_keys(db: sqlite_utils.Database, table: str, keys: Mapping[str, str],
                     on_delete: Mapping[str, str] | None = None) -> int:
    """Rebuild ``table`` with ``keys`` (column -> ``"parent_table.parent_column"``); each key
    is ON DELETE RESTRICT unless ``on_delete`` names another action for its column. For a
    migration (``migrate`` turns enforcement off around it). Returns how many orphan references
    were set aside in ``broken_references``."""
    if db.execute("PRAGMA foreign_keys").fetchone()[0]:
        # With enforcement on, DROP TABLE deletes every row first and would fire the keys'
        # ON DELETE actions on other tables: refuse rather than cascade.
        raise RuntimeError("add_foreign_keys runs in a migration (foreign keys off)")
    _side_table(db)
    on_delete = dict(on_delete or {})
    clauses, orphans = [], 0
    for column, target in keys.items():
        parent, _, parent_column = target.partition(".")
        action = on_delete.pop(column, "RESTRICT").upper()
        if action not in ON_DELETE or not parent_column:
            raise ValueError(f"{table}.{column}: bad key {target!r} ON DELETE {action}")
        orphans += _set_aside(db, table, column, parent, parent_column)
        clauses.append(f"FOREIGN KEY ({_q(column)}) REFERENCES {_q(parent)} ({_q(parent_column)})"
                       f" ON DELETE {action}")
    if on_delete:
        raise ValueError(f"{table}: on_delete for columns without a key: {sorted(on_delete)}")
    _rebuild(db, table, clauses)
    return orphans


def _set_aside(db, table: str, column: str, parent: str, parent_column: str) -> int:
    # `IS NOT NULL` in the sub-select: one NULL there would make every NOT IN unknown.
    cursor = db.execute(
        f"SELECT rowid AS __rowid, * FROM {_q(table)} WHERE {_q(column)} IS NOT NULL AND {_q(column)}"
        f" NOT IN (SELECT {_q(parent_column)} FROM {_q(parent)}"
        f" WHERE {_q(parent_column)} IS NOT NULL)")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r)) for r in cursor.fetchall()]
    if not rows:
        return 0
    info = {c[1]: c for c in db.execute(f"PRAGMA table_info({_q(table)})")}
    keep_row = not info[column][3] and not info[column][5]      # notnull, pk
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    for row in rows:
        rowid = row.pop("__rowid")
        db.execute(
            f"INSERT INTO {SIDE_TABLE} (table_name, row_id, column_name, value, action, row,"
            " noted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [table, rowid, column, row[column], "nulled" if keep_row else "moved",
             json.dumps(row, default=str), now])
        if keep_row:
            db.execute(f"UPDATE {_q(table)} SET {_q(column)} = NULL WHERE rowid = ?", [rowid])
        else:
            db.execute(f"DELETE FROM {_q(table)} WHERE rowid = ?", [rowid])
    log.warning("%s: %d row(s) whose %s named no %s.%s; %s, the old value kept in %s",
                table, len(rows), column, parent, parent_column,
                "reference set to NULL" if keep_row else "row moved", SIDE_TABLE)
    return len(rows)


def _side_table(db) -> None:
    db.execute(
        f"CREATE TABLE IF NOT EXISTS {SIDE_TABLE} (id INTEGER PRIMARY KEY,"
        " table_name TEXT NOT NULL, row_id INTEGER, column_name TEXT NOT NULL, value,"
        " action TEXT NOT NULL, row TEXT NOT NULL, noted_at TEXT NOT NULL)")


def _rebuild(db, table: str, clauses: list[str]) -> None:
    (sql,) = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                        [table]).fetchone()
    extras = [r[0] for r in db.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('index', 'trigger')"
        " AND sql IS NOT NULL ORDER BY type, name", [table])]
    # The definition as stored (columns, types, defaults, NOT NULL, later ADD COLUMNs), with
    # the keys appended as table constraints.
    body = sql[sql.index("("):sql.rindex(")")]
    new = f"_{table}_with_keys"
    columns = ", ".join(_q(c[1]) for c in db.execute(f"PRAGMA table_info({_q(table)})"))
    db.execute(f"CREATE TABLE {_q(new)} {body},\n   {(','+chr(10)+'   ').join(clauses)}\n)")
    db.execute(f"INSERT INTO {_q(new)} ({columns}) SELECT {columns} FROM {_q(table)}")
    db.execute(f"DROP TABLE {_q(table)}")
    # Renaming the new table, never the old one: since SQLite 3.26 a rename rewrites the other
    # tables' REFERENCES to follow it, which would point them at the table being dropped.
    db.execute(f"ALTER TABLE {_q(new)} RENAME TO {_q(table)}")
    for statement in extras:
        db.execute(statement)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
