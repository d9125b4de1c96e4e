"""The ``mustelid`` command line. It reads the database directly and enqueues by inserting rows,
so every command works whether or not the daemon is running.

The public API for plugins that add commands (``register_commands``): ``State`` and
``pass_state`` (config, host, database and ledger, loaded on first use), ``json_option``, and
the printers ``emit_table``, ``emit_json``, ``emit_csv`` and ``clean`` (escapes text from files
and models); the shared listing grammar ``listing_options`` / ``Listing`` (--json, --csv, -n,
--since/--until) and the job-ID helpers ``resolve_job`` and ``with_short_ids``.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

import click

from mustelid.cli import core  # noqa: F401  (registers the built-in commands)
from mustelid.cli.app import State, cli, json_option, pass_state  # noqa: F401  (public API)
from mustelid.cli.listing import (  # noqa: F401  (public API)
    Listing, emit_csv, listing_options, resolve_job, with_short_ids)
from mustelid.cli.output import clean, emit_json, emit_table  # noqa: F401  (public API)


def _add_plugin_commands(group: click.Group) -> None:
    """Let plugins add commands. A broken plugin is reported by `mustelid plugins`, not here."""
    from mustelid.config import ConfigError, load_config
    from mustelid.host import Host

    try:
        plugins_dir = load_config().plugins_path
    except ConfigError:
        plugins_dir = None  # the real error is shown by whichever command loads the config
    Host(plugins_dir).each("register_commands", cli=group)


@functools.cache
def _assembled() -> click.Group:
    _add_plugin_commands(cli)
    return cli


def main(argv: list[str] | None = None) -> Any:
    import sqlite3

    try:
        return _assembled().main(args=argv, prog_name="mustelid")
    except sqlite3.OperationalError as e:
        # A write refused by SQLite in any command (a DB browser holding a lock, a read-only
        # file): one line that says what to do, not a traceback (issue 13 class 9).
        message = _database_error(e)
        if message is None:
            raise
        click.echo(f"Error: {message}", err=True)
        sys.exit(1)


def _database_error(e: Exception) -> str | None:
    from mustelid.config import ConfigError, load_config
    from mustelid.home import database_error

    try:
        path = load_config().db_path
    except ConfigError:
        path = "(see mustelid config)"
    return database_error(path, e)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
