"""``mustelid eval``: run a task over a labelled folder and score it, field by field.

Each input runs through ``mustelid.execute.run_job`` with a real ``WorkerContext``: the model
worker's own code path (OCR, prompt, grammar, checks, re-ask), in this process, so the numbers
are the daemon's numbers. Nothing is written to the database.

A labelled folder holds ``NAME.<image>`` beside ``NAME.json``. What the JSON means is the task's
business (``Task.eval_truth``: its own field names, or a dataset layout it knows, e.g. SROIE's
company/date/address/total for receipts), and so is how two values compare
(``Task.eval_normalise``: the way a person would judge them). The host only counts.
"""

from __future__ import annotations

import dataclasses
import json
import math
import resource
import time
from pathlib import Path
from typing import Any, Callable

from mustelid.execute import NeedsReview, run_job
from mustelid.sniff import HEAD, sniff
from mustelid.tasks import JobError, JobInput, Task

INPUT_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".txt")


class EvalError(Exception):
    """The folder cannot be evaluated (missing, no labelled inputs, a labels file unreadable)."""


@dataclasses.dataclass
class Case:
    name: str
    path: Path
    truth: dict[str, Any]


def load_cases(folder: Path, task: Task, limit: int | None = None) -> tuple[list[Case], list[str]]:
    """Labelled inputs in name order, and the names of inputs without labels (reported, not
    fatal). A labels file that is not a JSON object stops the run with its name: scoring
    against half the labels would print a number that means nothing."""
    if not folder.is_dir():
        raise EvalError(f"{folder} is not a folder")
    cases, unlabelled = [], []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in INPUT_SUFFIXES or not path.is_file():
            continue
        labels = path.with_suffix(".json")
        if not labels.exists():
            unlabelled.append(path.name)
            continue
        try:
            raw = json.loads(labels.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as e:
            raise EvalError(f"{labels}: not readable JSON ({e})") from None
        if not isinstance(raw, dict):
            raise EvalError(f"{labels}: expected a JSON object of field values")
        truth = task.eval_truth(raw)
        if not truth:
            raise EvalError(f"{labels}: none of its keys ({', '.join(raw) or 'none'}) is a field"
                            f" of task {task.name} ({', '.join(task.Output.model_fields)})")
        cases.append(Case(path.stem, path, truth))
    if not cases:
        raise EvalError(f"no labelled inputs in {folder} (expected NAME.jpg beside NAME.json)")
    return (cases[:limit] if limit else cases), unlabelled


def _job_input(task: Task, case: Case) -> JobInput:
    with open(case.path, "rb") as f:
        mime = sniff(f.read(HEAD))
    if mime is None and case.path.suffix.lower() == ".txt":
        mime = "text/plain"
    return JobInput(id=f"eval-{case.name}", task=task.name, path=str(case.path),
                    original_name=case.path.name, mime=mime)


def run_case(task: Task, case: Case, ctx: Any) -> dict[str, Any]:
    """One input through the worker's code path; the outcome and each field's verdict."""
    started = time.perf_counter()
    data, outcome, reason, message, stats = None, "done", None, "", {}
    try:
        out = run_job(task, _job_input(task, case), ctx)
        data, stats = out["data"], out["stats"]
    except NeedsReview as e:
        # The daemon stores no result until a person decides: its fields count as misses, but
        # the reply was valid, and what it said is kept for reading.
        outcome, reason, message = "needs_review", e.reason, e.message
        stats = e.review["stats"]
        held = e.review["data"]
    except JobError as e:
        outcome, reason, message = "failed", e.reason, e.message
    seconds = time.perf_counter() - started
    fields = {}
    for name, expected in case.truth.items():
        got = data.get(name) if data else None
        want, have = task.eval_normalise(name, expected), task.eval_normalise(name, got)
        fields[name] = {"expected": expected, "got": got, "match": data is not None
                        and want == have, "expected_norm": want, "got_norm": have}
    row = {"name": case.name, "outcome": outcome, "reason": reason, "message": message,
           # Conservative: only a reply that parsed and fitted the schema counts; an input that
           # failed for any reason (refused, invalid JSON, crashed) does not.
           "json_valid": outcome in ("done", "needs_review"),
           "seconds": round(seconds, 3), "reasked": bool(stats.get("reasked")) or stats.get("generations", 0) > 1,
           "generations": stats.get("generations", 0), "prepare_s": stats.get("prepare_s"),
           "prompt_tokens": stats.get("prompt_tokens"),
           "completion_tokens": stats.get("completion_tokens"), "fields": fields}
    if outcome == "needs_review":
        row["held"] = held
    return row


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: an observed latency, never an interpolated one."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summarise(task: Task, rows: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    names = list(dict.fromkeys(f for r in rows for f in r["fields"]))
    per_field = {}
    for name in names:
        scored = [r for r in rows if name in r["fields"]]
        hits = sum(r["fields"][name]["match"] for r in scored)
        per_field[name] = {"matched": hits, "of": len(scored),
                           "rate": round(hits / len(scored), 4) if scored else None}
    latencies = [r["seconds"] for r in rows]
    return {
        "task": task.name, "task_version": task.version, "cases": n,
        "fields": per_field,
        "json_valid_rate": round(sum(bool(r["json_valid"]) for r in rows) / n, 4),
        "needs_review_rate": round(sum(r["outcome"] == "needs_review" for r in rows) / n, 4),
        "failed_rate": round(sum(r["outcome"] == "failed" for r in rows) / n, 4),
        "reask_rate": round(sum(r["reasked"] for r in rows) / n, 4),
        "failures": _count(r["reason"] for r in rows if r["outcome"] == "failed"),
        "latency_s": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                      "mean": round(sum(latencies) / n, 3)},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def evaluate(task: Task, cases: list[Case], ctx: Any,
             progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Score ``task`` on ``cases``. The model is loaded before the clock starts for the first
    case: the daemon keeps it loaded, so per-input latency excludes the one-time load."""
    load_started = time.perf_counter()
    if task.uses_model:
        ctx.backend  # noqa: B018  (load now; a missing model raises WaitingError here)
    load_s = time.perf_counter() - load_started
    rows = []
    for case in cases:
        rows.append(run_case(task, case, ctx))
        if progress is not None:
            progress(rows[-1])
    report = summarise(task, rows)
    report["model_load_s"] = round(load_s, 3)
    report["model"] = getattr(ctx.backend, "model_id", None) if task.uses_model else None
    report["results"] = rows
    return report
