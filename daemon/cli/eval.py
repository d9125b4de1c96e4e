"""``mustelid eval TASK FOLDER``: score a task on a labelled folder (docs/EVAL.md)."""

from __future__ import annotations

from pathlib import Path

import click

from mustelid import JobError
from mustelid.cli.app import State, json_option, pass_state
from mustelid.cli.output import clean, emit_json, emit_table


@click.command("eval")
@click.argument("task_name", metavar="TASK")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("-n", "--limit", type=int, help="Only the first N labelled inputs (name order).")
@click.option("--names", metavar="GLOB",
              help="Only inputs whose name (without suffix) matches GLOB, e.g. '*[13579]'.")
@click.option("--split", is_flag=True,
              help="Also report the odd- and even-numbered inputs apart (tune on one half, "
                   "check on the other).")
@click.option("--labels", "labels", type=click.Path(path_type=Path), metavar="DIR",
              help="More NAME.json labels kept outside FOLDER (e.g. line items for a read-only "
                   "dataset), merged over FOLDER's own.")
@click.option("--threads", type=int, help="Model threads (default: the configured model.threads).")
@click.option("--misses", is_flag=True, help="Also list every field that did not match.")
@json_option
@pass_state
def eval(state: State, task_name: str, folder: Path, limit: int | None, names: str | None,
         split: bool, labels: Path | None, threads: int | None, misses: bool,
         as_json: bool) -> None:
    """Run TASK over FOLDER (NAME.jpg or NAME.txt beside NAME.json labels) the way the model
    worker does, and report the task's scores (per-field exact-match rates unless the task
    scores its own way), JSON-valid and needs-review rates, latency p50/p95 and peak RSS.
    Nothing is stored."""
    # Imported when run: the model worker's modules would slow every other command's start-up.
    from mustelid.evaluate import EvalError, evaluate, load_cases, uses_default_scoring
    from mustelid.worker import WorkerContext

    task = state.host.tasks.get(task_name)
    if task is None:
        raise click.ClickException(f"unknown task {task_name!r}; installed: "
                                   f"{', '.join(sorted(state.host.tasks))}")
    try:
        cases, unlabelled = load_cases(folder, task, limit, names, labels)
    except EvalError as e:
        raise click.ClickException(str(e)) from None
    cfg = state.config
    if threads:
        cfg.model.threads = threads
    ctx = WorkerContext(cfg, state.host)

    def progress(row: dict) -> None:   # on stderr, so --json output stays one document
        wrong = [f for f, v in row["fields"].items() if not v.get("match")]
        click.echo(f"{clean(row['name'])}: {row['outcome']:<12} {row['seconds']:6.2f}s"
                   + (f"  wrong: {', '.join(wrong)}" if wrong else ""), err=True)

    try:
        report = evaluate(task, cases, ctx, progress, split=split)
    except JobError as e:   # e.g. the model is not pulled: say so, do not print a 0 % table
        raise click.ClickException(f"{e.reason}: {e.message}") from None
    finally:
        ctx.close()
    report["folder"] = str(folder)
    if labels is not None:
        report["labels"] = str(labels)
    report["unlabelled"] = unlabelled
    if as_json:
        emit_json(report)
        return
    _print_report(report, task.name, folder, misses, uses_default_scoring(task))


def _rate(v: dict | None) -> str:
    return "-" if not v or v["rate"] is None else f"{100 * v['rate']:.1f}%"


def _print_scores(report: dict, task_name: str, folder: Path, exact: bool) -> None:
    name, rate = ("field", "exact_match") if exact else ("metric", "rate")
    columns = [name, "matched", "of", rate]
    halves = report.get("split", {})
    columns += list(halves)
    rows = []
    for f, v in report["fields"].items():
        row = {name: f, "matched": v["matched"], "of": v["of"], rate: _rate(v)}
        for side, summary in halves.items():
            h = summary["fields"].get(f)
            row[side] = f"{_rate(h)} ({h['matched']}/{h['of']})" if h else "-"
        rows.append(row)
    emit_table(rows, columns, title=f"{task_name} on {folder} ({report['cases']} inputs)")


def _print_report(report: dict, task_name: str, folder: Path, misses: bool,
                  exact: bool = True) -> None:
    _print_scores(report, task_name, folder, exact)
    lat = report["latency_s"]
    click.echo(f"json valid:   {100 * report['json_valid_rate']:.1f}%")
    click.echo(f"needs review: {100 * report['needs_review_rate']:.1f}%")
    click.echo(f"failed:       {100 * report['failed_rate']:.1f}%"
               + (f" ({', '.join(f'{k} {n}' for k, n in report['failures'].items())})"
                  if report["failures"] else ""))
    click.echo(f"re-asked:     {100 * report['reask_rate']:.1f}%")
    click.echo(f"latency:      p50 {lat['p50']:.2f}s  p95 {lat['p95']:.2f}s  mean {lat['mean']:.2f}s"
               f"  (model load {report['model_load_s']:.1f}s, not counted)")
    for side, summary in report.get("split", {}).items():
        h = summary["latency_s"]
        click.echo(f"  {side + ':':<11} p50 {h['p50']:.2f}s  p95 {h['p95']:.2f}s"
                   f"  ({summary['cases']} inputs)")
    click.echo(f"peak rss:     {report['peak_rss_mb']:.0f} MiB")
    if report["unlabelled"]:
        click.echo(f"unlabelled (skipped): {len(report['unlabelled'])}")
    if misses:
        for r in report["results"]:
            for f, v in r["fields"].items():
                if v.get("match"):
                    continue
                said = (clean(v["why"]) if v.get("why") else
                        f"expected {clean(v['expected'])!s} got {clean(v['got'])}")
                click.echo(f"  {clean(r['name'])} {f}: {said} [{r['outcome']}]")
