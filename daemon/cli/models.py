"""`mustelid models ...`: list, pull, add, choose and verify local models."""

from __future__ import annotations

import json
from pathlib import Path

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
    """Show catalog and added models, whether each is installed and verified, which can see
    images, and which is in use."""
    from mustelid.models import ModelError, list_local, list_models

    cfg = state.config
    statuses = list_models(cfg)
    try:
        local = list_local(cfg)
    except ModelError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        payload = {
            "models_dir": str(cfg.models_dir),
            "custom_path": str(cfg.model.path) if cfg.model.path else None,
            "mmproj": str(cfg.model.mmproj) if cfg.model.mmproj else None,
            "models": [s.as_dict() for s in statuses],
            "local": [{**m.as_dict(), "in_use": in_use} for m, in_use in local],
        }
        click.echo(json.dumps(payload, indent=2))
        return

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"models in {cfg.models_dir}", title_justify="left")
    for column in ("", "name", "size", "licence", "state", "sees", "description"):
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
            "no",
            s.entry.description,
        )
    for m, in_use in local:
        size = f"{m.path.stat().st_size / 1e6:,.0f} MB" if m.path.is_file() else "missing"
        table.add_row("*" if in_use else "", m.name, size, "", "added",
                      "yes" if m.vision else "no",
                      f"{m.path}" + (f" + projector {m.mmproj.name}" if m.mmproj else ""))
    console = Console()
    console.print(table)
    if cfg.model.path and not any(in_use for _, in_use in local):
        console.print(f"model.path is set: using {cfg.model.path} instead of a catalog model"
                      + (f", with projector {cfg.model.mmproj} (sees images)"
                         if cfg.model.mmproj else ""))


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
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mmproj", type=click.Path(dir_okay=False, path_type=Path),
              help="The model's vision projector GGUF (llama.cpp mmproj): it then sees images.")
@click.option("--name", help="Name to use it by (default: the file name without .gguf).")
@pass_state
def add(state: State, path: Path, mmproj: Path | None, name: str | None) -> None:
    """Register a GGUF you have (and its projector), recording their sha256."""
    from mustelid.models import ModelError
    from mustelid.models import add as add_model

    try:
        entry = add_model(state.config, path, mmproj=mmproj, name=name)
    except ModelError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"added {entry.name}: {entry.path} sha256 {entry.sha256}")
    if entry.mmproj:
        click.echo(f"  projector {entry.mmproj} sha256 {entry.mmproj_sha256} (sees images)")
    click.echo(f"run `mustelid models use {entry.name}` to make it the model mustelid runs")


@models.command()
@click.argument("name")
@pass_state
def use(state: State, name: str) -> None:
    """Make catalog or added model NAME the one the daemon runs."""
    from mustelid.models import ModelError, list_models
    from mustelid.models import use as use_model

    cfg = state.config
    try:
        written = use_model(cfg, name)
    except (ModelError, ConfigError) as e:
        raise click.ClickException(str(e)) from None
    if name not in {s.entry.name for s in list_models(cfg)}:
        click.echo(f"model {name!r} (model.path, sha256{', mmproj' if _sees(cfg, name) else ''})"
                   f" written to {written}")
        return
    click.echo(f"model.name = {name!r} written to {written}")
    if not any(s.installed for s in list_models(cfg) if s.entry.name == name):
        click.echo(f"{name} is not installed yet: run `mustelid models pull {name}`")


@models.command()
@click.argument("name", required=False)
@pass_state
def verify(state: State, name: str | None) -> None:
    """Hash model NAME (default: the configured model, and its projector) again and compare
    with its sha256."""
    from mustelid.models import ModelError
    from mustelid.models import verify as verify_model

    try:
        resolved = verify_model(state.config, name)
    except ModelError as e:
        raise click.ClickException(str(e)) from None
    except WaitingError as e:
        raise click.ClickException(f"{e.reason}: {e.message}") from None
    click.echo(f"ok {resolved.model_id} {resolved.path} sha256 {resolved.sha256}")
    if name is None and state.config.model.mmproj:
        from mustelid.models import resolve_mmproj

        try:
            projector = resolve_mmproj(state.config, use_cache=False)
        except WaitingError as e:
            raise click.ClickException(f"{e.reason}: {e.message}") from None
        click.echo(f"ok projector {projector.path} sha256 {projector.sha256}")


def _sees(cfg, name: str) -> bool:
    from mustelid.models import local_models

    entry = local_models(cfg).get(name)
    return bool(entry and entry.vision)
