"""``mustelid reprocess --task T [--since DATE]``: run stored inputs again with the current task
and model, store each answer as a new result version, and print what changed, field by field.

Runs in this process through ``mustelid.execute.run_job`` (the worker's code path) and commits
through the ledger like the daemon: a new job per input, linked by ``reprocess_of``, whose
result becomes the next version. Earlier versions are kept (``mustelid expenses --history``).
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import click

from mustelid.cli import State, json_option, pass_state


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
    import datetime as dt

    from mustelid.cli.output import clean, emit_json
    from mustelid.execute import NeedsReview, run_job
    from mustelid.ingest import model_key
    from mustelid.runner import daemon_running
    from mustelid.store import files as store_files
    from mustelid.store import reviews
    from mustelid.tasks import JobError, JobInput, PermanentError, WaitingError
    from mustelid.worker import WorkerContext

    task = state.host.tasks.get(task_name)
    if task is None:
        raise click.ClickException(f"unknown task {task_name!r}; installed: "
                                   f"{', '.join(sorted(state.host.tasks))}")
    if since:
        try:
            dt.date.fromisoformat(since)
        except ValueError:
            raise click.BadParameter("use YYYY-MM-DD", param_hint="--since") from None
    cfg, db, ledger = state.config, state.db, state.ledger
    todo = reviews.latest(db, task.name, since)[:limit] if limit else \
        reviews.latest(db, task.name, since)
    if dry_run or not todo:
        if as_json:
            emit_json([{"job_id": t["job_id"], "version": t["version"]} for t in todo])
        else:
            click.echo(f"{len(todo)} stored input(s) of {task.name} to reprocess")
        return
    if daemon_running(cfg) and not as_json:
        click.echo("note: the daemon is running; both will use the CPU", err=True)
    owner = f"reprocess:{socket.gethostname()}:{os.getpid()}"
    ctx = WorkerContext(cfg, state.host)
    out = []
    try:
        for item in todo:
            previous = ledger.get(item["job_id"])
            file = store_files.get_file(db, previous["input_sha256"])
            job = ledger.start_reprocess(previous, owner, cfg.jobs.timeout_seconds * 2,
                                         task_version=task.version, model_id=model_key(cfg))
            job_input = JobInput(
                id=job["id"], task=task.name, path=file["archived_path"],
                params=json.loads(job["params"] or "{}"), original_name=file["original_name"],
                mime=file["mime"], seen_at=file["first_seen"])
            row = {"job_id": job["id"], "reprocess_of": previous["id"],
                   "file": file["original_name"], "from_version": item["version"]}
            try:
                reply = run_job(task, job_input, ctx)
                result = task.Output.model_validate(reply["data"])
                ok = ledger.complete(job["id"], owner, reply["data"], evidence=reply["evidence"],
                                     stats=reply["stats"],
                                     persist=lambda db_, r, res=result: task.persist(db_, r, res))
                row["state"] = "done" if ok else "taken over"
                row["diff"] = field_diff(item["data"], reply["data"])
            except NeedsReview as e:
                ledger.hold_for_review(job["id"], owner, e.reason, e.message, e.review)
                row.update(state="needs_review", diff=field_diff(item["data"], e.review["data"]))
            except WaitingError as e:   # no model: stop, and leave the job to the daemon
                ledger.fail(job["id"], owner, "waiting", e.reason, e.message)
                raise click.ClickException(f"{e.reason}: {e.message}") from None
            except JobError as e:
                kind = "permanent" if isinstance(e, PermanentError) else "transient"
                row.update(state=ledger.fail(job["id"], owner, kind, e.reason, e.message),
                           reason=e.reason, diff={})
            out.append(row)
            if not as_json:
                _print_row(row, clean)
    finally:
        ctx.close()
    if as_json:
        emit_json(out)
        return
    changed = sum(1 for r in out if r.get("diff"))
    click.echo(f"{len(out)} reprocessed, {changed} changed")


def _print_row(row: dict[str, Any], clean) -> None:
    head = f"{row['job_id']}  {clean(row['file'])}  v{row['from_version']} -> {row['state']}"
    if row.get("reason"):
        head += f" ({clean(row['reason'])})"
    click.echo(head)
    for field, (was, now) in row.get("diff", {}).items():
        if field == "provenance":
            continue
        click.echo(f"    {field}: {clean(was)} -> {clean(now)}")
