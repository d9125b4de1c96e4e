"""``mustelid reprocess --task T [--since DATE]``: run stored inputs again with the current task
and model, store each answer as a new result version, and print what changed, field by field.

Runs in this process through ``mustelid.worker.handle`` (the worker's code path) and commits
through ``mustelid.commit.commit`` like the daemon: a new job per input, linked by
``reprocess_of``, whose result becomes the next version. Earlier versions are kept
(``mustelid expenses --history``).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from typing import Any

import click

from mustelid.cli.app import State, json_option, pass_state
from mustelid.cli.output import clean, emit_json


def field_diff(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Fields whose value differs: {field: [before, after]}."""
    before, after = before or {}, after or {}
    return {k: [before.get(k), after.get(k)] for k in dict.fromkeys([*before, *after])
            if before.get(k) != after.get(k)}


@click.command()
@click.option("--task", "task_name", required=True, help="Reprocess this task's stored inputs.")
@click.option("--since", help="Only inputs first seen on or after this day (YYYY-MM-DD).")
@click.option("-n", "--limit", type=int, help="At most N inputs.")
@click.option("--dry-run", is_flag=True, help="List what would be reprocessed; run nothing.")
@json_option
@pass_state
def reprocess(state: State, task_name: str, since: str | None, limit: int | None, dry_run: bool,
              as_json: bool) -> None:
    """Re-run stored inputs into new result versions and print a field-level diff."""
    from mustelid.home import daemon_running
    from mustelid.store import reviews

    task = state.host.tasks.get(task_name)
    if task is None:
        raise click.ClickException(f"unknown task {task_name!r}; installed: "
                                   f"{', '.join(sorted(state.host.tasks))}")
    if since:
        try:
            dt.date.fromisoformat(since)
        except ValueError:
            raise click.BadParameter("use YYYY-MM-DD", param_hint="--since") from None
    todo = reviews.latest(state.db, task.name, since)
    todo = todo[:limit] if limit else todo
    if dry_run or not todo:
        if as_json:
            emit_json([{"job_id": t["job_id"], "version": t["version"]} for t in todo])
        else:
            click.echo(f"{len(todo)} stored input(s) of {task.name} to reprocess")
        return
    if daemon_running(state.config) and not as_json:
        click.echo("note: the daemon is running; both will use the CPU", err=True)
    out = _run_all(state, task, todo, as_json)
    if as_json:
        emit_json(out)
        return
    changed = sum(1 for r in out if r.get("diff"))
    click.echo(f"{len(out)} reprocessed, {changed} changed")


def _run_all(state: State, task: Any, todo: list[dict[str, Any]],
             as_json: bool) -> list[dict[str, Any]]:
    """Run and commit each stored input; a row per input. Stops at a job that has to wait
    (no model): the rest would wait too, and the daemon will run that one."""
    from mustelid.commit import commit, job_input
    from mustelid.config import model_key
    from mustelid.worker import WorkerContext, handle

    cfg, ledger = state.config, state.ledger
    owner = f"reprocess:{socket.gethostname()}:{os.getpid()}"
    ctx = WorkerContext(cfg, state.host)
    out = []
    try:
        for item in todo:
            previous = ledger.get(item["job_id"])
            job = ledger.start_reprocess(previous, owner, cfg.jobs.timeout_seconds * 2,
                                         task_version=task.version, model_id=model_key(cfg))
            job_in = job_input(state.db, job)
            reply = handle(ctx, job_in)
            outcome = commit(ledger, task, job, reply)
            if outcome.kind == "failed" and reply.get("kind") == "waiting":
                raise click.ClickException(f"{outcome.reason}: {outcome.message}")
            row = {"job_id": job["id"], "reprocess_of": previous["id"],
                   "file": job_in.original_name, "from_version": item["version"]}
            if outcome.kind == "done":
                row.update(state=outcome.state or "taken over",
                           diff=field_diff(item["data"], reply["data"]))
            elif outcome.kind == "review":
                row.update(state="needs_review",
                           diff=field_diff(item["data"], reply["review"]["data"]))
            else:
                row.update(state=outcome.state, reason=outcome.reason, diff={})
            out.append(row)
            if not as_json:
                _print_row(row)
    finally:
        ctx.close()
    return out


def _print_row(row: dict[str, Any]) -> None:
    head = f"{row['job_id']}  {clean(row['file'])}  v{row['from_version']} -> {row['state']}"
    if row.get("reason"):
        head += f" ({clean(row['reason'])})"
    click.echo(head)
    for field, (was, now) in row.get("diff", {}).items():
        if field == "provenance":
            continue
        click.echo(f"    {field}: {clean(was)} -> {clean(now)}")
