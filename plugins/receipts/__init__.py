"""Receipts: OCR a photo or scan of a receipt and record it as an expense (``mustelid expenses``).

A built-in plugin, registered like a third-party one (entry points ``receipts`` for this module's
hooks and ``receipts_cli`` for the command). The modules, in the order a receipt meets them:

- ``task``: the ``Receipts`` task (prepare, messages, schema, check, persist);
- ``candidates``, ``totals``, ``merchants``, ``items``: what code finds in the OCR text;
- ``menus``, ``examples``: how the prompt shows it (and a corrected receipt from the same shop);
- ``expense``: what the model fills in and the recorded result; ``checks``: checks across fields
  and provenance;
- ``evaluate``: how ``mustelid eval`` compares receipts; ``migrations``: the ``expenses`` table;
  ``cli``: ``mustelid expenses``.
"""

from __future__ import annotations

from typing import Any

from mustelid import folder_route, hookimpl

from .expense import Expense, LineItem, RecordedExpense
from .task import Receipts

__all__ = ["Expense", "LineItem", "Receipts", "RecordedExpense"]

FOLDER = "receipts"   # files dropped in <inbox>/receipts/ are receipts, no model asked


@hookimpl
def register_tasks(register):
    register(Receipts())


@hookimpl
def register_migrations(register):
    from .migrations import expenses_migrations  # sqlite-utils imports numpy: not on `--help`

    register(expenses_migrations())


@hookimpl
def route_file(relpath: str, mime: str, config: Any) -> list[str] | None:
    """The default route for ``<inbox>/receipts/``; a route the user wrote for that folder in
    ``[inbox.routes]`` wins."""
    return folder_route(relpath, config, FOLDER, Receipts.name)
