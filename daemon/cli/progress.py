"""Progress you can see: the bar ``mustelid run --once`` draws on a terminal, and the "now" part
of ``mustelid status`` (the running job, the queue, the recent rate, the time left).

Piped, ``run --once`` draws no bar: the job lines on stderr (``mustelid.activity``) are the
plain-text progress.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import time
from typing import Any

import click

from mustelid.activity import FINISHED, RATE_WINDOW_S, rate
from mustelid.cli.output import clean


class OnceProgress:
    """A rich bar over the jobs of one ``run --once``: done / (done + still queued or running),
    the current file and task, elapsed time and an ETA from the pace so far. Fed by the daemon's
    ``watchers`` on its own thread; log lines print above the bar instead of through it."""

    def __init__(self, daemon: Any):
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn,
                                   SpinnerColumn, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)
        from rich.text import Text

        class StageColumn(ProgressColumn):
            """The running job's stage (``reading``, ``ocr``, ``model``...), read at each
            refresh from the supervisor, which the worker tells at every stage change."""

            def render(self, task: Any) -> Text:
                stage = getattr(daemon.supervisor, "stage", None)
                name = stage.get("name") if stage else None
                return Text(f"[{name}]" if name else "", style="cyan")

        self.daemon = daemon
        self.finished = 0
        self.bar = None
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}", markup=False), StageColumn(),
            BarColumn(),
            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(stderr=True), speed_estimate_period=900, transient=False,
        )
        self._swapped: list[logging.StreamHandler] = []
        daemon.watchers.append(self.watch)

    def __enter__(self) -> OnceProgress:
        terminal = sys.stderr
        self.progress.start()        # sys.stderr is now rich's proxy, which prints above the bar
        for handler in logging.getLogger().handlers:
            if isinstance(handler, logging.StreamHandler) and handler.stream is terminal:
                handler.setStream(sys.stderr)
                self._swapped.append(handler)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.stop()
        for handler in self._swapped:
            handler.setStream(sys.stderr)

    def watch(self, job: dict[str, Any], event: str) -> None:
        if event in FINISHED:
            self.finished += 1
        counts = self.daemon.ledger.counts()
        left = counts["queued"] + counts["running"]
        name = self.daemon.joblog.file_name(job) or "(no file)"
        what = f"{clean(name)[:40]} -> {job['task']}"
        description = what if event == "running" else f"{what}: {event}"
        if self.bar is None:
            self.bar = self.progress.add_task(description, total=None)
        self.progress.update(self.bar, description=description, completed=self.finished,
                             total=self.finished + left)


def once_progress(daemon: Any) -> OnceProgress | None:
    """The bar when stderr is a terminal, else None (plain job lines only)."""
    return OnceProgress(daemon) if sys.stderr.isatty() else None


# -- mustelid status: what it is doing now -----------------------------------------------------


def _age(iso: str | None, now: float) -> float | None:
    try:
        return round(now - dt.datetime.fromisoformat(iso).timestamp(), 1) if iso else None
    except ValueError:
        return None


def activity(ledger: Any, with_file, stage: dict[str, Any] | None = None,
             now: float | None = None) -> dict[str, Any]:
    """The running job(s) (file, task, elapsed, and the stage the daemon published for it:
    ``stage`` is ``{"job", "name", "since"}`` from ``mustelid.supervisor``), the queue depth, the
    jobs per minute over the last ``RATE_WINDOW_S`` and the time left at that rate."""
    now = time.time() if now is None else now
    running = []
    for j in with_file(ledger.list("running", None, 10)):
        # Only the job the stage was published for: a stage left over from the job before, or
        # a job another (crashed) daemon left running, shows none.
        mine = isinstance(stage, dict) and stage.get("job") == j["id"]
        since = stage.get("since") if mine else None
        running.append({
            "id": j["id"], "file": j["file"], "task": j["task"], "attempt": j["attempts"],
            "stage": stage.get("name") if mine else None,
            "stage_elapsed_s": round(max(0.0, now - since), 1)
            if isinstance(since, (int, float)) else None,
            "elapsed_s": _age(j["started_at"], now),
        })
    counts = ledger.counts()
    queue = counts["queued"] + counts["running"]
    per_min = rate(ledger.finished_since(now - RATE_WINDOW_S), now)
    return {
        "running": running,
        "queue": queue,
        "rate_per_min": round(per_min, 2) if per_min else None,
        "eta_s": round(queue / per_min * 60) if per_min and queue else None,
    }


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def print_activity(info: dict[str, Any]) -> None:
    for job in info["running"]:
        # "-> receipts, model for 12s, running 15s": the stage, then the whole job so far
        stage = f", {clean(job['stage'])}" if job.get("stage") else ""
        if stage and job.get("stage_elapsed_s") is not None:
            stage += f" for {_duration(job['stage_elapsed_s'])}"
        took = (f", {'running ' if stage else ''}{_duration(job['elapsed_s'])}"
                if job.get("elapsed_s") is not None else "")
        click.echo(f"running:  {job['id']} {clean(job['file'] or '(no file)')} -> "
                   f"{clean(job['task'])}{stage}{took}")
    rate_s = (f"{info['rate_per_min']:g} jobs/min over the last "
              f"{RATE_WINDOW_S // 60} min" if info["rate_per_min"] else "no job finished in the "
              f"last {RATE_WINDOW_S // 60} min")
    left = f", about {_duration(info['eta_s'])} left" if info["eta_s"] is not None else ""
    click.echo(f"queue:    {info['queue']} to do; {rate_s}{left}")
