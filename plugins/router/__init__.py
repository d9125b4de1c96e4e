"""Task ``auto``: what to do with inbox files no other plugin claims (``route_file``).

The router chooses which installed task takes the file, then hands it over: the chosen task
answers with its own prompt, schema, checks, re-ask and review (``Task.delegate``, run by
``mustelid.execute``), exactly as if the file had been dropped in its own folder, and an
expense chosen here lands in ``expenses`` as a direct one would. The candidates come from
``ctx.host.tasks`` at run time, so a third-party task joins the choice by being installed.

Choosing (``choice.py``):

1. Every candidate's own ``prepare`` runs (OCR is cached per path in the worker). One that
   refuses the file (``PermanentError``, e.g. ``not_a_receipt``) or breaks is dropped; if every
   candidate refused, the job ends ``dead`` with reason ``no_task_applies`` without a model call.
2. Each candidate says from its evidence how surely the file is its kind (``Task.router_fit``).
   When exactly one is sure, it takes the file and the model is not asked.
3. Otherwise the model answers one question, "which kind of image is it?", with the OCR lines
   and each task's name, description and hint, decoded as a choice among the candidates' names
   and ``other`` (a few tokens). Why kinds and not functions: measured on the 0.5B default
   model, asked to pick a *function* (``record_expense`` / ``describe_screenshot``...) it chose
   the first one listed for almost any image; asked which kind of image it is, with the tasks'
   names, it told them apart.

Why not one call that chooses and fills the arguments together (the first design, a union
schema): the router's long prompt then replaced the task's own, so a receipt in the inbox root
took twice as long as one in ``receipts/`` (issue 14) and was read with a prompt its task had
not been tuned on.

The stored result is ``{"kind", "name", "arguments", "task"}``: the task chosen, its function,
its answer as it validated and checked it, and ``task`` (the task the file was given to,
``null`` when ignored). How the choice was made (``route``: each task's fit, ``by`` evidence or
model, the model's probability), the chosen task's evidence and the candidates dropped are in
the job's evidence.

``ignore`` is an answer, not a failure: when the model says ``other``, the router's own call
writes a short reason, the job ends ``done`` with ``{"kind": "other", "name": "ignore",
"arguments": {"reason": ...}}`` and no task rows, so the decision stays visible (``mustelid
show``, ``mustelid search``) while ``mustelid jobs --state dead`` keeps listing only what went
wrong.
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
