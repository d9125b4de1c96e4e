"""mustelid-cards: business cards dropped in the inbox become rows in a ``contacts`` table.

A third-party mustelid plugin, installed on its own (``pip install ./examples/mustelid-cards``)
and found through its ``mustelid`` entry point. Every hook here is a plain ``@hookimpl``
function; mustelid imports this module in the daemon, the model worker and the CLI, so nothing
heavy is imported at module level.
"""

from __future__ import annotations

import click

from mustelid import hookimpl
from mustelid_cards.card import BusinessCards, Contact

__all__ = ["BusinessCards", "Contact"]

COLUMNS = ["name", "company", "email", "phone", "file", "job_id"]


@hookimpl
def register_tasks(register):
    register(BusinessCards())


@hookimpl
def route_file(relpath, mime, config):
    # Files dropped in <inbox>/cards/ are cards, without asking the model or the config.
    return ["cards"] if relpath.split("/", 1)[0] == "cards" else None


def _migrations():
    from sqlite_utils.migrations import Migrations

    migrations = Migrations("cards")

    @migrations()
    def m001_contacts(db):
        # One row per card read. job_id is unique: a job persists at most once, even when the
        # daemon retries it. file_sha256 links back to the archived image (files.sha256).
        db["contacts"].create(
            {"id": int, "job_id": str, "file_sha256": str, "name": str, "title": str,
             "company": str, "email": str, "phone": str, "website": str},
            pk="id",
            not_null={"job_id", "name"},
        )
        db["contacts"].create_index(["job_id"], unique=True)
        db["contacts"].create_index(["email"])

    return migrations


@hookimpl
def register_migrations(register):
    register(_migrations())


@hookimpl
def register_commands(cli):
    from mustelid.cli import State, emit_table, json_option, pass_state

    @cli.command()
    @click.option("--search", help="Only contacts whose name, company or e-mail contains this.")
    @click.option("-n", "--limit", default=200, show_default=True)
    @json_option
    @pass_state
    def contacts(state: State, search: str | None, limit: int, as_json: bool):
        """Contacts read from business cards, newest first."""
        db = state.db
        rows = []
        if db["contacts"].exists():
            where, args = None, []
            if search:
                where = "name LIKE :q OR company LIKE :q OR email LIKE :q"
                args = {"q": f"%{search}%"}
            rows = list(db["contacts"].rows_where(where, args, order_by="id DESC", limit=limit))
        for row in rows:
            files = list(db["files"].rows_where("sha256 = ?", [row["file_sha256"]]))
            row["file"] = files[0]["original_name"] if files else None
        emit_table(rows, COLUMNS, title="contacts", as_json=as_json)
