"""The ``mustelid`` command line. It reads the database directly and enqueues by inserting rows,
so every command works whether or not the daemon is running."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

import click

from mustelid import __version__


class State:
    """Config, plugin host and database, loaded on first use so ``--help`` stays fast."""

    def __init__(self) -> None:
        self._config = self._host = self._store = None

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
            from mustelid.runner import open_store

            self._store = open_store(self.config, self.host)
        return self._store

    @property
    def db(self):
        return self.store[0]

    @property
    def ledger(self):
        return self.store[1]


pass_state = click.make_pass_decorator(State, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mustelid")
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """mustelid: drop images in a folder; a small local model files what they say in SQLite."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(State)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)


def _add_plugin_commands(group: click.Group) -> None:
    """Let plugins add commands. A broken plugin is reported by `mustelid plugins`, not here."""
    from mustelid.config import ConfigError, load_config
    from mustelid.host import Host

    try:
        plugins_dir = load_config().plugins_path
    except ConfigError:
        plugins_dir = None  # the real error is shown by whichever command loads the config
    Host(plugins_dir).each("register_commands", cli=group)


from mustelid.cli import core  # noqa: E402,F401  (registers the built-in commands)


@functools.cache
def _assembled() -> click.Group:
    _add_plugin_commands(cli)
    return cli


def main(argv: list[str] | None = None) -> Any:
    return _assembled().main(args=argv, prog_name="mustelid")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
