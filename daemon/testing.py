"""Testing a task without the daemon: ``mustelid.testing``.

A plugin author's test should run the same code the daemon runs, minus the plumbing (inbox,
ledger loop, worker process). So ``TaskRunner`` builds a real ``Host`` (every installed plugin,
plus the author's modules registered in code), a real ``WorkerContext`` (the configured backend
and OCR engine, loaded on first use) and calls ``mustelid.execute.run_job``, the function the
model worker calls. ``persist`` then takes a result through the real ingest, migrations and
``Ledger.complete`` into a SQLite file, as the daemon would commit it.

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

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from pydantic import BaseModel

from mustelid import hookimpl
from mustelid.ocr import OcrLine
from mustelid.tasks import Generation, JobInput, Task

FAKE = "testing-fake"     # the name the fakes register under, as backend and as OCR engine
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


# -- a home of its own -------------------------------------------------------------------------


@contextlib.contextmanager
def temp_home(path: str | os.PathLike[str] | None = None, *,
              config: dict[str, Any] | str | None = None) -> Iterator[Path]:
    """Point ``MUSTELID_HOME`` at ``path`` (default: a new temp dir, removed afterwards) for the
    duration, and write ``config`` (a dict or TOML text) as its config.toml.

    The models folder keeps pointing where it pointed before (``MUSTELID_MODELS_DIR``), so a model
    pulled once serves every test home. The environment is restored on exit.
    """
    from mustelid.config import Config, home_from_env

    shared_models = os.environ.get("MUSTELID_MODELS_DIR") or str(
        Config(home=home_from_env()).models_dir)
    saved = {k: os.environ.get(k) for k in ("MUSTELID_HOME", "MUSTELID_MODELS_DIR")}
    owned = path is None
    home = Path(tempfile.mkdtemp(prefix="mustelid-test-") if owned else path).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if config is not None:
        write_config(home, config)
    os.environ["MUSTELID_HOME"] = str(home)
    os.environ["MUSTELID_MODELS_DIR"] = shared_models
    try:
        yield home
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if owned:
            shutil.rmtree(home, ignore_errors=True)


def write_config(home: Path, config: dict[str, Any] | str) -> Path:
    """Write config.toml into ``home``; it is validated by the real loader when read."""
    if isinstance(config, dict):
        import tomli_w

        config = tomli_w.dumps(config)
    path = home / "config.toml"
    path.write_text(config, encoding="utf-8")
    return path


def requires_model() -> Path:
    """The verified default (or configured) model, or skip the calling test when it is missing.

    With ``MUSTELID_REQUIRE_REAL=1`` (CI) a missing model fails the test instead: tests with the
    real model are the ones that prove a task works.
    """
    import pytest

    from mustelid.config import load_config
    from mustelid.models import resolve_model
    from mustelid.tasks import WaitingError

    try:
        return resolve_model(load_config())
    except WaitingError as e:
        message = f"{e.message} (the real model is needed: run `mustelid models pull`)"
        if os.environ.get("MUSTELID_REQUIRE_REAL"):
            pytest.fail(message)
        pytest.skip(message)


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


# -- stand-ins for the model and the OCR engine ------------------------------------------------

Reply = str | dict | BaseModel | Generation | Callable[[list, dict], Any]


@dataclasses.dataclass
class Call:
    messages: list[dict[str, str]]
    schema: dict[str, Any]
    max_tokens: int


class FakeBackend:
    """A backend that answers with the JSON you give it, one reply per generation.

    Each reply is a dict, a pydantic model, raw text (to test invalid JSON), a ``Generation`` (to
    test truncation: ``finish_reason="length"``) or ``callable(messages, schema)`` returning one
    of those. The last reply repeats, so a single reply also answers the host's re-ask.
    ``calls`` records what the task sent: the rendered messages and the schema.
    """

    def __init__(self, *replies: Reply, model_id: str = "fake-model"):
        if not replies:
            raise ValueError("FakeBackend needs at least one reply")
        self.replies = list(replies)
        self.model_id = model_id
        self.calls: list[Call] = []
        self.closed = False

    def generate(self, messages: list[dict[str, str]], schema: dict[str, Any],
                 max_tokens: int) -> Generation:
        self.calls.append(Call(messages, schema, max_tokens))
        reply = self.replies[min(len(self.calls), len(self.replies)) - 1]
        if callable(reply):
            reply = reply(messages, schema)
        if isinstance(reply, Generation):
            return reply
        if isinstance(reply, BaseModel):
            text = reply.model_dump_json()
        elif isinstance(reply, str):
            text = reply
        else:
            text = json.dumps(reply)
        prompt_words = sum(len(m.get("content", "").split()) for m in messages)
        return Generation(text, "stop", prompt_tokens=prompt_words,
                          completion_tokens=len(text.split()), model_id=self.model_id)

    def close(self) -> None:
        self.closed = True


class FakeOcr:
    """An OCR engine that "reads" the given lines from any file. Plain strings get stacked boxes
    (one 40-pixel row each); pass ``mustelid.ocr.OcrLine`` objects to control the boxes."""

    def __init__(self, lines: Iterable[str | OcrLine]):
        self.lines = [
            line if isinstance(line, OcrLine)
            else OcrLine(line, (10, 10 + 40 * i, 10 + 12 * max(1, len(line)), 40 + 40 * i))
            for i, line in enumerate(lines)
        ]
        self.paths: list[str] = []

    def read(self, path: str) -> list[OcrLine]:
        self.paths.append(path)
        return list(self.lines)


class _Fakes:
    """Registers the stand-ins through the ordinary hooks, under the name ``testing-fake``."""

    def __init__(self, backend: Any, ocr: Any):
        self.backend, self.ocr = backend, ocr

    @hookimpl
    def register_backends(self, register):
        if self.backend is not None:
            register(FAKE, lambda config: self.backend)

    @hookimpl
    def register_ocr_engines(self, register):
        if self.ocr is not None:
            register(FAKE, lambda: self.ocr)


class _OneTask:
    """Makes a Task instance that no plugin registers known to the host (ingest needs that)."""

    def __init__(self, task: Task):
        self.task = task

    @hookimpl
    def register_tasks(self, register):
        register(self.task)


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
        from mustelid.config import load_config
        from mustelid.host import Host
        from mustelid.worker import WorkerContext

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
                self.host.register(_Fakes(backend, ocr), FAKE)
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
            self.host.register(_OneTask(task), f"task:{task.name}")
        return task

    # -- running -------------------------------------------------------------------------------

    def run(self, task_or_name: Task | type[Task] | str, source: Any = None, *,
            params: dict[str, Any] | None = None) -> TaskRun:
        """Run one job through ``mustelid.execute.run_job``: prepare, render, generate (with the
        grammar), validate, check, one re-ask. Job errors (``PermanentError`` ...) propagate.

        ``source``: a ``Path`` (or a ``str`` naming an existing file) is the input file; any other
        ``str`` or ``bytes`` is written to a file first; ``None`` for tasks without a file.
        """
        from mustelid.execute import run_job

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
        from ulid import ULID

        from mustelid.archive import sniff

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
        copy, ``files`` row, job row), claims the job and completes it with ``task.persist``
        inside the same transaction. The same file and task persist once (the idempotency key):
        a second call returns the database unchanged.
        """
        from mustelid.ingest import ingest
        from mustelid.store import Ledger, migrate, open_db

        task = run.task
        self.task(task)
        db = open_db(self.config.db_path)
        errors = migrate(db, self.host.migrations())
        if errors:
            raise RuntimeError("; ".join(errors))
        ledger = Ledger(db)
        if run.job.path:
            path = Path(run.job.path)
            ingested = ingest(path, relpath=path.name, config=self.config, host=self.host,
                              ledger=ledger, tasks=[task.name])
            if ingested.refused:
                raise RuntimeError(f"ingest refused {path}: {ingested.refused} "
                                   f"({ingested.message})")
            job_id, created = ingested.jobs[0]
        else:
            job_id, created = ledger.enqueue(
                task.name, idempotency_key=f"{OWNER}:{run.job.id}", task_version=task.version,
                params=run.job.params)
        if not created and ledger.get(job_id)["state"] == "done":
            return db
        claimed = ledger.claim(OWNER, 600, tasks=[task.name])
        if claimed is None or claimed["id"] != job_id:
            raise RuntimeError(f"could not claim job {job_id} (another job of {task.name} is "
                               "queued in this home)")
        # The daemon re-validates what crosses the process boundary; do the same round trip.
        result = task.Output.model_validate(run.result.model_dump(mode="json"))
        ledger.complete(job_id, OWNER, result.model_dump(mode="json"), evidence=run.evidence,
                        stats=run.stats, persist=lambda db_, row: task.persist(db_, row, result))
        return db

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
