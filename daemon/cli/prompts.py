"""``mustelid prompts``: which prompt templates are in effect, and overriding one.

A template shipped in ``mustelid.prompts`` is overridden by a file of the same name in the
user's prompt folder (``<config dir>/prompts/``, see ``mustelid.prompts.Prompts``). ``edit``
makes that override by copying the shipped text there, so the user starts from what runs now.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from mustelid.cli.app import State, json_option, pass_state
from mustelid.cli.output import clean, emit_table
from mustelid.prompts import Prompts


def _catalog(state: State):
    """(the prompts in effect, the shipped ones by name)."""
    effective = Prompts(state.config.prompts_dir)
    shipped = {p.name: p for p in Prompts(None).list()}
    return effective, shipped


def _lookup(state: State, name: str):
    effective, shipped = _catalog(state)
    try:
        return effective.source(name), shipped.get(name)
    except KeyError:
        known = ", ".join(p.name for p in effective.list()) or "none"
        raise click.ClickException(f"no prompt named {name!r} (known: {known})") from None


@click.group(invoke_without_command=True)
@json_option
@click.pass_context
def prompts(ctx: click.Context, as_json: bool) -> None:
    """List prompt templates: shipped, or overridden by a file in your prompt folder."""
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.ensure_object(State)
    effective, shipped = _catalog(state)
    rows = [
        {"name": p.name, "in_effect": p.source, "path": p.path,
         "shipped_path": shipped[p.name].path if p.name in shipped else None}
        for p in effective.list()
    ]
    emit_table(rows, ["name", "in_effect", "path"], title="prompts", as_json=as_json)
    if not as_json and sys.stdout.isatty():
        click.echo(f"overrides go in {clean(state.config.prompts_dir)}")


@prompts.command()
@click.argument("name")
@click.option("--shipped", is_flag=True, help="Show the shipped text even if overridden.")
@pass_state
def show(state: State, name: str, shipped: bool) -> None:
    """Print the template NAME as it is in effect."""
    info, original = _lookup(state, name)
    if shipped:
        if original is None:
            raise click.ClickException(f"{name!r} is not shipped with mustelid; it is your own")
        info = original
    text = Path(info.path).read_text(encoding="utf-8")
    # A template is text the user may not have written (a plugin's, a copied one): keep
    # terminal control sequences out, newlines in.
    click.echo("\n".join(clean(line) for line in text.splitlines()))


@prompts.command()
@click.argument("name")
@click.option("--no-open", is_flag=True, help="Only make the copy and print its path.")
@pass_state
def edit(state: State, name: str, no_open: bool) -> None:
    """Override NAME: copy the shipped template into your prompt folder, print its path, and
    open it in $EDITOR when run in a terminal. An existing override is opened, not replaced."""
    info, _ = _lookup(state, name)
    target = state.config.prompts_dir / f"{name}.txt"
    if info.source == "shipped":
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(info.path, target)
        click.echo(f"copied the shipped {name} prompt to", err=True)
    click.echo(str(target))
    if not no_open and sys.stdin.isatty() and sys.stdout.isatty():
        click.edit(filename=str(target))
