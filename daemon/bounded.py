"""Calls into plugin code that must not block, made with a deadline.

Python cannot stop a thread, so the bound is this: the call runs on a helper thread and the
caller waits at most ``seconds``. A call that misses its deadline is abandoned, its thread left
to finish (or hang) on its own, and the next call gets a fresh thread. The helper threads are
daemon threads, so an abandoned one never holds up the process's exit (``concurrent.futures``
joins its workers at exit, which would turn one hung plugin into a hung ``--help``).
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable


class MissedDeadline(Exception):
    """The call did not return within its deadline; it may still be running."""


class BoundedCaller:
    """Runs calls one at a time on a helper thread, waiting at most a deadline for each."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue | None = None

    def call(self, fn: Callable[[], Any], seconds: float) -> Any:
        """``fn()``'s value, or what it raised (``BaseException`` included: a ``SystemExit`` in a
        helper thread would otherwise vanish), or ``MissedDeadline`` after ``seconds``."""
        box: dict[str, Any] = {}
        done = threading.Event()
        with self._lock:
            if self._queue is None:
                self._queue = queue.SimpleQueue()
                threading.Thread(target=_serve, args=(self._queue,), daemon=True,
                                 name=f"mustelid-{self._name}").start()
            mine = self._queue
            mine.put((fn, box, done))
        if not done.wait(seconds):
            with self._lock:
                if self._queue is mine:
                    self._queue = None        # its thread is stuck in fn: abandon it
            raise MissedDeadline(f"did not return within {seconds:g} s")
        if "error" in box:
            raise box["error"]
        return box.get("value")


def _serve(calls: queue.SimpleQueue) -> None:
    while True:
        fn, box, done = calls.get()
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001  handed to the caller, who decides
            box["error"] = e
        finally:
            done.set()
