"""Todos: find the things a person has to do in a note, a whiteboard photo, a screenshot of an
e-mail or chat, or a text, and file them with a due date and a priority (``extract_todos``).

Grounding, because a 0.5B model both paraphrases and invents:

- Code proposes, the model judges: code picks the note's items that may be tasks (lines that
  read like tasks, ``task_like``, and the other short items of a to-do list, wrapped lines
  joined; ``items.candidates``), and the per-job schema walks the model through them one by one (a JSON ``prefixItems`` tuple): each entry's ``source_quote`` is
  fixed to that line, the model answers ``is_todo`` and, for a todo, picks a due phrase; the title is the line itself without its list mark (``lines.title_of``), so the
  model writes no free text at all. Why not a free list of todos with quotes from an enum: Qwen 0.5B
  stopped after one or two todos, or quoted "Mail" and "Inbox" from the top of the screen.
- ``check`` still verifies (case- and space-insensitively) that every todo's quote occurs in
  the source text, for backends that cannot enforce a grammar. A todo whose quote is not there
  is dropped and the grounded ones kept; only when *every* todo is ungrounded does ``check``
  reject the answer, so the host re-asks once and then ends the job ``dead`` (``check_failed``).
  Why drop rather than reject: one invented todo should not cost the five real ones beside it,
  nor a second generation (~10-20 s here) that may invent a different one.
- Due dates are arithmetic, so code does them: code finds the date words in the text
  ("tomorrow", "by Friday", "next Monday", "14 May", "28/05") and resolves each against the day
  the file was first seen (``job.seen_at``); the model may only copy one of those phrases
  (an enum) into ``due_phrase``. A date phrase on the quoted line itself wins over the model's
  pick (the date written beside a task is that task's date), and a pick written only on other
  todos' lines is refused (the model handed "by Friday" to every line of a list).
- Priority is the line's own: high for an urgency word, low for an optional or hedging one,
  else normal (``checks.priority_for``). The model is not asked: it called every todo high.

Input: an image (OCR), a plain-text file, or a job without a file whose ``params`` hold
``{"text": "...", "seen_at": ISO}`` or ``{"from_job": JOB_ID}`` (the text fields of that job's
stored result, read through the read-only ``ctx.read_db()``); ``enqueue_todos`` creates either.

The rooms: ``lines`` (source text, task-like lines), ``dates`` (due phrases), ``output`` (the
function's arguments and the stored todo), ``checks`` (priority, due date, caution per todo),
``task`` (the ``Todos`` task), ``enqueue`` (jobs without a file), ``cli`` (``mustelid todos``).
"""

from __future__ import annotations

from typing import Any

from mustelid import folder_route, hookimpl

from .enqueue import enqueue_todos
from .output import Priority, Todo, TodoList
from .task import Todos

__all__ = ["Priority", "Todo", "TodoList", "Todos", "enqueue_todos"]

INBOX_FOLDER = "notes"     # files dropped in <inbox>/notes/ are todos unless the config says not


@hookimpl
def register_tasks(register):
    register(Todos())


@hookimpl
def route_file(relpath: str, mime: str, config: Any) -> list[str] | None:
    """The default route for ``<inbox>/notes/``. A route the user configured for that folder
    (``[inbox.routes]``) wins: this only stands in for the default the config used to hold."""
    return folder_route(relpath, config, INBOX_FOLDER, Todos.name)


def _migrations():
    # Function-local: sqlite-utils imports numpy, and `mustelid --help` loads every plugin.
    from sqlite_utils import Migrations

    migrations = Migrations("todos")

    @migrations()
    def m001_todos(db):
        # One row per todo. `due` is an ISO day (YYYY-MM-DD) or NULL; `done` is 0/1 and the only
        # column a person changes (`mustelid todos done ID`). source_quote is the line of the
        # source the todo came from, verbatim, so a todo can always be traced to its evidence.
        db["todos"].create(
            {
                "id": int,
                "job_id": str,
                "title": str,
                "due": str,
                "priority": str,    # low | normal | high
                "source_quote": str,
                "done": int,
                "created": str,     # UTC ISO timestamp
            },
            pk="id",
            not_null={"job_id", "title", "priority", "source_quote", "done"},
            defaults={"done": 0},
        )
        db["todos"].create_index(["job_id"])
        db["todos"].create_index(["done", "due"])

    @migrations()
    def m002_caution(db):
        # Why a todo's line needs a second look (a shell command, a link), or NULL.
        db["todos"].add_column("caution", str)

    @migrations()
    def m003_foreign_keys(db):
        # Each todo names the job it came from; the key makes that true (RESTRICT: deleting
        # the job must not silently take its todos). See mustelid.records.add_foreign_keys.
        from mustelid.records import add_foreign_keys

        add_foreign_keys(db, "todos", {"job_id": "jobs.id"})

    return migrations


@hookimpl
def register_migrations(register):
    register(_migrations())
