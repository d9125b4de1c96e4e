"""The model worker: a child process that holds the model and runs tasks.

Why a separate process: an abort or segfault inside llama.cpp (or OCR, or a plugin) must kill
this child, not the daemon. The daemon keeps the ledger; the worker never touches the database.

Protocol over a multiprocessing Pipe, one request at a time:
  -> {"op": "job", "job": {...JobInput fields...}}   <- {"ok": True, "data", "evidence", "stats"}
                                                      <- {"ok": False, "kind", "reason", "message"}
  -> {"op": "stats"}                                  <- {"ok": True, "stats": {...}}
  -> {"op": "exit"}                                   (closes the model and exits)
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import time
import traceback
from typing import Any

from mustelid.config import Config, load_config
from mustelid.prompts import Prompts
from mustelid.tasks import JobError, JobInput, PermanentError, TransientError, WaitingError

log = logging.getLogger("mustelid.worker")


class WorkerContext:
    """Everything a task may use. Heavy things (backend, OCR engine) load on first use."""

    def __init__(self, config: Config, host: Any):
        self.config = config
        self.host = host
        self.prompts = Prompts(config.prompts_dir)
        self._backend: Any = None
        self._ocr_engine: Any = None
        self._ocr_cache: dict[str, list] = {}
        self._read_db: Any = None

    @property
    def backend(self) -> Any:
        if self._backend is None:
            name = self.config.model.backend
            factory = self.host.backends.get(name)
            if factory is None:
                raise WaitingError(
                    "backend_missing", f"no installed plugin provides model backend {name!r}"
                )
            self._backend = factory(self.config)
        return self._backend

    @property
    def backend_loaded(self) -> bool:
        return self._backend is not None

    def ocr(self, path: str) -> list:
        if path not in self._ocr_cache:
            if self._ocr_engine is None:
                name = self.config.ocr.engine
                factory = self.host.ocr_engines.get(name)
                if factory is None:
                    raise WaitingError("ocr_missing", f"no installed plugin provides OCR {name!r}")
                self._ocr_engine = factory()
            self._ocr_cache.clear()  # one image per job: keep memory flat
            self._ocr_cache[path] = self._ocr_engine.read(path)
        return self._ocr_cache[path]

    def load_image(self, path: str) -> Any:
        from mustelid.imaging import load_image

        return load_image(path)

    def read_db(self) -> Any:
        """A read-only view of the database, for tasks that summarise what is stored. The worker
        never writes: results go back to the daemon, which commits them."""
        if self._read_db is None:
            import sqlite3

            import sqlite_utils

            uri = f"file:{self.config.db_path}?mode=ro"
            self._read_db = sqlite_utils.Database(sqlite3.connect(uri, uri=True, timeout=15))
        return self._read_db

    def now(self) -> dt.datetime:
        return dt.datetime.now().astimezone()

    def close(self) -> None:
        if self._backend is not None:
            try:
                self._backend.close()
            finally:
                self._backend = None


def handle(ctx: WorkerContext, job: JobInput) -> dict[str, Any]:
    from mustelid.execute import run_job

    try:
        task = ctx.host.task(job.task)
        out = run_job(task, job, ctx)
        return {"ok": True, **out}
    except WaitingError as e:
        return _failure("waiting", e)
    except PermanentError as e:
        return _failure("permanent", e)
    except TransientError as e:
        return _failure("transient", e)
    except JobError as e:
        return _failure("transient", e)
    except MemoryError:
        return {"ok": False, "kind": "transient", "reason": "out_of_memory",
                "message": "the worker ran out of memory"}
    except Exception as e:
        # A bug in a plugin: retry (it might be transient), bounded by max_attempts.
        tb = traceback.format_exc(limit=6)
        return {"ok": False, "kind": "transient", "reason": "task_error",
                "message": f"{type(e).__name__}: {e}\n{tb}"}


def _failure(kind: str, e: JobError) -> dict[str, Any]:
    return {"ok": False, "kind": kind, "reason": e.reason, "message": e.message}


def memory_stats() -> dict[str, Any]:
    import psutil

    p = psutil.Process()
    info = p.memory_full_info() if hasattr(p, "memory_full_info") else p.memory_info()
    out = {"pid": os.getpid(), "rss_mb": round(info.rss / 2**20, 1)}
    for field in ("uss", "shared"):
        if hasattr(info, field):
            out[f"{field}_mb"] = round(getattr(info, field) / 2**20, 1)
    return out


def worker_main(conn: Any, config_path: str | None, env: dict[str, str]) -> None:
    """Entry point of the child process (multiprocessing 'spawn')."""
    # Ctrl-C in a terminal reaches the whole process group; the daemon decides how to stop us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.update(env)
    logging.basicConfig(level=os.environ.get("MUSTELID_LOG", "WARNING"))
    from pathlib import Path

    from mustelid.host import Host

    config = load_config(Path(config_path) if config_path else None)
    host = Host(config.plugins_path)
    ctx = WorkerContext(config, host)
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return  # the daemon is gone
            op = msg.get("op") if isinstance(msg, dict) else "exit"
            if op == "exit":
                return
            if op == "stats":
                conn.send({"ok": True, "stats": {**memory_stats(),
                                                 "model_loaded": ctx.backend_loaded}})
            elif op == "job":
                started = time.monotonic()
                reply = handle(ctx, JobInput(**msg["job"]))
                reply.setdefault("stats", {})
                reply["stats"]["worker_s"] = round(time.monotonic() - started, 3)
                reply["stats"]["worker"] = memory_stats()
                conn.send(reply)
            else:
                conn.send({"ok": False, "kind": "permanent", "reason": "bad_request",
                           "message": f"unknown op {op!r}"})
    finally:
        ctx.close()
