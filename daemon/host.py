"""The plugin host: loads plugins one at a time and collects what they register.

Built-ins and third-party plugins load the same way, from the ``mustelid`` entry-point group;
``*.py`` files in the plugins folder load too. pluggy's own ``load_setuptools_entrypoints``
aborts on the first broken plugin, so each one is imported inside its own try/except: a broken
plugin is reported (``mustelid plugins``) and skipped, never fatal.

Plugin code that must not block runs with a deadline (``mustelid.bounded``): each plugin's
import (``LOAD_DEADLINE``), and the hooks documented "must not block" (``DEADLINES``). A plugin
whose import misses it is reported and skipped; a hook that misses it is disabled for that
plugin, with the reason, for the life of the process, so a sleeping ``route_file`` cannot freeze
the daemon's loop or make SIGTERM wait.

``MUSTELID_LOAD_PLUGINS=name1,name2`` restricts loading to those names (empty = none).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pluggy

from mustelid import hookspecs
from mustelid.bounded import BoundedCaller, MissedDeadline
from mustelid.tasks import Task

log = logging.getLogger("mustelid.host")

GROUP = "mustelid"

LOAD_DEADLINE = 5.0          # seconds for one plugin's import: ours take well under one
# Hooks whose contract (hookspecs) says they must not block or must be cheap, and how long they
# get. They run on the host's helper thread; ``startup`` runs on the caller's thread, unbounded.
# The register_* hooks run in every command at load: one that hangs would hang them all.
DEADLINES = {"route_file": 2.0, "job_event": 2.0, "register_schedules": 5.0, "shutdown": 5.0,
             "register_tasks": LOAD_DEADLINE, "register_backends": LOAD_DEADLINE,
             "register_ocr_engines": LOAD_DEADLINE, "register_migrations": LOAD_DEADLINE,
             "register_commands": LOAD_DEADLINE, "register_mcp_tools": LOAD_DEADLINE}


@dataclass
class PluginInfo:
    name: str
    source: str                      # "entry point <dist>" or the file path
    module: Any = None
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


class Host:
    def __init__(self, plugins_dir: Path | None = None, load: bool = True):
        self.pm = pluggy.PluginManager(GROUP)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.plugins_dir = plugins_dir
        self._tasks: dict[str, Task] | None = None
        self._backends: dict[str, Callable] | None = None
        self._ocr: dict[str, Callable] | None = None
        self.load_deadline = LOAD_DEADLINE
        self.deadlines = dict(DEADLINES)
        self.disabled: dict[tuple[str, str], str] = {}    # (plugin, hook) -> why
        self._bounded = BoundedCaller("plugins")
        if load:
            self.load()

    # -- loading ------------------------------------------------------------------------------

    def allowed(self, name: str) -> bool:
        allow = os.environ.get("MUSTELID_LOAD_PLUGINS")
        if allow is None:
            return True
        return name in {n.strip() for n in allow.split(",") if n.strip()}

    def load(self) -> None:
        for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: e.name):
            if not self.allowed(ep.name) or ep.name in self.plugins:
                continue
            dist = ep.dist.name if ep.dist else "?"
            self._register(ep.name, f"entry point ({dist})", ep.load)
        if self.plugins_dir and self.plugins_dir.is_dir():
            for path in sorted(self.plugins_dir.glob("*.py")):
                if self.allowed(path.stem) and path.stem not in self.plugins:
                    self._register(path.stem, str(path), lambda p=path: _import_file(p))

    def register(self, module: Any, name: str) -> None:
        """Register an already imported plugin object (tests, and programs embedding mustelid)."""
        self._register(name, "registered in code", lambda: module)

    def _register(self, name: str, source: str, loader: Callable[[], Any]) -> None:
        info = PluginInfo(name=name, source=source)
        self.plugins[name] = info
        try:
            module = self._bounded.call(loader, self.load_deadline)
            self.pm.register(module, name=name)
        except MissedDeadline as e:
            info.error = f"its import {e}; skipped (a plugin must not block at import)"
            log.warning("plugin %s failed to load: %s", name, info.error)
            return
        except BaseException as e:  # noqa: BLE001  a plugin must never take the host down,
            # not even with sys.exit() or a KeyboardInterrupt raised at import (issue 13)
            info.error = f"{type(e).__name__}: {e}"
            log.warning("plugin %s failed to load: %s", name, info.error)
            return
        try:
            # check_pending catches a typo'd hook name that would otherwise never be called
            self.pm.check_pending()
        except pluggy.PluginValidationError as e:
            self.pm.unregister(name=name)
            info.error = f"invalid hook: {e}"
            log.warning("plugin %s rejected: %s", name, info.error)
            return
        info.module = module
        info.hooks = sorted(c.name for c in self.pm.get_hookcallers(module) or [])
        self._tasks = self._backends = self._ocr = None

    # -- calling ------------------------------------------------------------------------------

    def each(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call every implementation of ``hook`` separately, so one raising plugin only loses
        its own contribution (pluggy would abort the whole loop)."""
        results = []
        for impl in self._impls(hook):
            ok, value = self._call(hook, impl, kwargs)
            if ok:
                results.append(value)
        return results

    def first(self, hook: str, **kwargs: Any) -> Any:
        """firstresult semantics with the same isolation as ``each``."""
        for impl in self._impls(hook):
            ok, value = self._call(hook, impl, kwargs)
            if ok and value is not None:
                return value
        return None

    def _impls(self, hook: str) -> list[Any]:
        return [impl for impl in reversed(getattr(self.pm.hook, hook).get_hookimpls())
                if (impl.plugin_name, hook) not in self.disabled]

    def _call(self, hook: str, impl: Any, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        """(True, the implementation's value), or (False, None) when it raised or missed its
        deadline: logged, and kept as the plugin's error for ``mustelid plugins``."""
        def run() -> Any:
            return impl.function(**{a: kwargs[a] for a in impl.argnames})

        try:
            seconds = self.deadlines.get(hook)
            return True, (run() if seconds is None else self._bounded.call(run, seconds))
        except MissedDeadline as e:
            message = f"{hook} {e}; disabled (it must not block)"
            self.disabled[(impl.plugin_name, hook)] = message
        except BaseException as e:  # noqa: BLE001  (SystemExit from a hook too)
            message = f"{hook} raised {type(e).__name__}: {e}"
        info = self.plugins.get(impl.plugin_name)
        if info is not None and not info.error:
            info.error = message
        log.warning("plugin %s: %s", impl.plugin_name, message)
        return False, None

    # -- registries ---------------------------------------------------------------------------

    @property
    def tasks(self) -> dict[str, Task]:
        if self._tasks is None:
            self._tasks = {}

            def register(task: Any) -> None:
                if isinstance(task, type) and issubclass(task, Task):
                    task = task()
                if not isinstance(task, Task):
                    raise TypeError(f"register_tasks expects a mustelid.Task, got {task!r}")
                if task.name in self._tasks:
                    log.warning("task %s registered twice; keeping the first", task.name)
                    return
                self._tasks[task.name] = task

            self.each("register_tasks", register=register)
        return self._tasks

    @property
    def backends(self) -> dict[str, Callable]:
        if self._backends is None:
            self._backends = {}
            self.each("register_backends", register=self._backends.setdefault)
        return self._backends

    @property
    def ocr_engines(self) -> dict[str, Callable]:
        if self._ocr is None:
            self._ocr = {}
            self.each("register_ocr_engines", register=self._ocr.setdefault)
        return self._ocr

    def migrations(self) -> list[Any]:
        sets: list[Any] = []
        self.each("register_migrations", register=sets.append)
        return sets

    def task(self, name: str) -> Task:
        try:
            return self.tasks[name]
        except KeyError:
            from mustelid.tasks import PermanentError

            raise PermanentError("unknown_task", f"no installed plugin provides task {name!r}")

    def job_event(self, job: dict[str, Any], event: str) -> None:
        self.each("job_event", job=job, event=event)


def _import_file(path: Path) -> Any:
    name = f"mustelid_userplugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
