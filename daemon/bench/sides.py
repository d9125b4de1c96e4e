"""The two sides every comparison runs: the daemon (the real supervisor and model worker, in a
throwaway home that holds the bench's own tasks) and raw llama-cpp-python in its own process
(``mustelid.bench_raw``), asked for exactly what the task asks the model."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import tomli_w

from mustelid.bench import task as bench_task
from mustelid.config import load_config
from mustelid.supervisor import Supervisor
from mustelid.tasks import JobInput, Task

# The raw side is llama-cpp-python, so the daemon side runs that backend too.
BACKEND = "llama_cpp"
JOB_TIMEOUT = 600.0


@contextlib.contextmanager
def bench_home(model_path: Path, threads: int, n_ctx: int) -> Iterator[Callable[..., Supervisor]]:
    """A throwaway MUSTELID_HOME whose plugins folder holds the bench's tasks; yields
    ``make(name, model={...}, backend={...})`` that writes a config variant (those keys over the
    bench's own) and returns a Supervisor for it, started on demand."""
    old = os.environ.get("MUSTELID_HOME")
    sups: list[Supervisor] = []
    with tempfile.TemporaryDirectory(prefix="mustelid-bench-") as tmp:
        home = Path(tmp)
        (home / "plugins").mkdir()
        shutil.copyfile(bench_task.__file__, home / "plugins" / "bench_task.py")
        os.environ["MUSTELID_HOME"] = str(home)

        def make(name: str, model: dict[str, Any] | None = None,
                 backend: dict[str, Any] | None = None) -> Supervisor:
            path = home / f"{name}.toml"
            path.write_text(tomli_w.dumps(_config(model_path, threads, n_ctx, model, backend)),
                            encoding="utf-8")
            sup = Supervisor(str(path), model=load_config(path).model)
            sups.append(sup)
            return sup

        try:
            yield make
        finally:
            for sup in sups:
                sup.stop()
            if old is None:
                os.environ.pop("MUSTELID_HOME", None)
            else:
                os.environ["MUSTELID_HOME"] = old


def _config(model: Path, threads: int, n_ctx: int, model_keys: dict[str, Any] | None,
            backend_keys: dict[str, Any] | None) -> dict[str, Any]:
    # A fixed context (n_ctx_min = n_ctx) and no idle release: nothing changes between pairs
    # but what a comparison varies.
    return {
        "model": {"backend": BACKEND, "path": str(model), "threads": threads,
                  "idle_release": 0, "idle_unload": 0, **(model_keys or {})},
        "backend": {BACKEND: {"n_ctx": n_ctx, "n_ctx_min": n_ctx, **(backend_keys or {})}},
        "jobs": {"timeout_seconds": 600},
    }


_ids = iter(range(1_000_000))


def daemon_job(sup: Supervisor, task: str, **fields: Any) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one job through the model worker, and its reply."""
    job = JobInput(id=f"bench-{next(_ids)}", task=task, **fields)
    started = time.perf_counter()
    sup.submit(job)
    reply = None
    while reply is None:
        reply = sup.poll(0.02)
        if reply is None and sup.running_for() > JOB_TIMEOUT:
            sup.abort("timeout", "bench job timed out")
            raise RuntimeError(f"a {task} job took more than {JOB_TIMEOUT:.0f}s")
    return time.perf_counter() - started, reply


def tier_op(sup: Supervisor, op: str) -> dict[str, Any]:
    """Send release/prewarm and wait for the worker's answer."""
    if op == "prewarm":
        sup.wake()
    else:
        sup._request(op)
    while sup.pending:
        sup.drain()
        time.sleep(0.01)
    return sup.last_stats


def task_request(task: Task, text: str) -> dict[str, Any]:
    """What ``task`` asks the model for a receipt ``text`` (messages, schema, token budget): the
    raw side gets exactly this, so both sides run the same request."""
    job = JobInput(id="bench-raw", task=task.name, params={"text": text})
    evidence = task.prepare(job, None)
    return {"messages": task.messages(job, evidence, None), "schema": task.schema(evidence),
            "max_tokens": task.max_tokens}


def raw_cmd(mode: str, model: Path, threads: int, n_ctx: int) -> list[str]:
    return [sys.executable, "-m", "mustelid.bench_raw", mode, str(model), str(threads), str(n_ctx)]


def decode_rate(perf: dict[str, Any] | None) -> float | None:
    if not perf or not perf.get("decode_s"):
        return None
    return perf["decode_tokens"] / perf["decode_s"]
