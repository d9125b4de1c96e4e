"""Task ``auto``: function calling for inbox files no other plugin claims (``route_file``).

One schema-constrained call in which the model *chooses the function* and fills its arguments.
The schema is a union (``anyOf``) with one branch per installed task that takes this file —
``{"kind": {"const": task.name}, "name": {"const": task.function}, "arguments": <that task's
schema for this file>}`` — plus ``{"kind": "other", "name": "ignore", "arguments": {"reason"}}``.
The branches come from ``ctx.host.tasks`` at run time, so a third-party task joins the choice by
being installed.

Why ``kind`` comes first: measured on the 0.5B default model, asked to pick a *function*
(``record_expense`` / ``describe_screenshot``...) it chose the first one listed for almost any
image (every screenshot showing an amount became an expense); asked "which kind of image is it?"
with the tasks' names (``receipts`` / ``screenshots`` / ``todos`` / ``other``) it told them apart.
So the model names the kind, the grammar then forces that kind's function name, and the
arguments follow in the same generation.

Each candidate's per-file schema needs its evidence, so ``prepare`` runs every candidate's own
``prepare`` (OCR is cached per path in the worker) and ``schema``. A candidate that refuses the
file (``PermanentError``, e.g. ``not_a_receipt``) or breaks is dropped from the union; if every
candidate refused, the job ends ``dead`` with reason ``no_task_applies`` without a model call.

After generation the chosen task's ``Output`` validates the arguments and its ``check`` runs
against its own evidence; ``persist`` delegates to the chosen task, so an expense chosen here
lands in ``expenses`` exactly as if the file had been routed to ``receipts``.

The stored result is ``{"kind", "name", "arguments", "task"}``: what the model chose, the
arguments as the chosen task validated and checked them, and ``task`` (filled by code: the task
the file was given to, ``null`` when ignored). The model's raw arguments, the chosen task's
evidence and the candidates dropped before the call are in the job's evidence.

``ignore`` is an answer, not a failure: the job ends ``done`` with the result
``{"kind": "other", "name": "ignore", "arguments": {"reason": ...}}`` and no task rows, so the
decision and its reason stay visible (``mustelid show``, ``mustelid search``) while ``mustelid
jobs --state dead`` keeps listing only what went wrong.
"""

from __future__ import annotations

from mustelid import hookimpl

from .task import NAME, Router


@hookimpl
def register_tasks(register):
    register(Router())


@hookimpl(trylast=True)
def route_file(relpath, mime, config):
    # What no other plugin claimed is the model's to choose, unless the user set default_tasks:
    # then those run (and an empty list leaves the file alone, as it always did).
    inbox = config.inbox
    if inbox.default_tasks or "default_tasks" in inbox.model_fields_set:
        return None
    return [NAME]


@hookimpl
def register_migrations(register):
    from .migrations import migrations      # sqlite-utils imports numpy: not on `mustelid --help`

    register(migrations())


@hookimpl
def startup(daemon):
    router = daemon.host.tasks.get(NAME)
    if isinstance(router, Router):
        router.bind(daemon.host)
