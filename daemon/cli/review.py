"""``mustelid review``: answers that failed their task's checks wait here for a person.

    mustelid review [--task T] [--json]              what is waiting, with the problems
    mustelid review JOB [--json]                     one held answer: fields, problems, raw reply
    mustelid review JOB --set total=12.50 [--set ...] --accept    correct, then store
    mustelid review JOB --accept                     store it as it is
    mustelid review JOB --reject [--note TEXT]       the answer is wrong: dead, kept for the record

Without ``--accept`` a ``--set`` only shows the corrected, validated result. Corrections are
stored field by field; a task may show them to the model for later inputs of the same kind
(receipts: the same merchant).
"""

from __future__ import annotations

import json
from typing import Any

import click
from pydantic import ValidationError

from mustelid.cli.app import State, pass_state
from mustelid.cli.listing import Listing, listing_options, resolve_job
from mustelid.cli.output import clean, emit_json


def _parse_sets(pairs: tuple[str, ...], fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise click.BadParameter(f"{pair!r}: write FIELD=VALUE", param_hint="--set")
        if name not in fields:
            raise click.BadParameter(f"{name!r} is not a field; fields: {', '.join(fields)}",
                                     param_hint="--set")
        text = value.strip()
        # Text stays text ("12.50" keeps its scale); null, true/false and JSON lists/objects
        # are parsed, so items=[...] or date=null can be written too.
        if text in ("null", "true", "false") or text[:1] in ("[", "{"):
            try:
                out[name] = json.loads(text)
            except ValueError as e:
                raise click.BadParameter(f"{name}: not valid JSON ({e})",
                                         param_hint="--set") from None
        else:
            out[name] = text
    return out


@click.command()
@click.argument("job_id", required=False)
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
              help="Correct one field (repeatable).")
@click.option("--accept", is_flag=True, help="Store the (corrected) answer as the result.")
@click.option("--reject", is_flag=True, help="The answer is wrong: end the job dead.")
@click.option("--note", default="", help="Why it was rejected.")
@click.option("--task", help="List only this task's jobs.")
@listing_options(default_limit=100, what="jobs")
@pass_state
def review(state: State, job_id: str | None, sets: tuple[str, ...], accept: bool, reject: bool,
           note: str, task: str | None, listing: Listing) -> None:
    """List answers waiting for review, or accept, correct or reject one (JOB)."""
    from mustelid.store import reviews

    db, ledger = state.db, state.ledger
    if job_id is None:
        if sets or accept or reject:
            raise click.UsageError("name the JOB to accept, correct or reject")
        rows = [r for r in reviews.pending(db, task, limit=-1) if listing.within(r["held_at"])]
        _list(state, rows[:listing.limit], listing)
        return
    as_json = listing.as_json
    if accept and reject:
        raise click.UsageError("--accept or --reject, not both")
    job = resolve_job(state, job_id)
    held = reviews.get(db, job["id"])
    if job["state"] != "needs_review" or held is None:
        raise click.ClickException(f"job {job['id']} is {job['state']}, not waiting for review")
    if reject:
        if sets:
            raise click.UsageError("--set corrects an answer to accept; drop it to reject")
        ledger.reject_review(job["id"], note)
        click.echo(f"{job['id']} rejected (dead, answer kept)")
        return
    the_task = state.host.tasks.get(job["task"])
    if the_task is None:
        raise click.ClickException(f"task {job['task']!r} is not installed")
    before, merged, changes, chosen = _corrected(state, the_task, held["data"] or {}, sets)
    try:
        result = the_task.Output.model_validate(merged)
    except ValidationError as e:
        raise click.ClickException(f"not saved: {_problems(e)}") from None
    stored = after = result.model_dump(mode="json")
    if chosen is not None:
        after = stored["arguments"]
    corrections = [{"field": f, "was": before.get(f), "value": after.get(f)}
                   for f in changes if before.get(f) != after.get(f)]
    if not accept:
        _preview(job, held, after, corrections, as_json)
        return
    if chosen is not None and hasattr(the_task, "bind"):
        # A dispatcher files through the chosen task of the host it is bound to (the daemon
        # binds it at startup); here that host is this command's.
        the_task.bind(state.host)
    ok = ledger.resolve_review(
        job["id"], stored, corrections=corrections, example_key=the_task.example_key(stored),
        filed_as=the_task.filed_as(result),
        persist=lambda db_, row: the_task.persist(db_, row, result))
    if not ok:
        raise click.ClickException(f"job {job['id']} was resolved meanwhile")
    if as_json:
        emit_json({"job_id": job["id"], "state": "done", "data": after, "changes": corrections})
        return
    what = ", ".join(f"{c['field']} {clean(c['was'])} -> {clean(c['value'])}" for c in corrections)
    click.echo(f"{job['id']} done" + (f" (corrected {what})" if what else " (accepted as is)"))


def _corrected(state: State, the_task: Any, before: dict[str, Any], sets: tuple[str, ...]
               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], Any]:
    """(the fields as held, the answer with the corrections, the corrections, the chosen task
    or None). A dispatcher's answer (the inbox router: kind, name, arguments) is corrected in
    the chosen task's fields, inside "arguments", and checked by that task's Output."""
    chosen = _dispatched_to(state, before)
    if chosen is None:
        changes = _parse_sets(sets, the_task.Output.model_fields)
        return before, {**before, **changes}, changes, None
    changes = _parse_sets(sets, chosen.Output.model_fields)
    merged = {**before, "task": before.get("task") or chosen.name,
              "arguments": {**before["arguments"], **changes}}
    try:
        chosen.Output.model_validate(merged["arguments"])
    except ValidationError as e:
        raise click.ClickException(f"not saved: {_problems(e)}") from None
    return before["arguments"], merged, changes, chosen


def _problems(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, x['loc']))}: {x['msg']}" for x in e.errors())


def _dispatched_to(state: State, data: dict[str, Any]) -> Any:
    """The installed task a dispatcher's held answer chose (``kind`` naming a task, with its
    ``arguments``), or None for an ordinary answer."""
    kind = data.get("kind") if isinstance(data.get("arguments"), dict) else None
    return state.host.tasks.get(kind) if isinstance(kind, str) else None


def _list(state: State, rows: list[dict[str, Any]], listing: Listing) -> None:
    for r in rows:
        r["problem"] = "; ".join(r["problems"])
    if listing.as_json:
        emit_json(rows)
    else:
        listing.emit(rows, ["job_id", "task", "confidence", "problem", "held_at"],
                     title="needs review (most doubtful first)", state=state, id_key="job_id")


def _preview(job: dict[str, Any], held: dict[str, Any], after: dict[str, Any],
             corrections: list[dict[str, Any]], as_json: bool) -> None:
    """The held answer with the corrections applied, not stored."""
    if as_json:
        emit_json({"job_id": job["id"], "task": job["task"], "problems": held["problems"],
                   "data": after, "changes": corrections, "raw": held["raw"]})
        return
    click.echo(f"job {job['id']} ({job['task']}) needs review:")
    for p in held["problems"]:
        click.echo(f"  problem: {clean(p)}")
    for k, v in after.items():
        mark = " (corrected)" if any(c["field"] == k for c in corrections) else ""
        click.echo(f"  {k:>12}: {clean(v)}{mark}")
    click.echo(f"  model said: {clean(held['raw'])}")
    click.echo("add --accept to store it" + (" with these corrections" if corrections else "")
               + ", or --reject")
