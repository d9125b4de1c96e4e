"""Testing a task without the daemon: ``mustelid.testing``.

A plugin author's test should run the same code the daemon runs, minus the plumbing (inbox,
ledger loop, worker process). So ``TaskRunner`` builds a real ``Host`` (every installed plugin,
plus the author's modules registered in code), a real ``WorkerContext`` (the configured backend
and OCR engine, loaded on first use) and calls ``mustelid.execute.run_job``, the function the
model worker calls. ``persist`` then takes a result through the real ingest, migrations and
the daemon's own commit (``mustelid.commit.commit``) into a SQLite file.

The helpers live beside this module (``testing_home``: the temp home and the real model;
``testing_fakes``: the stand-ins); this is the one import path, with the names in ``__all__``.

Everything happens under a throw-away ``MUSTELID_HOME``; the models folder stays shared
(``MUSTELID_MODELS_DIR``), so the real model is found without being copied. ``FakeBackend`` and
``FakeOcr`` stand in for the model and the OCR engine in fast tests; they are registered as an
ordinary plugin, so even then the host looks them up by name like any backend.

    from mustelid.testing import TaskRunner, FakeBackend

    def test_reads_the_card():
        with TaskRunner([my_plugin]) as runner:            # real model, real OCR
            run = runner.run("cards", Path("samples/card.png"))
        assert run.result.email == "a@b.example"
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable

from pydantic import BaseModel
from ulid import ULID

from mustelid.archive import sniff
from mustelid.commit import commit
from mustelid.config import load_config
from mustelid.execute import run_job
from mustelid.host import Host
from mustelid.ingest import ingest
from mustelid.ocr import OcrLine
from mustelid.store import Ledger, migrate, open_db
from mustelid.tasks import JobInput, Task
from mustelid.testing_fakes import FAKE, FakeBackend, FakeOcr, FakesPlugin, OneTaskPlugin
from mustelid.testing_home import requires_model, temp_home, write_config  # noqa: F401
from mustelid.worker import WorkerContext

OWNER = "mustelid.testing"

__all__ = [
    "FakeBackend",
    "FakeOcr",
    "PluginLoadError",
    "TaskRun",
    "TaskRunner",
    "persist_into_temp_db",
    "requires_model",
    "run_task",
    "schema_problems",
    "temp_home",
]


class PluginLoadError(Exception):
    """A plugin handed to ``TaskRunner`` failed to load (import error, misspelled hook)."""


# -- the schema's bounds -----------------------------------------------------------------------

_CHAR_CLASS = re.compile(r"\[(?:\\.|[^\]])*\]")
_UNBOUNDED_REPEAT = re.compile(r"[*+]|\{\d+,\}")
_ESCAPE = re.compile(r"\\[dDwWsSbB.\-\[\](){}+*?^$|/]")


def schema_problems(schema: dict[str, Any]) -> list[str]:
    """What in a task's JSON schema lets a small model run away, one ``path: problem`` a line.

    A grammar only stops a weak model from looping if every string has ``maxLength`` (or an
    ``enum``, or a ``pattern`` whose repeats are all bounded) and every array ``maxItems``; and
    llama.cpp's grammar parser rejects regex escapes such as ``\\d`` or ``\\.`` in a pattern
    (write ``[0-9]``, ``[.]``). Use it on ``Output.model_json_schema()`` and on what
    ``schema(evidence)`` returns: ``assert schema_problems(schema) == []``.
    """
    defs = schema.get("$defs", {})
    problems: list[str] = []

    def visit(node: Any, path: str, seen: frozenset[str]) -> None:
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.rsplit("/", 1)[1]
            if name not in seen:
                visit(defs.get(name, {}), path, seen | {name})
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []):
                visit(option, path, seen)
        if "enum" in node or "const" in node:
            return
        kind = node.get("type")
        kinds = kind if isinstance(kind, list) else [kind]
        if "string" in kinds:
            pattern = node.get("pattern")
            if pattern is not None and _ESCAPE.search(pattern):
                problems.append(f"{path}: pattern {pattern!r} has a regex escape; use [0-9], [.]")
            bounded_pattern = pattern is not None and not _UNBOUNDED_REPEAT.search(
                _CHAR_CLASS.sub("", pattern))
            if "maxLength" not in node and not bounded_pattern:
                problems.append(f"{path}: string without maxLength")
        if "array" in kinds:
            if "maxItems" not in node:
                problems.append(f"{path}: array without maxItems")
            visit(node.get("items", {}), f"{path}[]", seen)
        if "object" in kinds or "properties" in node:
            for name, sub in node.get("properties", {}).items():
                visit(sub, f"{path}.{name}" if path else name, seen)
            extra = node.get("additionalProperties")
            if isinstance(extra, dict):
                problems.append(f"{path or '(root)'}: object with open-ended keys")

    visit(schema, "", frozenset())
    return problems


# -- running a task ----------------------------------------------------------------------------


@dataclasses.dataclass
class TaskRun:
    """One task run. ``result`` is the validated pydantic object the daemon would persist (rebuilt
    from the JSON ``data``, exactly as the daemon receives it from the worker)."""

    task: Task
    result: BaseModel
    data: dict[str, Any]
    evidence: dict[str, Any]       # what ``prepare`` stored (OCR lines, boxes, candidates...)
    stats: dict[str, Any]          # tokens, generations, whether it re-asked, durations
    job: JobInput


class TaskRunner:
    """A host, a worker context and a temp home, for running and persisting tasks in tests.

    ``plugins``: modules (or objects) with ``@hookimpl`` functions, registered in code; installed
    plugins load too, as in the daemon (an installed copy of the same module is not registered
    twice). ``backend`` / ``ocr``: a ``FakeBackend`` / ``FakeOcr`` (or a list of lines) instead of
    the configured ones. ``config``: config.toml content as a dict or TOML text. ``home``: use
    this folder (kept) instead of a fresh temp dir (removed on ``close``). ``now``: freeze
    ``ctx.now()`` for tasks that compare dates with today.
    """

    def __init__(self, plugins: Iterable[Any] = (), *, backend: Any = None,
                 ocr: FakeOcr | Iterable[str | OcrLine] | None = None,
                 config: dict[str, Any] | str | None = None,
                 home: str | os.PathLike[str] | None = None, now: dt.datetime | None = None):
        if ocr is not None and not isinstance(ocr, FakeOcr) and not hasattr(ocr, "read"):
            ocr = FakeOcr(ocr)
        self._inputs = 0
        self._home = temp_home(home, config=config)
        self.home = self._home.__enter__()
        try:
            self.config = load_config()
            self.host = Host(self.config.plugins_path)
            for plugin in plugins:
                self._add_plugin(plugin)
            if backend is not None or ocr is not None:
                self.host.register(FakesPlugin(backend, ocr), FAKE)
                if backend is not None:
                    self.config.model.backend = FAKE
                if ocr is not None:
                    self.config.ocr.engine = FAKE
            self.ctx = WorkerContext(self.config, self.host)
            if now is not None:
                self.ctx.now = lambda: now
        except BaseException:
            self._home.__exit__(None, None, None)
            raise

    # -- set-up --------------------------------------------------------------------------------

    def _add_plugin(self, plugin: Any) -> None:
        if self.host.pm.is_registered(plugin):
            return  # the installed entry point is this very module
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        while name in self.host.plugins:
            name += "_"
        # Registered last, so its hooks run first (pluggy is LIFO): its tasks win over an
        # installed copy of the same plugin, and the code under test is what runs.
        self.host.register(plugin, name)
        error = self.host.plugins[name].error
        if error:
            raise PluginLoadError(f"plugin {name} did not load: {error}")

    def task(self, task_or_name: Task | type[Task] | str) -> Task:
        """The task by name, or the given Task (class or instance), made known to the host."""
        if isinstance(task_or_name, str):
            if task_or_name not in self.host.tasks:
                # A register_tasks hook that raised is the usual cause: say which and why.
                errors = [f"{p.name}: {p.error}" for p in self.host.plugins.values() if p.error]
                raise KeyError(f"no task {task_or_name!r}; loaded: {sorted(self.host.tasks)}"
                               + "".join(f"; {e}" for e in errors))
            return self.host.tasks[task_or_name]
        task = task_or_name() if isinstance(task_or_name, type) else task_or_name
        if task.name not in self.host.tasks:
            self.host.register(OneTaskPlugin(task), f"task:{task.name}")
        return task

    # -- running -------------------------------------------------------------------------------

    def run(self, task_or_name: Task | type[Task] | str, source: Any = None, *,
            params: dict[str, Any] | None = None) -> TaskRun:
        """Run one job through ``mustelid.execute.run_job``: prepare, render, generate (with the
        grammar), validate, check, one re-ask. Job errors (``PermanentError`` ...) propagate.

        ``source``: a ``Path`` (or a ``str`` naming an existing file) is the input file; any other
        ``str`` or ``bytes`` is written to a file first; ``None`` for tasks without a file.
        """
        task = self.task(task_or_name)
        job = self._job_input(task, self._input_path(source), params)
        out = run_job(task, job, self.ctx)
        result = task.Output.model_validate(out["data"])
        return TaskRun(task, result, out["data"], out["evidence"], out["stats"], job)

    def _input_path(self, source: Any) -> Path | None:
        if source is None:
            return None
        if isinstance(source, os.PathLike) or (
                isinstance(source, str) and "\n" not in source and os.path.isfile(source)):
            path = Path(source)
            if not path.is_file():
                raise FileNotFoundError(path)
            return path.resolve()
        data = source.encode("utf-8") if isinstance(source, str) else bytes(source)
        self._inputs += 1
        suffix = "txt" if isinstance(source, str) else "bin"
        path = self.home / "inputs" / f"input-{self._inputs}.{suffix}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path

    def _job_input(self, task: Task, path: Path | None,
                   params: dict[str, Any] | None) -> JobInput:
        mime = None
        if path is not None:
            with open(path, "rb") as f:
                mime = sniff(f.read(8192))
        return JobInput(id=str(ULID()), task=task.name, path=str(path) if path else None,
                        params=dict(params or {}), original_name=path.name if path else None,
                        mime=mime, seen_at=self.ctx.now().isoformat())

    # -- persisting ----------------------------------------------------------------------------

    def persist(self, run: TaskRun) -> Any:
        """Commit ``run`` as the daemon does and return the sqlite-utils ``Database``.

        Applies every plugin's migrations (a failing set raises), ingests the input file (archive
        copy, ``files`` row, job row), claims the job and commits the answer through the daemon's
        own ``mustelid.commit.commit``: validated again, then the result and ``task.persist`` in
        one transaction. A ``persist`` that raises is raised here (``PersistFailed``, caused by
        the plugin's exception). The same file and task persist once (the idempotency key): a
        second call returns the database unchanged.
        """
        task = run.task
        self.task(task)
        db = open_db(self.config.db_path)
        errors = migrate(db, self.host.migrations())
        if errors:
            raise RuntimeError("; ".join(errors))
        ledger = Ledger(db)
        job_id, created = self._enqueue(ledger, run)
        if not created and ledger.get(job_id)["state"] == "done":
            return db
        claimed = ledger.claim(OWNER, 600, tasks=[task.name])
        if claimed is None or claimed["id"] != job_id:
            raise RuntimeError(f"could not claim job {job_id} (another job of {task.name} is "
                               "queued in this home)")
        # What crosses the process boundary in the daemon: the answer as JSON.
        reply = {"ok": True, "data": run.result.model_dump(mode="json"),
                 "evidence": run.evidence, "stats": run.stats}
        outcome = commit(ledger, task, claimed, reply)
        if outcome.error is not None:
            raise outcome.error
        if outcome.state != "done":
            raise RuntimeError(f"not committed: {outcome.reason}: {outcome.message}")
        return db

    def _enqueue(self, ledger: Ledger, run: TaskRun) -> tuple[str, bool]:
        """The run's job: ingested with its input file, or enqueued without one."""
        task = run.task
        if not run.job.path:
            return ledger.enqueue(
                task.name, idempotency_key=f"{OWNER}:{run.job.id}", task_version=task.version,
                params=run.job.params)
        path = Path(run.job.path)
        ingested = ingest(path, relpath=path.name, config=self.config, host=self.host,
                          ledger=ledger, tasks=[task.name])
        if ingested.refused:
            raise RuntimeError(f"ingest refused {path}: {ingested.refused} ({ingested.message})")
        return ingested.jobs[0]

    # -- lifetime ------------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.ctx.close()       # frees the model (Llama.close)
        finally:
            self._home.__exit__(None, None, None)

    def __enter__(self) -> TaskRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_task(task_or_name: Task | type[Task] | str, source: Any = None, *,
             plugins: Iterable[Any] = (), config_overrides: dict[str, Any] | str | None = None,
             backend: Any = None, ocr: Any = None, params: dict[str, Any] | None = None,
             now: dt.datetime | None = None) -> BaseModel:
    """Run one task once in a fresh temp home and return its validated result (the pydantic
    model). For evidence and stats, or several runs on one loaded model, use ``TaskRunner``."""
    with TaskRunner(plugins, backend=backend, ocr=ocr, config=config_overrides, now=now) as r:
        return r.run(task_or_name, source, params=params).result


def persist_into_temp_db(task_or_name: Task | type[Task] | str, result: BaseModel, *,
                         plugins: Iterable[Any] = (), source: Any = None,
                         evidence: dict[str, Any] | None = None,
                         home: str | os.PathLike[str] | None = None) -> Any:
    """Migrate a new database and persist ``result`` into it as the daemon would; return the
    sqlite-utils ``Database`` to inspect (``db["contacts"].rows``). ``source``: the input file
    the job came from (ingested for real, so ``job["input_sha256"]`` is set). ``home`` defaults
    to a new temp dir that is kept, like pytest's ``tmp_path``; pass ``tmp_path`` to tidy up."""
    home = home or tempfile.mkdtemp(prefix="mustelid-test-")
    with TaskRunner(plugins, home=home) as runner:
        task = runner.task(task_or_name)
        job = runner._job_input(task, runner._input_path(source), None)
        run = TaskRun(task, result, result.model_dump(mode="json"), evidence or {}, {}, job)
        return runner.persist(run)
