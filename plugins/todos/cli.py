"""`mustelid todos`: list, complete, export and queue todos (added through register_commands)."""

from __future__ import annotations

import sys
from typing import Any

import click

from mustelid import hookimpl
from mustelid.cli import (Listing, State, clean, emit_json, json_option, listing_options,
                          pass_state, resolve_job)
from mustelid.records import first, input_file, select

from .enqueue import enqueue_todos

COLUMNS = ["id", "due", "priority", "title", "source_quote", "caution", "done", "file"]
_TODOTXT_PRIORITY = {"high": "A", "normal": "B", "low": "C"}


@hookimpl
def register_commands(cli):
    @cli.group(invoke_without_command=True)
    @click.option("--all", "show_all", is_flag=True, help="Include todos already done.")
    @listing_options(default_limit=200, what="todos")
    @click.pass_context
    def todos(ctx: click.Context, show_all: bool, listing: Listing):
        """Todos found in notes, whiteboards and screenshots: open ones, soonest due first
        (--since/--until: when the todo was found)."""
        if ctx.invoked_subcommand is not None:
            return
        state = ctx.ensure_object(State)
        rows = [r for r in list_todos(state.db, include_done=show_all)
                if listing.within(r.get("created"))]
        listing.emit(rows[:listing.limit], COLUMNS, title="todos")

    @todos.command("done")
    @click.argument("ids", nargs=-1, type=int, required=True)
    @click.option("--undo", is_flag=True, help="Mark them open again.")
    @pass_state
    def done(state: State, ids: tuple[int, ...], undo: bool):
        """Mark todos IDS as done (the ids `mustelid todos` shows)."""
        missing = set_done(state.db, ids, not undo)
        for todo_id in ids:
            if todo_id not in missing:
                click.echo(f"{todo_id} {'open' if undo else 'done'}")
        if missing:
            raise click.ClickException(f"no todo with id {', '.join(map(str, missing))}")

    @todos.command("export")
    @click.option("--format", "fmt", type=click.Choice(["md", "todotxt"]), default="md",
                  show_default=True, help="Markdown checklist or todo.txt lines.")
    @click.option("--all", "show_all", is_flag=True, help="Include todos already done.")
    @pass_state
    def export(state: State, fmt: str, show_all: bool):
        """Print the todos as a Markdown checklist or in todo.txt format."""
        rows = list_todos(state.db, include_done=show_all)
        render = to_markdown if fmt == "md" else to_todotxt
        click.echo(render(rows), nl=False)

    _add_queue_commands(todos)


def _add_queue_commands(todos: click.Group) -> None:
    """`todos from-text` and `todos from-job`: queue a todos job without a file."""

    @todos.command("from-text")
    @click.argument("text")
    @json_option
    @pass_state
    def from_text(state: State, text: str, as_json: bool):
        """Queue a todos job for TEXT ("-" reads standard input); dates count from today."""
        if text == "-":
            text = sys.stdin.read()
        try:
            job_id, new = enqueue_todos(state.ledger, state.config, text=text)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        _report(job_id, new, as_json)

    @todos.command("from-job")
    @click.argument("job_id")
    @json_option
    @pass_state
    def from_job(state: State, job_id: str, as_json: bool):
        """Queue a todos job reading the text of JOB_ID's result (e.g. a screenshot's key text)."""
        job = resolve_job(state, job_id)
        new_id, new = enqueue_todos(state.ledger, state.config, from_job=job["id"])
        _report(new_id, new, as_json)


def _report(job_id: str, new: bool, as_json: bool) -> None:
    if as_json:
        emit_json({"id": job_id, "new": new})
    else:
        click.echo(f"{job_id}  {'queued' if new else 'already known'}")


def list_todos(db: Any, include_done: bool = False) -> list[dict[str, Any]]:
    """Todos, open ones first, then by due day (undated last), then oldest first; with the name
    of the file each came from."""

    rows = select(db, "todos", None if include_done else {"done": 0})
    rows.sort(key=lambda r: (r["done"], r["due"] is None, r["due"] or "", r["id"]))
    names: dict[str, str | None] = {}
    for row in rows:
        job_id = row["job_id"]
        if job_id not in names:
            names[job_id] = _file_name(db, job_id)
        row["file"] = names[job_id]
        row["done"] = bool(row["done"])
    return rows


def _file_name(db: Any, job_id: str) -> str | None:
    """The original name of the file a job read, or None (a job from a text, or a lost row)."""
    # Function-local, as every sqlite-utils import here: it loads numpy, and `mustelid --help`
    # imports this module.

    job = first(db, "jobs", {"id": job_id})
    sha = job["input_sha256"] if job else None
    file = input_file(db, sha) if sha else None
    return file["original_name"] if file else None


def set_done(db: Any, ids: tuple[int, ...], done: bool = True) -> list[int]:
    """Mark todos done (or open again); returns the ids that do not exist."""
    from sqlite_utils.db import NotFoundError   # see _file_name

    missing = []
    table = db["todos"]
    for todo_id in ids:
        try:
            table.get(todo_id)
        except NotFoundError:
            missing.append(todo_id)
            continue
        table.update(todo_id, {"done": int(done)})
    return missing


def _one_line(text: str) -> str:
    # Exported text reaches terminals and other programs: controls, bidi overrides and other
    # invisible characters become visible escapes (mustelid.cli.clean), never raw (issue 13).
    return clean(" ".join(str(text).split()))


def to_markdown(rows: list[dict[str, Any]]) -> str:
    out = ["# Todos", ""]
    for row in rows:
        box = "x" if row["done"] else " "
        details = [f"due {row['due']}"] if row["due"] else []
        if row["priority"] != "normal":
            details.append(f"{row['priority']} priority")
        if row.get("caution"):
            details.append(f"caution: {_one_line(row['caution'])}")
        suffix = f" ({', '.join(details)})" if details else ""
        out.append(f"- [{box}] {_one_line(row['title'])}{suffix}")
    return "\n".join(out) + "\n"


def to_todotxt(rows: list[dict[str, Any]]) -> str:
    """todo.txt (github.com/todotxt/todo.txt): "(A) 2026-05-12 Title due:2026-05-15". A done
    task starts with "x " and keeps its priority as pri:A, as the format's rules ask; the
    creation date is left off done tasks, which may only carry it after a completion date."""
    out = []
    for row in rows:
        letter = _TODOTXT_PRIORITY.get(row["priority"], "B")
        title = _one_line(row["title"])
        due = f" due:{row['due']}" if row["due"] else ""
        if row["done"]:
            out.append(f"x {title}{due} pri:{letter}")
        else:
            out.append(f"({letter}) {row['created'][:10]} {title}{due}")
    return "".join(line + "\n" for line in out)
