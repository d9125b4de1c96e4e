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
from mustelid.prompts import PromptInfo, Prompts, prompt_package, template_problems


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


@prompts.command()
@json_option
@pass_state
def check(state: State, as_json: bool) -> None:
    """Check every template in effect (shipped, your overrides, the installed tasks' own) for
    what would stop it rendering; exit 1 naming each bad one."""
    rows = []
    for info in _in_effect(state):
        problems = _problems(info)
        rows.append({"name": info.name, "in_effect": info.source, "path": info.path,
                     "status": f"{len(problems)} problem(s)" if problems else "ok",
                     "problems": problems})
    bad = [r for r in rows if r["problems"]]
    emit_table(rows, ["name", "in_effect", "status", "path"], title="prompts", as_json=as_json)
    if not as_json:
        for problem in (p for r in bad for p in r["problems"]):
            click.echo(clean(problem), err=True)
    if bad:
        raise click.ClickException(f"{len(bad)} of {len(rows)} templates cannot be used: "
                                   + ", ".join(r["name"] for r in bad))


def _problems(info: PromptInfo) -> list[str]:
    if not info.path:
        return [f"{info.source} asks for a template {info.name!r} that is nowhere"]
    try:
        text = Path(info.path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        return [f"{info.path}: cannot be read: {e}"]
    return template_problems(text, origin=info.path)


def _in_effect(state: State) -> list[PromptInfo]:
    """Each template a user or a task would get, once: the shipped ones and the user's
    overrides, and the one each installed task asks for (a plugin may ship its own)."""
    effective, _ = _catalog(state)
    found = {info.path: info for info in effective.list()}
    for task in state.host.tasks.values():
        if task.prompt:
            try:
                info = effective.source(task.prompt, prompt_package(task))
            except KeyError:
                info = PromptInfo(task.prompt, f"task {task.name}", "")
            found.setdefault(info.path or task.prompt, info)
    return sorted(found.values(), key=lambda i: (i.name, i.path))
