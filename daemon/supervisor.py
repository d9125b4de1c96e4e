"""Supervises the model worker process: start, hand over one job, wait, kill, restart.

The daemon's main loop calls ``poll`` with a short timeout, so it keeps heartbeating leases,
ingesting files and answering signals while a job runs. A worker that dies (segfault, abort,
OOM kill) or overruns the job timeout is reported as a transient failure; restarts back off
exponentially so a worker that crashes on start does not spin.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
from typing import Any

from mustelid.tasks import JobInput

log = logging.getLogger("mustelid.supervisor")

_ENV_KEYS = ("MUSTELID_HOME", "MUSTELID_MODELS_DIR", "MUSTELID_LOAD_PLUGINS", "MUSTELID_LOG")


class Supervisor:
    def __init__(self, config_path: str | None, monotonic=time.monotonic):
        self.config_path = config_path
        self.monotonic = monotonic
        self.ctx = multiprocessing.get_context("spawn")
        self.proc: Any = None
        self.conn: Any = None
        self.busy_since: float | None = None
        self.crashes = 0
        self.not_before = 0.0
        self.last_stats: dict[str, Any] = {}

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def can_start(self) -> bool:
        return self.alive or self.monotonic() >= self.not_before

    def start(self) -> None:
        if self.alive:
            return
        from mustelid.worker import worker_main

        parent, child = self.ctx.Pipe()
        env = {k: os.environ[k] for k in _ENV_KEYS if k in os.environ}
        self.proc = self.ctx.Process(
            target=worker_main, args=(child, self.config_path, env), name="mustelid-worker",
            daemon=True,
        )
        self.proc.start()
        child.close()
        self.conn = parent
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

    # -- jobs ---------------------------------------------------------------------------------

    def submit(self, job: JobInput) -> None:
        self.start()
        self.conn.send({"op": "job", "job": dataclasses.asdict(job)})
        self.busy_since = self.monotonic()

    def poll(self, timeout: float) -> dict[str, Any] | None:
        """The job's outcome, or None if it is still running."""
        try:
            ready = self.conn.poll(timeout)
        except (OSError, EOFError):
            ready = True
        if ready:
            try:
                reply = self.conn.recv()
            except (EOFError, OSError):
                return self._crashed()
            self.busy_since = None
            self.crashes = 0
            self.last_stats = reply.get("stats", {}).get("worker", self.last_stats)
            return reply
        if not self.alive:
            return self._crashed()
        return None

    def running_for(self) -> float:
        return 0.0 if self.busy_since is None else self.monotonic() - self.busy_since

    def abort(self, reason: str, message: str) -> dict[str, Any]:
        """Kill the worker mid-job (timeout, shutdown) and describe the failure."""
        self.kill()
        self._backoff()
        return {"ok": False, "kind": "transient", "reason": reason, "message": message}

    def _crashed(self) -> dict[str, Any]:
        code = self.proc.exitcode if self.proc is not None else None
        self.kill()
        self._backoff()
        detail = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return {"ok": False, "kind": "transient", "reason": "worker_crashed",
                "message": f"the model worker died ({detail})"}

    def _backoff(self) -> None:
        self.crashes += 1
        delay = min(60.0, 0.5 * 2 ** (self.crashes - 1))
        self.not_before = self.monotonic() + delay
        log.warning("model worker failure #%d; next start in %.1fs", self.crashes, delay)
