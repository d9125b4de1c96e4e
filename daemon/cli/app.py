"""The root ``mustelid`` click group and the state every command shares.

Command modules (``mustelid.cli.core`` ...) import from here, and ``mustelid.cli`` re-exports it
as the public API for plugin commands; keeping it apart from ``mustelid.cli`` means no command
module imports the package that imports it.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from mustelid import __version__


class State:
    """Config, plugin host and database, loaded on first use so ``--help`` stays fast."""

    def __init__(self) -> None:
        self._config = self._host = self._store = None
        self.log_level = logging.WARNING     # what -v / -vv asked for on stderr

    @property
    def config(self):
        if self._config is None:
            from mustelid.config import ConfigError, load_config

            try:
                self._config = load_config()
            except ConfigError as e:
                raise click.ClickException(str(e)) from None
        return self._config

    @property
    def host(self):
        if self._host is None:
            from mustelid.host import Host

            self._host = Host(self.config.plugins_path)
        return self._host

    @property
    def store(self):
        """(db, ledger), migrated."""
        if self._store is None:
            from mustelid.home import StoreUnusable, open_store

            try:
                self._store = open_store(self.config, self.host)
            except StoreUnusable as e:
                raise click.ClickException(str(e)) from None
        return self._store

    @property
    def db(self):
        return self.store[0]

    @property
    def ledger(self):
        return self.store[1]

    def run_now(self, task: str, params: dict[str, Any]) -> dict[str, Any]:
        """Enqueue a ``task`` job with ``params`` and run it in this process (``summary --now``):
        the job's row after it finished, whatever its state."""
        from mustelid.scheduler import run_now

        return run_now(self.config, self.host, self.ledger, task, params)


pass_state = click.make_pass_decorator(State, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mustelid")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """mustelid: drop images in a folder; a small local model files what they say in SQLite."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(State).log_level = level


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)
