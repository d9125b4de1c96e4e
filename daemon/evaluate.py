"""``mustelid eval``: run a task over a labelled folder and score it.

Each input runs through ``mustelid.execute.run_job`` with a real ``WorkerContext``: the model
worker's own code path (OCR, prompt, grammar, checks, re-ask), in this process, so the numbers
are the daemon's numbers. Nothing is written to the database.

A labelled folder holds ``NAME.<image or .txt>`` beside ``NAME.json`` (more labels can come
from another folder, merged over these: ``load_cases(labels=...)``). What the JSON means is
the task's business (``Task.eval_truth``: its own field names, or a dataset layout it knows,
e.g. SROIE's company/date/address/total for receipts), and so is how an answer is judged
(``Task.eval_score``: counters per metric and what each input's report shows; by default one
exact match per field after ``Task.eval_normalise``). The host only sums the counters, times
the inputs and names no task.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import math
import re
import resource
import time
from pathlib import Path
from typing import Any, Callable

from mustelid.execute import NeedsReview, run_job
from mustelid.sniff import HEAD, sniff
from mustelid.tasks import JobError, JobInput, Task

INPUT_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".txt")
Scores = dict[str, tuple[int, int]]


class EvalError(Exception):
    """The folder cannot be evaluated (missing, no labelled inputs, a labels file unreadable)."""


@dataclasses.dataclass
class Case:
    name: str
    path: Path
    truth: dict[str, Any]


def load_cases(folder: Path, task: Task, limit: int | None = None,
               names: str | None = None, labels: Path | None = None
               ) -> tuple[list[Case], list[str]]:
    """Labelled inputs in name order, and the names of inputs without labels (reported, not
    fatal). ``names``: only inputs whose name (without suffix) matches this glob. ``labels``: a
    folder of more ``NAME.json`` files (labels kept apart from the inputs, e.g. line items
    added to a read-only dataset), each merged over the input's own, key by key. A labels file
    that is not a JSON object stops the run with its name: scoring against half the labels
    would print a number that means nothing."""
    if not folder.is_dir():
        raise EvalError(f"{folder} is not a folder")
    if labels is not None and not labels.is_dir():
        raise EvalError(f"--labels {labels} is not a folder")
    cases, unlabelled, merged = [], [], 0
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in INPUT_SUFFIXES or not path.is_file():
            continue
        if names and not fnmatch.fnmatchcase(path.stem, names):
            continue
        extra = labels / f"{path.stem}.json" if labels else None
        files = [f for f in (path.with_suffix(".json"), extra) if f is not None and f.exists()]
        if not files:
            unlabelled.append(path.name)
            continue
        raw: dict[str, Any] = {}
        for file in files:   # the extra labels last: they win where both name a key
            raw.update(_read_labels(file))
        merged += extra in files
        try:
            truth = task.eval_truth(raw)
        except ValueError as e:   # the task found a value it cannot judge against
            raise EvalError(f"{' + '.join(map(str, files))}: {e}") from None
        if not truth:
            raise EvalError(f"{files[-1]}: none of its keys ({', '.join(raw) or 'none'}) is a "
                            f"field of task {task.name} ({', '.join(task.Output.model_fields)})")
        cases.append(Case(path.stem, path, truth))
    if not cases:
        where = f"{folder} matching {names!r}" if names else str(folder)
        raise EvalError(f"no labelled inputs in {where} (expected NAME.jpg beside NAME.json)")
    if labels is not None and not merged:
        # A typo in the path or the names would otherwise score without the extra labels.
        raise EvalError(f"no NAME.json in {labels} belongs to an input of {folder}"
                        + (f" matching {names!r}" if names else ""))
    return (cases[:limit] if limit else cases), unlabelled


def _read_labels(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise EvalError(f"{path}: not readable JSON ({e})") from None
    if not isinstance(raw, dict):
        raise EvalError(f"{path}: expected a JSON object of field values")
    return raw


def input_mime(path: Path) -> str | None:
    """A labelled input's type: sniffed, and a ``.txt`` the sniffer cannot place is text."""
    with open(path, "rb") as f:
        mime = sniff(f.read(HEAD))
    if mime is None and path.suffix.lower() == ".txt":
        mime = "text/plain"
    return mime


def _job_input(task: Task, case: Case) -> JobInput:
    return JobInput(id=f"eval-{case.name}", task=task.name, path=str(case.path),
                    original_name=case.path.name, mime=input_mime(case.path))


def run_case(task: Task, case: Case, ctx: Any) -> tuple[dict[str, Any], Scores]:
    """One input through the worker's code path: its report row and its counters."""
    started = time.perf_counter()
    data, outcome, reason, message, stats, evidence = None, "done", None, "", {}, None
    try:
        out = run_job(task, _job_input(task, case), ctx)
        data, stats, evidence = out["data"], out["stats"], out["evidence"]
    except NeedsReview as e:
        # The daemon stores no result until a person decides: it is scored as no answer, but
        # the reply was valid, and what it said is kept for reading.
        outcome, reason, message = "needs_review", e.reason, e.message
        stats, evidence = e.review["stats"], e.review["evidence"]
        held = e.review["data"]
        if reason == "low_confidence":
            # Checked and complete, only not sure enough to file unseen: it is the task's
            # answer (a person sees it filled in), so it is scored; `accepted` says it waits.
            data = held
    except JobError as e:
        outcome, reason, message = "failed", e.reason, e.message
    seconds = time.perf_counter() - started
    scores, detail = task.eval_score(case.truth, data, reason=reason, evidence=evidence)
    row = {"name": case.name, "outcome": outcome, "reason": reason, "message": message,
           # Conservative: only a reply that parsed and fitted the schema counts; an input that
           # failed for any reason (refused, invalid JSON, crashed) does not.
           "json_valid": outcome in ("done", "needs_review"),
           "seconds": round(seconds, 3), "reasked": bool(stats.get("reasked")) or stats.get("generations", 0) > 1,
           "generations": stats.get("generations", 0), "prepare_s": stats.get("prepare_s"),
           "prompt_tokens": stats.get("prompt_tokens"),
           "completion_tokens": stats.get("completion_tokens"),
           "fields": detail, "confidence": stats.get("confidence"),
           "accepted": outcome == "done"}
    if outcome == "needs_review":
        row["held"] = held
    return row, scores


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: an observed latency, never an interpolated one."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summarise(task: Task, rows: list[dict[str, Any]], scores: list[Scores]) -> dict[str, Any]:
    """The folder's figures: each metric's counters summed over the inputs (``fields``: the
    name is kept from when every metric was a field), outcomes, latency, peak RSS."""
    n = len(rows)
    totals: dict[str, list[int]] = {}
    for counters in scores:
        for name, (hits, of) in counters.items():
            total = totals.setdefault(name, [0, 0])
            total[0] += hits
            total[1] += of
    per_field = {name: {"matched": hits, "of": of, "rate": round(hits / of, 4) if of else None}
                 for name, (hits, of) in totals.items()}
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
        **task.eval_summary(rows),
    }


def _count(items) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def half(name: str) -> str | None:
    """"odd" or "even" by the last number in an input's name (``shot07`` is odd), None for a
    name without one: the dev sets' READMEs suggest tuning on one half, checking on the other."""
    numbers = re.findall(r"\d+", name)
    return None if not numbers else "odd" if int(numbers[-1]) % 2 else "even"


def split_halves(task: Task, rows: list[dict[str, Any]],
                 scores: list[Scores]) -> dict[str, dict[str, Any]]:
    """The summary of the odd- and of the even-numbered inputs, each on its own."""
    out = {}
    for side in ("odd", "even"):
        picked = [i for i, r in enumerate(rows) if half(r["name"]) == side]
        if picked:
            out[side] = summarise(task, [rows[i] for i in picked], [scores[i] for i in picked])
    return out


def uses_default_scoring(task: Task) -> bool:
    """True when the task judges each field by exact match (the host's default): reports then
    say "exact match" rather than "rate"."""
    return type(task).eval_score is Task.eval_score


def evaluate(task: Task, cases: list[Case], ctx: Any,
             progress: Callable[[dict[str, Any]], None] | None = None,
             split: bool = False) -> dict[str, Any]:
    """Score ``task`` on ``cases``. The model is loaded before the clock starts for the first
    case: the daemon keeps it loaded, so per-input latency excludes the one-time load.
    ``split``: also summarise the odd- and even-numbered inputs apart (``report["split"]``)."""
    load_started = time.perf_counter()
    if task.uses_model:
        ctx.backend  # noqa: B018  (load now; a missing model raises WaitingError here)
    load_s = time.perf_counter() - load_started
    rows, scores = [], []
    for case in cases:
        row, counters = run_case(task, case, ctx)
        rows.append(row)
        scores.append(counters)
        if progress is not None:
            progress(row)
    report = summarise(task, rows, scores)
    report["model_load_s"] = round(load_s, 3)
    report["model"] = getattr(ctx.backend, "model_id", None) if task.uses_model else None
    if split:
        report["split"] = split_halves(task, rows, scores)
    report["results"] = rows
    return report
