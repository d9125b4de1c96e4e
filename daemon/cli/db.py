"""``mustelid db``: the database itself, for any SQLite tool (datasette, sqlite3, sqlite-utils)."""

from __future__ import annotations

import click

from mustelid.cli.app import State, pass_state


@click.group()
def db() -> None:
    """The SQLite database mustelid keeps everything in."""


@db.command("path")
@pass_state
def db_path(state: State) -> None:
    """Print the database's path, e.g. `datasette "$(mustelid db path)"`."""
    click.echo(str(state.config.db_path))
