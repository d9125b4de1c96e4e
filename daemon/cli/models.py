"""`mustelid models ...`: list, pull, choose and verify local models."""

from __future__ import annotations

import json

import click

from mustelid import WaitingError
from mustelid.cli.app import State, pass_state
from mustelid.config import ConfigError

# mustelid.models is imported by each command when it runs: it would slow every command's start.

@click.group()
def models():
    """Manage the local models mustelid can run."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@pass_state
def list_command(state: State, as_json: bool) -> None:
    """Show catalog models, whether each is installed and verified, and which is in use."""
    from mustelid.models import list_models

    cfg = state.config
    statuses = list_models(cfg)
    if as_json:
        payload = {
            "models_dir": str(cfg.models_dir),
            "custom_path": str(cfg.model.path) if cfg.model.path else None,
            "models": [s.as_dict() for s in statuses],
        }
        click.echo(json.dumps(payload, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"models in {cfg.models_dir}", title_justify="left")
    for column in ("", "name", "size", "licence", "state", "description"):
        table.add_column(column)
    for s in statuses:
        state = (
            "verified"
            if s.verified
            else "installed, unverified"
            if s.installed
            else "not installed"
        )
        table.add_row(
            "*" if s.in_use else "",
            s.entry.name,
            f"{s.entry.size / 1e6:,.0f} MB",
            s.entry.licence,
            state,
            s.entry.description,
        )
    console = Console()
    console.print(table)
    if cfg.model.path:
        console.print(f"model.path is set: using {cfg.model.path} instead of a catalog model")


@models.command()
@click.argument("name", required=False)
@pass_state
def pull(state: State, name: str | None) -> None:
    """Fetch and verify model NAME (default: the configured model)."""
    from mustelid.models import ModelError
    from mustelid.models import pull as pull_model

    cfg = state.config
    try:
        path = pull_model(cfg, name, progress=True)
    except ModelError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{name or cfg.model.name}: {path}")


@models.command()
@click.argument("name")
@pass_state
def use(state: State, name: str) -> None:
    """Make catalog model NAME the one the daemon runs."""
    from mustelid.models import ModelError, list_models
    from mustelid.models import use as use_model

    cfg = state.config
    try:
        written = use_model(cfg, name)
    except (ModelError, ConfigError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"model.name = {name!r} written to {written}")
    if not any(s.installed for s in list_models(cfg) if s.entry.name == name):
        click.echo(f"{name} is not installed yet: run `mustelid models pull {name}`")


@models.command()
@click.argument("name", required=False)
@pass_state
def verify(state: State, name: str | None) -> None:
    """Hash model NAME (default: the configured model) again and compare with its sha256."""
    from mustelid.models import ModelError
    from mustelid.models import verify as verify_model

    try:
        resolved = verify_model(state.config, name)
    except ModelError as e:
        raise click.ClickException(str(e)) from None
    except WaitingError as e:
        raise click.ClickException(f"{e.reason}: {e.message}") from None
    click.echo(f"ok {resolved.model_id} {resolved.path} sha256 {resolved.sha256}")
