"""Supervises the model worker process: start, hand over one job, wait, kill, restart.

The daemon's main loop calls ``poll`` with a short timeout, so it keeps heartbeating leases,
ingesting files and answering signals while a job runs. A worker that dies (segfault, abort,
OOM kill) or overruns the job timeout is reported as a transient failure; restarts back off
exponentially so a worker that crashes on start does not spin.

It also keeps the model's memory tier (see mustelid.worker): ``tend_idle`` pages the weights
out after ``model.idle_release`` seconds without a job and stops the worker after
``model.idle_unload``; ``wake`` asks for a prewarm when a job is on its way; ``budget_problem``
says whether memory can hold the model before a job is handed over. Tier requests are sent
without waiting: the worker answers them in order, and ``poll``/``drain`` read the answers.

While a job runs the worker says which stage it is in (``reading``, ``ocr``, ``model``...);
``stage`` keeps the latest, with the job and since when, for the daemon to publish.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import multiprocessing
import os
import signal
import time
from multiprocessing import resource_tracker
from typing import Any

from mustelid import runtime
from mustelid.protocol import Failure, Reply, failure
from mustelid.tasks import JobInput
from mustelid.memory_cap import model_file_size
from mustelid.worker import worker_main

log = logging.getLogger("mustelid.supervisor")

_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
_ENV_KEYS = ("MUSTELID_HOME", "MUSTELID_MODELS_DIR", "MUSTELID_LOAD_PLUGINS", "MUSTELID_LOG")

# Anonymous memory a model worker needs besides the weights (interpreter, OCR, KV cache, compute
# buffers) before it has reported its own: measured ~250 MiB for the default model at n_ctx 4096.
ANON_ESTIMATE = 320 << 20


class Supervisor:
    def __init__(self, config_path: str | None, monotonic=time.monotonic, model: Any = None):
        self.config_path = config_path
        self.monotonic = monotonic
        self.model = model               # the [model] config section: idle tiers, prewarm, budget
        self.ctx = multiprocessing.get_context("spawn")
        self.proc: Any = None
        self.conn: Any = None
        self.busy_since: float | None = None
        self.crashes = 0
        self.not_before = 0.0
        self.last_stats: dict[str, Any] = {"tier": "unloaded"}
        self.pending: collections.deque[str] = collections.deque()  # ops sent, not yet answered
        self.idle_since = monotonic()
        self.footprint: int | None = None  # bytes the loaded model took, once seen
        # The running job's stage: {"job": id, "name": "model", "since": epoch seconds}.
        self.stage: dict[str, Any] | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def can_start(self) -> bool:
        return self.alive or self.monotonic() >= self.not_before

    def start(self) -> None:
        if self.alive:
            return
        parent, child = self.ctx.Pipe()
        env = {k: os.environ[k] for k in _ENV_KEYS if k in os.environ}
        self.proc = self.ctx.Process(
            target=worker_main, args=(child, self.config_path, env), name="mustelid-worker",
            daemon=True,
        )
        # A stop signal to the whole group while the child is still starting Python would kill
        # it before worker_main ignores such signals, and charge the job as crashed: the child
        # starts with them blocked (the mask survives fork and exec) and unblocks once ignoring.
        # Start multiprocessing's resource tracker first: launching it (on the first spawn)
        # blocks then *unblocks* these signals (bpo-33613), which would clear our mask.
        resource_tracker.ensure_running()
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            self.proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        child.close()
        self.conn = parent
        self.pending.clear()
        log.info("model worker started (pid %s)", self.proc.pid)

    def stop(self, grace: float = 3.0) -> None:
        """Ask the worker to exit (it closes the model), then make sure it is gone."""
        if self.proc is None:
            return
        try:
            if self.alive and self.busy_since is None:
                self.conn.send({"op": "exit"})
        except (OSError, BrokenPipeError):
            pass
        self.proc.join(grace)
        self.kill()

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None
        self.busy_since = None
        self.stage = None
        self.pending.clear()
        self.last_stats = {**self.last_stats, "tier": "unloaded"}
        for key in ("rss_mb", "rss_anon_mb", "rss_file_mb", "model_resident_mb",
                    "model_resident_pct", "uss_mb", "shared_mb"):
            self.last_stats.pop(key, None)

    # -- jobs ---------------------------------------------------------------------------------

    def submit(self, job: JobInput) -> None:
        self.start()
        self.conn.send({"op": "job", "job": dataclasses.asdict(job)})
        self.pending.append("job")
        self.busy_since = self.monotonic()
        self._set_stage(job.id, "starting", time.time())

    def poll(self, timeout: float) -> Reply | None:
        """The job's outcome, or None if it is still running. Answers to tier requests queued
        ahead of the job are taken in passing."""
        deadline = self.monotonic() + timeout
        while True:
            try:
                ready = self.conn.poll(max(0.0, deadline - self.monotonic()))
            except (OSError, EOFError):
                ready = True
            if not ready:
                return None if self.alive else self._crashed()
            try:
                reply = self.conn.recv()
            except (EOFError, OSError):
                return self._crashed()
            if self._take(reply) == "job":
                if self.stage is not None:   # the daemon writes the reply to the ledger next
                    self._set_stage(self.stage["job"], "committing", time.time())
                self.busy_since = None
                self.crashes = 0
                self.idle_since = self.monotonic()
                return reply

    def _take(self, reply: dict[str, Any]) -> str:
        op = reply.get("op", "job")
        if op == "stage":              # unasked, while a job runs: no request is answered
            if self.busy_since is not None and self.stage is not None:
                self._set_stage(self.stage["job"], str(reply.get("stage")),
                                float(reply.get("at") or time.time()))
            return op
        if self.pending:
            self.pending.popleft()
        stats = reply.get("stats", {})
        worker = stats.get("worker", stats) if op == "job" else stats
        if worker:
            self.last_stats = {k: v for k, v in worker.items() if k != "model_loaded"}
            if worker.get("tier") == "loaded" and worker.get("model_resident_pct", 0) >= 90:
                self.footprint = int(((worker.get("model_mb") or 0)
                                      + (worker.get("rss_anon_mb") or 0)) * 2**20)
        if not reply.get("ok") and op != "job":
            log.warning("model worker %s: %s", op, reply.get("message"))
        return op

    def drain(self) -> None:
        """Read answers to tier requests while no job runs."""
        if self.busy_since is not None or not self.alive:
            return
        try:
            while self.pending and self.conn.poll(0):
                self._take(self.conn.recv())
        except (EOFError, OSError):
            self.kill()
            self._backoff()

    def _request(self, op: str) -> None:
        try:
            self.conn.send({"op": op})
            self.pending.append(op)
        except (OSError, BrokenPipeError):
            pass

    def _set_stage(self, job_id: str, name: str, since: float) -> None:
        self.stage = {"job": job_id, "name": name, "since": since}

    def job_finished(self) -> None:
        """The daemon committed (or put back) the job: no stage to show any more."""
        self.stage = None

    @property
    def tier(self) -> str:
        return self.last_stats.get("tier", "unloaded") if self.alive else "unloaded"

    # -- memory tiers -------------------------------------------------------------------------

    def wake(self) -> None:
        """A job is on its way (file ingested, schedule about to fire): load the model or read
        its weights back now, overlapping the wait, instead of inside the job."""
        if self.model is None or not self.model.prewarm or self.busy_since is not None:
            return
        if "prewarm" in self.pending:
            return
        if not self.alive:
            if not self.can_start():
                return
            self.start()
        elif self.tier == "loaded":
            return
        self._request("prewarm")
        self.idle_since = self.monotonic()

    def tend_idle(self) -> None:
        """Between jobs: collect answers, then step the model down a tier if idle long enough."""
        self.drain()
        if self.model is None or self.busy_since is not None or not self.alive or self.pending:
            return
        idle = self.monotonic() - self.idle_since
        if self.model.idle_unload and idle >= self.model.idle_unload:
            log.info("model idle %.0fs: stopping the worker (tier 2)", idle)
            self.stop()
        elif self.model.idle_release and idle >= self.model.idle_release \
                and self.tier == "loaded" and self.last_stats.get("model_mb"):
            log.info("model idle %.0fs: paging the weights out (tier 1)", idle)
            self._request("release")

    def need_bytes(self) -> int:
        """Memory the next job will claim that the model does not hold now."""
        tier = self.tier
        if tier == "loaded":
            return 0
        if tier == "released":
            s = self.last_stats
            return int(((s.get("model_mb") or 0) - (s.get("model_resident_mb") or 0)) * 2**20)
        if self.footprint is not None:
            return self.footprint
        return model_file_size(self.model) + ANON_ESTIMATE

    def budget_problem(self, available: int | None = None) -> str | None:
        """None if memory can hold the model + KV + margin for the next job, else why not."""
        if self.model is None:
            return None
        if available is None:
            available = runtime.available_memory()["available"]
        return runtime.check_budget(self.need_bytes(), int(self.model.memory_margin_mb * 2**20),
                                    available)

    def running_for(self) -> float:
        return 0.0 if self.busy_since is None else self.monotonic() - self.busy_since

    def abort(self, reason: str, message: str) -> Failure:
        """Kill the worker mid-job (timeout, shutdown) and describe the failure."""
        self.kill()
        self._backoff()
        return failure("transient", reason, message)

    def _crashed(self) -> Failure:
        if self.proc is not None:
            self.proc.join(2)    # the pipe closes before the child is reaped: wait for its code
        code = self.proc.exitcode if self.proc is not None else None
        self.kill()
        self._backoff()
        detail = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return failure("transient", "worker_crashed", f"the model worker died ({detail})")

    def _backoff(self) -> None:
        self.crashes += 1
        delay = min(60.0, 0.5 * 2 ** (self.crashes - 1))
        self.not_before = self.monotonic() + delay
        log.warning("model worker failure #%d; next start in %.1fs", self.crashes, delay)

