"""The host's own commands: init, run, submit, jobs, show, retry, status, plugins, config."""

from __future__ import annotations

import contextlib
import importlib
import json
import time
from pathlib import Path

import click
import tomli_w

from mustelid.cli.app import State, cli, json_option, pass_state
from mustelid.cli.listing import Listing, listing_options, resolve_job
from mustelid.cli.output import clean, emit_json, emit_table
from mustelid.config import (ANNOTATED_CONFIG, ConfigError, default_config_path, effective,
                             get_key)
from mustelid.runtime import status_line, status_memory
from mustelid.scaffold import ScaffoldError, create_plugin

JOB_COLUMNS = ["id", "task", "state", "attempts", "reason", "file", "updated_at"]


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@pass_state
def init(state: State, force: bool) -> None:
    """Write an annotated config file and create the inbox."""
    path = default_config_path()
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists (use --force to overwrite)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ANNOTATED_CONFIG, encoding="utf-8")
    cfg = state.config
    cfg.inbox_dir.mkdir(parents=True, exist_ok=True)
    click.echo(f"wrote {path}\ninbox: {cfg.inbox_dir}")


@cli.command()
@click.option("--once", is_flag=True, help="Scan the inbox, drain the queue, then exit.")
@click.option("--inbox", type=click.Path(file_okay=False, path_type=Path),
              help="Watch this folder instead of the configured inbox.")
@pass_state
def run(state: State, once: bool, inbox: Path | None) -> None:
    """Run the daemon in the foreground (SIGTERM or Ctrl-C stops it cleanly)."""
    from mustelid.cli.logs import job_lines_on_stderr
    from mustelid.cli.progress import once_progress
    from mustelid.home import AlreadyRunning, InboxOverlap, StoreUnusable
    from mustelid.runner import Daemon

    cfg = state.config
    if inbox is not None:
        cfg.inbox.path = inbox.resolve()
    daemon = Daemon(cfg, state.host, once=once)
    bar = (once_progress(daemon) if once else None) or contextlib.nullcontext()
    try:
        with job_lines_on_stderr(state.log_level), bar:   # one line per job state change
            daemon.run()
    except (AlreadyRunning, InboxOverlap, StoreUnusable) as e:
        raise click.ClickException(str(e)) from None
    if once:
        s = daemon.stats
        click.echo(f"ingested {s['ingested']}, refused {s['refused']}, "
                   f"done {s['done']}, held for review {s['review']}, "
                   f"failed attempts {s['failed']}", err=True)


@cli.command()
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--task", "tasks", multiple=True, help="Task(s) to run (default: the inbox default).")
@json_option
@pass_state
def submit(state: State, files: tuple[Path, ...], tasks: tuple[str, ...], as_json: bool) -> None:
    """Queue FILES for processing (works with the daemon stopped)."""
    from mustelid.ingest import ingest

    unknown = [t for t in tasks if t not in state.host.tasks]
    if unknown:
        raise click.ClickException(f"unknown task(s): {', '.join(unknown)}; "
                                   f"installed: {', '.join(sorted(state.host.tasks))}")
    out = []
    for f in files:
        r = ingest(f.resolve(), relpath=f.name, config=state.config, host=state.host,
                   ledger=state.ledger, tasks=list(tasks) or None)
        out.append({"file": str(f), "sha256": r.sha256, "refused": r.refused,
                    "message": r.message, "jobs": [{"id": j, "new": new} for j, new in r.jobs]})
    if as_json:
        emit_json(out)
        return
    for item in out:
        if item["refused"]:
            click.echo(f"refused {clean(item['file'])}: {item['refused']} ({clean(item['message'])})")
        for j in item["jobs"]:
            status = "queued" if j["new"] else "already known"
            click.echo(f"{j['id']}  {status}  {clean(item['file'])}")
    if any(i["refused"] for i in out):
        raise SystemExit(1)


def _with_file(state: State, jobs: list[dict]) -> list[dict]:
    from mustelid.store import files as store_files

    names = {}
    for j in jobs:
        sha = j.get("input_sha256")
        if sha and sha not in names:
            row = store_files.get_file(state.db, sha)
            names[sha] = row["original_name"] if row else None
        j["file"] = names.get(sha) if sha else j.get("params")
    return jobs


@cli.command()
@click.option("--state", "job_state", type=click.Choice(["queued", "running", "done", "dead",
                                                         "waiting", "needs_review"]))
@click.option("--task")
@listing_options(default_limit=50, what="jobs")
@pass_state
def jobs(state: State, job_state: str | None, task: str | None, listing: Listing) -> None:
    """List jobs, newest first (--since/--until: when they were created)."""
    rows = _with_file(state, state.ledger.list(job_state, task, listing.limit,
                                               since=listing.since, until=listing.until))
    if listing.fmt == "table":
        for row in rows:     # the router's choice: "auto→receipts"
            if row["chosen_task"] != row["task"]:
                row["task"] = f"{row['task']}\u2192{row['chosen_task']}"
    listing.emit(rows, JOB_COLUMNS if listing.fmt == "table" else JOB_COLUMNS + ["chosen_task"],
                 title="jobs", state=state, id_key="id")


def _find_job(state: State, job_id: str) -> dict:
    return resolve_job(state, job_id)


@cli.command()
@click.argument("job_id")
@json_option
@pass_state
def show(state: State, job_id: str, as_json: bool) -> None:
    """Show one job: its state, history, and result."""
    job = _with_file(state, [_find_job(state, job_id)])[0]
    result = state.ledger.result(job["id"])
    data = {
        "job": job,
        "events": state.ledger.events(job["id"]),
        "result": json.loads(result["data"]) if result else None,
        "evidence": json.loads(result["evidence"]) if result else None,
    }
    if as_json:
        emit_json(data)
        return
    for key in ("id", "task", "state", "attempts", "max_attempts", "reason", "last_error",
                "file", "model_id", "prompt_tokens", "completion_tokens", "duration_s",
                "created_at", "finished_at"):
        if job.get(key) is not None:
            click.echo(f"{key:>17}: {clean(job[key])}")
    click.echo("history:")
    for e in data["events"]:
        click.echo(f"  {e['at']}  {e['event']:<9} {clean(e['detail'])}")
    if data["result"] is not None:
        click.echo("result:")
        click.echo(clean(json.dumps(data["result"], indent=2)).replace("\\n", "\n"))


@cli.command()
@click.argument("job_ids", nargs=-1, required=True)
@pass_state
def retry(state: State, job_ids: tuple[str, ...]) -> None:
    """Send dead or waiting jobs back to the queue."""
    failed = False
    for job_id in job_ids:
        job = _find_job(state, job_id)
        if state.ledger.retry(job["id"]):
            click.echo(f"{job['id']} queued")
        else:
            failed = True
            click.echo(f"{job['id']} is {job['state']}; only dead or waiting jobs can be retried")
    if failed:
        raise SystemExit(1)


@cli.command()
@json_option
@pass_state
def status(state: State, as_json: bool) -> None:
    """Is the daemon up? Queue depths, model, memory."""
    from mustelid.cli.progress import activity, print_activity
    from mustelid.home import daemon_running
    from mustelid.store import files as store_files

    cfg = state.config
    up = daemon_running(cfg)
    facts = store_files.get_states(state.db)
    daemon = json.loads(facts["daemon"]["value"]) if "daemon" in facts else {}
    info = {
        "daemon": "running" if up else "stopped",
        "state": daemon.get("state") if up else None,     # starting | running | paused
        "pid": daemon.get("pid") if up else None,
        "heartbeat_age_s": round(time.time() - daemon["heartbeat"], 1)
        if up and "heartbeat" in daemon else None,
        "inbox": str(cfg.inbox_dir),
        "database": str(cfg.db_path),
        "jobs": state.ledger.counts(),
        "refused_files": store_files.count_refused(state.db),
        "model": {"backend": cfg.model.backend, "name": str(cfg.model.path or cfg.model.name)},
        "worker": daemon.get("worker", {}) if up else {},
        # why a running daemon is not making progress, and the inbox files it is waiting on
        "paused": daemon.get("paused_reasons", []) if up else [],
        "inbox_files": daemon.get("inbox_files", {}) if up else {},
    }
    info["waiting_reasons"] = state.ledger.waiting_reasons()
    info["memory"] = status_memory(daemon.get("worker", {}), up)
    info.update(activity(state.ledger, lambda jobs: _with_file(state, jobs),
                         stage=daemon.get("stage") if up else None))
    if as_json:
        emit_json(info)
        return
    click.echo(f"daemon:   {info['daemon']}" + (f" (pid {info['pid']})" if info["pid"] else "")
               + (" paused" if info["paused"] else ""))
    for p in info["paused"]:
        click.echo(f"  paused: {clean(p['reason'])} for {p['for_s']:.0f}s: {clean(p['message'])}")
    click.echo(f"inbox:    {clean(info['inbox'])}")
    f = info["inbox_files"]
    if f.get("tracking"):
        click.echo(f"          {f['tracking']} file(s) not ingested yet: {f.get('settling', 0)}"
                   f" being written or settling, {f.get('ready', 0)} ready")
    click.echo(f"database: {clean(info['database'])}")
    click.echo("jobs:     " + ", ".join(f"{k} {v}" for k, v in info["jobs"].items()))
    for reason, n in info["waiting_reasons"].items():
        click.echo(f"          {n} waiting: {clean(reason)}")
    print_activity(info)
    if info["refused_files"]:
        click.echo(f"refused:  {info['refused_files']} file(s) (mustelid files --refused)")
    click.echo(f"model:    {info['model']['backend']} {clean(info['model']['name'])}")
    w = info["worker"]
    if w:
        click.echo(f"worker:   {'alive' if w.get('alive') else 'not running'}"
                   + (f", rss {w['rss_mb']} MiB" if "rss_mb" in w else ""))
    click.echo(f"memory:   {status_line(info['memory'])}")


@cli.command()
@click.option("--refused", is_flag=True, help="Only files that were refused, with the reason.")
@listing_options(default_limit=100, what="files")
@pass_state
def files(state: State, refused: bool, listing: Listing) -> None:
    """Files seen in the inbox and what happened to them (--since/--until: last change)."""
    from mustelid.store import files as store_files

    rows = store_files.inbox_files(state.db, refused_only=refused, limit=listing.limit,
                                   since=listing.since, until=listing.until)
    listing.emit(rows, ["path", "state", "reason", "message", "sha256", "updated_at"],
                 title="inbox files")


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List loaded plugins, their hooks, and any that failed to load (`plugins new NAME`
    starts a new one)."""
    if ctx.invoked_subcommand is not None:
        return
    host = ctx.ensure_object(State).host
    tasks, backends, engines = sorted(host.tasks), sorted(host.backends), sorted(host.ocr_engines)
    rows = [   # after the registries: a register_* hook that failed is a plugin's error too
        {"name": p.name, "source": p.source, "hooks": ", ".join(p.hooks),
         "status": "error: " + p.error if p.error else "ok"}
        for p in host.plugins.values()
    ]
    if as_json:
        emit_json({"plugins": rows, "tasks": tasks, "backends": backends, "ocr_engines": engines})
        return
    emit_table(rows, ["name", "hooks", "status", "source"], title="plugins")
    click.echo(f"tasks: {', '.join(tasks) or '-'}")
    click.echo(f"backends: {', '.join(backends) or '-'}")


@plugins.command("new")
@click.argument("name")
@click.option("--dir", "parent", type=click.Path(file_okay=False, path_type=Path), default=".",
              show_default=True, help="Create the package folder inside this folder.")
@click.pass_context
def plugins_new(ctx: click.Context, name: str, parent: Path) -> None:
    """Write a new plugin package NAME: pyproject with the entry point, a task with its hooks,
    migration and prompt, tests using mustelid.testing, and a README."""
    taken = set(ctx.find_root().command.commands)
    try:
        root, written = create_plugin(name, parent, taken)
    except ScaffoldError as e:
        raise click.ClickException(str(e)) from None
    for path in written:
        click.echo(f"wrote {clean(path)}")
    click.echo(f"\nnext: pip install -e '{clean(root)}[test]' && pytest {clean(root)}")


@cli.group(invoke_without_command=True)
@json_option
@click.pass_context
def config(ctx: click.Context, as_json: bool) -> None:
    """Print the effective configuration (`config get KEY` prints one value)."""
    if ctx.invoked_subcommand is not None:
        return
    from mustelid.backend import backend_tables

    state = ctx.ensure_object(State)
    data = effective(state.config, backend_tables(state.config, state.host.backends))
    if as_json:
        emit_json(data)
        return
    click.echo(tomli_w.dumps(_drop_none(data)), nl=False)


def _drop_none(d):
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    return d


@config.command("get")
@click.argument("key")
@pass_state
def config_get(state: State, key: str) -> None:
    """Print one value, e.g. `mustelid config get inbox.path`."""
    from mustelid.backend import backend_tables

    # Only backend keys need the plugins loaded (for their defaults).
    backend = backend_tables(state.config, state.host.backends) \
        if key.partition(".")[0] == "backend" else None
    try:
        value = get_key(state.config, key, backend)
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(value) if isinstance(value, (dict, list)) else str(value))


# Host-level command groups that live in their own modules under daemon/cli/.
_MODULES = {
    "models": "mustelid.cli.models",
    "search": "mustelid.cli.search",
    "schedules": "mustelid.cli.schedules",
    "prompts": "mustelid.cli.prompts",
    "bench": "mustelid.cli.bench",
    "eval": "mustelid.cli.eval",
    "review": "mustelid.cli.review",
    "reprocess": "mustelid.cli.reprocess",
    "db": "mustelid.cli.db",
    "logs": "mustelid.cli.logs",
    "service": "mustelid.cli.service",
    "mcp": "mustelid.cli.mcp_command",
}


def _attach_modules() -> None:
    for name, module in _MODULES.items():
        cli.add_command(getattr(importlib.import_module(module), name), name)


_attach_modules()
