"""The model worker: a child process that holds the model and runs tasks.

Why a separate process: an abort or segfault inside llama.cpp (or OCR, or a plugin) must kill
this child, not the daemon. The daemon keeps the ledger; the worker never touches the database.

Protocol over a multiprocessing Pipe. Requests are answered in order, and every reply names
its ``op``, so the daemon can queue a ``prewarm`` and a ``job`` back to back:
  -> {"op": "job", "job": {...JobInput fields...}}   <- {"ok": True, "data", "evidence", "stats"}
                                                      <- {"ok": False, "kind", "reason", "message"}
  -> {"op": "stats"}                                  <- {"ok": True, "stats": {...}}
  -> {"op": "release"}   tier 1: page the weights out  <- {"ok": True, "stats", "release": {...}}
  -> {"op": "prewarm"}   load or read the weights back <- {"ok": True, "stats", "prewarm": {...}}
  -> {"op": "exit"}                                   (closes the model and exits: tier 2)
During a job it also sends, unasked, ``{"op": "stage", "stage": "model", "at": t}`` at each
stage change (``WorkerContext.mark_stage``), shown by ``mustelid status``.

Memory tiers of the model, reported as ``stats["tier"]``: ``unloaded`` (no backend yet),
``loaded`` (weights resident), ``released`` (weights paged out to their file, the model object
kept). A backend takes part in the tiers through optional methods: ``release()``,
``prewarm()`` and ``memory()`` (see plugins/llama_cpp/backend.py); a backend without them (a remote
server) simply stays ``loaded``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

from mustelid import runtime
from mustelid.backend import BackendContext
from mustelid.config import Config, load_config
from mustelid.execute import run_job
from mustelid.memory_cap import apply_memory_cap
from mustelid.prompts import Prompts
from mustelid.protocol import Failure, Reply, failure
from mustelid.tasks import JobError, JobInput, PermanentError, TransientError, WaitingError

log = logging.getLogger("mustelid.worker")

_cap: int | None = None    # this worker's address-space cap in bytes, once set (see memory_cap)


class WorkerContext:
    """Everything a task may use. Heavy things (backend, OCR engine) load on first use."""

    def __init__(self, config: Config, host: Any):
        config.model.small_heap and runtime.keep_heap_small()   # before anything allocates (P7)
        self.config = config
        self.host = host
        self.prompts = Prompts(config.prompts_dir)
        self._backend: Any = None
        self._ocr_engine: Any = None
        self._ocr_cache: dict[str, list] = {}
        self._document: tuple[str, Any] | None = None   # (path, mustelid.documents.Document)
        self._image: tuple[tuple, Any] | None = None     # ((path, mtime, size), Pillow image)
        self._read_db: Any = None
        self.tier = "unloaded"
        self.last_release: dict[str, Any] = {}
        self.last_prewarm: dict[str, Any] = {}
        self.last_step_back: dict[str, Any] = {}
        self._prewarming: threading.Thread | None = None
        # Told each stage of the running job (the worker sends it to the daemon); None outside
        # the worker process (mustelid.testing, eval), where nobody is watching.
        self.on_stage: Callable[[str], None] | None = None
        self.stage: str | None = None

    def mark_stage(self, stage: str | None) -> None:
        """Say what the job is doing now, in words a user knows (``reading``, ``ocr``,
        ``model``, ``checking``...). The host marks the steps it runs itself; a task may mark a
        long step of its own the same way, but need not."""
        if stage == self.stage:
            return
        self.stage = stage
        if self.on_stage is not None and stage is not None:
            try:
                self.on_stage(stage)
            except (OSError, ValueError):   # the daemon is gone: only the display loses
                pass

    @contextlib.contextmanager
    def staged(self, stage: str) -> Iterator[None]:
        """``stage`` for the block, then back to the stage it interrupted (OCR called from
        ``prepare`` returns to ``reading``)."""
        before = self.stage
        self.mark_stage(stage)
        try:
            yield
        finally:
            self.mark_stage(before)

    @property
    def backend(self) -> Any:
        if self._prewarming is not None:
            with self.staged("loading model"):
                self._prewarming.join()  # started at job start: it overlapped prepare (OCR)
            self._prewarming = None
        if self._backend is None:
            name = self.config.model.backend
            factory = self.host.backends.get(name)
            if factory is None:
                raise WaitingError(
                    "backend_missing", f"no installed plugin provides model backend {name!r}"
                )
            with self.staged("loading model"):
                self._backend = factory(BackendContext.from_config(self.config, name))
            self.tier = "loaded"
        return self._backend

    # -- memory tiers ---------------------------------------------------------------------------

    def release(self) -> dict[str, Any]:
        """Tier 1: the backend gives its weights back to the page cache, keeping the model."""
        release = getattr(self._backend, "release", None)
        if self._backend is None or release is None or self.tier != "loaded":
            return {"released": False, "tier": self.tier}
        self.last_release = release()
        if self.last_release.get("released"):
            self.tier = "released"
        return self.last_release

    def prewarm(self) -> dict[str, Any]:
        """Get the model ready for a job that is on its way: load it, or read it back in."""
        if self._backend is None:
            started = time.perf_counter()
            self.backend  # noqa: B018  (loading reads the whole file: it is the prewarm)
            self.last_prewarm = {"loaded": True, "seconds": round(time.perf_counter() - started, 3)}
        elif self.tier == "released":
            prewarm = getattr(self._backend, "prewarm", None)
            self.last_prewarm = prewarm() if prewarm is not None else {}
            self.tier = "loaded"
        return self.last_prewarm

    def prewarm_in_background(self) -> None:
        """At job start with the weights paged out: read them back while ``prepare`` runs OCR,
        instead of taking page faults inside the first matrix multiplications."""
        if self.tier != "released" or self._prewarming is not None:
            return
        self.tier = "loaded"  # the thread's reads make it so before the backend is handed out
        backend = self._backend

        def run() -> None:
            try:
                self.last_prewarm = backend.prewarm()
            except Exception as e:  # a failed prewarm only costs page faults later
                log.warning("prewarm failed: %s", e)

        self._prewarming = threading.Thread(target=run, name="mustelid-prewarm", daemon=True)
        self._prewarming.start()

    def memory(self) -> dict[str, Any]:
        from mustelid import runtime

        out: dict[str, Any] = {"tier": self.tier}
        split = runtime.rss_split()
        if split:
            out.update(rss_anon_mb=runtime.mb(split["anon"]), rss_file_mb=runtime.mb(split["file"]))
        memory = getattr(self._backend, "memory", None)
        if memory is not None and self._prewarming is None:
            facts = memory()
            model, resident = facts.get("model_bytes", 0), facts.get("model_resident_bytes", 0)
            out.update(model_mb=runtime.mb(model), model_resident_mb=runtime.mb(resident),
                       model_resident_pct=round(100 * resident / model, 1) if model else None,
                       n_ctx=facts.get("n_ctx"))
        out["major_faults_total"] = runtime.major_faults()
        if self.last_release:
            out["last_release"] = self.last_release
        if self.last_prewarm:
            out["last_prewarm"] = self.last_prewarm
        return out

    @property
    def backend_loaded(self) -> bool:
        return self._backend is not None

    def ocr(self, path: str) -> list:
        if path not in self._ocr_cache:
            document = self._document_of(path)
            with self.staged("ocr"), self._model_aside():
                lines = (self._engine().read(path) if document is None
                         else document.read_text(self._engine, self.config.data_dir / "tmp"))
            self._ocr_cache.clear()  # one image per job: keep memory flat
            self._ocr_cache[path] = lines
        return self._ocr_cache[path]

    @contextlib.contextmanager
    def _model_aside(self) -> Iterator[None]:
        """OCR and the model are the worker's two big users of memory and never run at once:
        while OCR runs, the loaded weights leave the worker's RSS (they stay in the page cache)
        and are mapped back in one call after it (and after OCR's freed heap is returned), so
        the worker's peak is the larger of the two, not their sum ([model] ocr_aside;
        docs/BENCHMARKS.md, P7)."""
        backend = self._backend
        aside = getattr(backend, "step_aside", None)
        if not self.config.model.ocr_aside:
            yield
            return
        stepped = aside is not None and self.tier == "loaded" and self._prewarming is None
        if stepped:
            aside()
        try:
            yield
        finally:
            # OCR's buffers are freed but glibc keeps their pages: give them back first, or
            # the weights come back (or, on a job's first OCR, load) on top of them.
            runtime.trim_heap()
            if stepped:
                self.last_step_back = backend.step_back()

    def _engine(self) -> Any:
        if self._ocr_engine is None:
            name = self.config.ocr.engine
            factory = self.host.ocr_engines.get(name)
            if factory is None:
                raise WaitingError("ocr_missing", f"no installed plugin provides OCR {name!r}")
            self._ocr_engine = factory()
        return self._ocr_engine

    def load_image(self, path: str) -> Any:
        """Decoded once per job: from the inbox root the router and each task it asks load the
        same picture (five decodes of a screen, 2-21 ms each, became one). Shared, so read-only;
        a file changed since (another mtime or size) is decoded again."""
        document = self._document_of(path)
        if document is not None:
            return document.image       # a PDF's, HEIC's or TIFF's pages, one below the other
        from mustelid.imaging import load_image

        try:
            info = os.stat(path)
        except OSError:
            return load_image(path)     # its own clear error for a file that is gone
        key = (path, info.st_mtime_ns, info.st_size)
        if self._image is None or self._image[0] != key:
            self._image = None          # the last job's picture goes before this one is decoded
            self._image = (key, load_image(path))
        return self._image[1]

    def _document_of(self, path: str) -> Any:
        """The pages of a PDF, HEIC or multi-page TIFF (``mustelid.documents``), decoded once
        per job; None for the image types the OCR engine reads as they are."""
        from mustelid import documents

        if self._document is None or self._document[0] != path:
            mime = documents.paged_type(path)
            self._document = (path, documents.open_document(path, mime) if mime else None)
        return self._document[1]

    def forget_document(self) -> None:
        """At the end of a job: a document's pages can be a few hundred MB of pixels."""
        self._document = None
        self._image = None

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


def handle(ctx: WorkerContext, job: JobInput) -> Reply:
    """Run one job and describe how it ended (see ``mustelid.protocol``); never raises."""
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
        cap = f" (its cap: {_cap >> 20} MiB, jobs.worker_memory_mb)" if _cap else ""
        return failure("transient", "out_of_memory", f"the worker ran out of memory{cap}")
    except Exception as e:
        # A bug in a plugin: retry (it might be transient), bounded by max_attempts.
        tb = traceback.format_exc(limit=6)
        return failure("transient", "task_error", f"{type(e).__name__}: {e}\n{tb}")


def _failure(kind: str, e: JobError) -> Failure:
    review = getattr(e, "review", None)   # execute.NeedsReview: the answer goes to a person
    if review is not None:
        return {"ok": False, "kind": "review", "reason": e.reason, "message": e.message,
                "review": review}
    return failure(kind, e.reason, e.message)


def memory_stats(ctx: WorkerContext | None = None) -> dict[str, Any]:
    import psutil

    p = psutil.Process()
    info = p.memory_full_info() if hasattr(p, "memory_full_info") else p.memory_info()
    out = {"pid": os.getpid(), "rss_mb": round(info.rss / 2**20, 1)}
    for field in ("uss", "shared"):
        if hasattr(info, field):
            out[f"{field}_mb"] = round(getattr(info, field) / 2**20, 1)
    if ctx is not None:
        out.update(ctx.memory())
    return out


def run_one(ctx: WorkerContext, job: JobInput) -> dict[str, Any]:
    """A job with its costs: wall time, major faults (disk reads of paged-out weights), and the
    backend's prefill/decode split when it reports one."""
    if ctx.config.model.prewarm:
        ctx.prewarm_in_background()
    started, faults = time.monotonic(), runtime.major_faults()
    reply = handle(ctx, job)
    ctx.mark_stage(None)
    ctx.forget_document()
    runtime.trim_heap()   # the job's images and OCR tensors are gone: give their pages back
    if ctx._prewarming is not None:  # the job ended before it needed the model (e.g. bad file)
        ctx._prewarming.join()
        ctx._prewarming = None
    if ctx.tier == "released" and ctx.backend_loaded:
        ctx.tier = "loaded"  # the generation faulted the weights back in
    stats = reply.setdefault("stats", {})
    stats["worker_s"] = round(time.monotonic() - started, 3)
    stats["major_faults"] = runtime.major_faults() - faults
    perf = getattr(ctx._backend, "last_perf", None)
    if perf:
        stats["perf"] = perf  # the last generation's prefill/decode split
    stats["worker"] = {**memory_stats(ctx), "major_faults_last_job": stats["major_faults"]}
    return reply


def worker_main(conn: Any, config_path: str | None, env: dict[str, str]) -> None:
    """Entry point of the child process (multiprocessing 'spawn')."""
    # Ctrl-C in a terminal, and `systemctl stop` (SIGTERM to every process of the unit), reach
    # the whole process group: the daemon decides how to stop us. Dying here first would count
    # the running job as crashed; the daemon puts it back uncharged and kills us with SIGKILL.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})  # see start()
    os.environ.update(env)
    logging.basicConfig(level=os.environ.get("MUSTELID_LOG", "WARNING"))
    from mustelid.host import Host

    config = load_config(Path(config_path) if config_path else None)
    global _cap
    _cap = apply_memory_cap(config)
    host = Host(config.plugins_path)
    ctx = WorkerContext(config, host)
    ctx.on_stage = lambda stage: conn.send({"op": "stage", "stage": stage, "at": time.time()})
    try:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                return  # the daemon is gone
            op = msg.get("op") if isinstance(msg, dict) else "exit"
            if op == "exit":
                return
            if op == "job":
                reply = run_one(ctx, JobInput(**msg["job"]))
            elif op in ("release", "prewarm"):
                reply = tier_op(ctx, op)
            elif op == "stats":
                reply = {"ok": True}
            else:
                reply = {"ok": False, "kind": "permanent", "reason": "bad_request",
                         "message": f"unknown op {op!r}"}
            if op != "job":
                reply["stats"] = {**memory_stats(ctx), "model_loaded": ctx.backend_loaded}
            conn.send({**reply, "op": op})
    finally:
        ctx.close()


def tier_op(ctx: WorkerContext, op: str) -> dict[str, Any]:
    try:
        return {"ok": True, op: ctx.release() if op == "release" else ctx.prewarm()}
    except JobError as e:  # e.g. the model is missing: the job that follows will say so too
        return _failure("waiting", e)
    except Exception as e:
        log.warning("%s failed: %s", op, e)
        return {"ok": False, "kind": "transient", "reason": f"{op}_failed", "message": str(e)}
