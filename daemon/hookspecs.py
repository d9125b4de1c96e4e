"""Every hook a mustelid plugin can implement.

Each docstring is the hook's contract: which process calls it, whether it may block, and what
the return value means. Every plugin's import has a 5 s deadline (a plugin that blocks at import
is reported and skipped). README.md's "Writing a plugin" section documents each one; a test fails
when a hook here is missing from README or has no ``test_hook_<name>`` test.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol

import pluggy

if TYPE_CHECKING:  # types only: importing these at run time would make circles
    import click
    from sqlite_utils.migrations import Migrations

    from mustelid.backend import BackendFactory
    from mustelid.cli import Listing
    from mustelid.config import Config
    from mustelid.ocr import OcrEngine
    from mustelid.runner import Daemon
    from mustelid.tasks import Task

hookspec = pluggy.HookspecMarker("mustelid")

JobEvent = Literal["queued", "running", "done", "retry", "dead", "waiting", "needs_review"]


class ScheduleRegister(Protocol):
    """The ``register`` callback ``register_schedules`` receives."""

    def __call__(self, name: str, task: str, cron: str,
                 params: dict[str, Any] | None = None, *, default: bool = False) -> None: ...


@hookspec
def register_tasks(register: Callable[[Task | type[Task]], None]) -> None:
    """Call ``register(task)`` for each ``mustelid.Task`` instance the plugin provides.

    Called in every process (daemon, model worker, CLI) at plugin load. Must be cheap: import
    heavy libraries inside the task's methods, not here. Names must be unique; a duplicate name
    is reported and the later registration is skipped.
    """


@hookspec
def register_backends(register: Callable[[str, BackendFactory], None]) -> None:
    """Call ``register(name, factory)`` for each model backend.

    ``factory(ctx)`` is called only in the model worker process, when the first job needs the
    model, and returns an object satisfying ``mustelid.Backend``. The config key
    ``model.backend`` chooses one by name. ``ctx`` is a ``mustelid.backend.BackendContext``:
    ``ctx.model`` (the ``[model]`` section: name, path, sha256, threads...), ``ctx.settings``
    (the raw ``[backend.NAME]`` table, for the plugin to validate: ``ctx.parse_settings(Model)``
    raises ``WaitingError("backend_config_invalid")`` naming the key), ``ctx.models_dir`` and
    ``ctx.resolve_model()`` (the verified GGUF, or ``WaitingError``). A factory may carry a
    ``settings_model`` attribute (that pydantic model) so that ``mustelid config`` shows the
    table's defaults. The factory may raise ``WaitingError`` (jobs wait until the cause is fixed).
    """


@hookspec
def register_ocr_engines(register: Callable[[str, Callable[[], OcrEngine]], None]) -> None:
    """Call ``register(name, factory)`` for each OCR engine.

    ``factory()`` runs lazily in the model worker and returns an object with
    ``read(path) -> list[OcrLine]`` (see ``mustelid.ocr``). ``ocr.engine`` chooses one.
    """


@hookspec
def register_migrations(register: Callable[[Migrations], None]) -> None:
    """Call ``register(migrations)`` with a ``sqlite_utils`` ``Migrations`` set for the plugin's
    own tables. Applied in the daemon and the CLI before the database is used; each set is named,
    so plugins never collide, and each migration runs once per database."""


@hookspec
def register_schedules(register: ScheduleRegister) -> None:
    """Call ``register(name, task, cron, params=None, *, default=False)`` for each recurring job
    the plugin wants. ``default=True`` marks a suggested schedule (the built-in daily summary):
    any ``[schedules]`` table in the config, even an empty one, replaces all default schedules.

    ``cron`` is a five-field crontab line in local time (day of week 0 or 7 = Sunday);
    ``params`` become the job's params, and ``{"period": "day" | "week"}`` keys the job by the
    day or ISO week the fire falls in. A fire only enqueues a ledger job with the idempotency key
    ``schedule:NAME:PERIOD``, so repeated fires in one period are harmless; a fire missed while
    the daemon was down is caught up once at start. A ``[schedules.NAME]`` table in the config
    replaces the plugin's schedule of the same name. Called in the daemon at start and by
    ``mustelid schedules``; must be cheap and must not block (5 s deadline, see below). A bad cron line or unknown task is
    reported by ``mustelid schedules`` and never fires.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``mustelid`` CLI (``cli`` is the root click group).

    Called in the CLI process only. Keep imports inside the command functions so that
    ``mustelid --help`` stays fast.
    """


class McpTools(Protocol):
    """What ``register_mcp_tools`` receives: the ``mustelid mcp`` server's tool registry."""

    def tool(self, name: str, description: str) -> Callable[[Callable[..., dict[str, Any]]],
                                                            Callable[..., dict[str, Any]]]: ...

    def read_db(self) -> AbstractContextManager[Any]: ...

    def listing(self, since: str | None, until: str | None, limit: int) -> Listing: ...


@hookspec
def register_mcp_tools(tools: McpTools) -> None:
    """Add read-only tools to ``mustelid mcp``, the MCP server local AI assistants query.

    ``@tools.tool(name, description)`` registers a function: its typed keyword arguments are the
    tool's input schema (``Annotated[int, pydantic.Field(description=...)]`` describes one) and
    it returns a JSON-serialisable dict, which the host cuts down (``"truncated": true``) when it
    is too long. Inside it, ``with tools.read_db() as db`` is a sqlite-utils ``Database`` opened
    read-only (SQLite refuses any write) for this call only, and ``tools.listing(since, until,
    limit)`` reads ``since``/``until`` as the CLI's ``--since``/``--until`` do, into a
    ``mustelid.cli.Listing`` with the limit capped. A ``ValueError`` the function raises reaches
    the assistant as its error message. Names are unique: a duplicate is reported and skipped.

    Called in the ``mustelid mcp`` process only, once at start, with the 5 s deadline of the
    other ``register_*`` hooks; the tools run later, on the server's worker threads.
    """


@hookspec(firstresult=True)
def route_file(relpath: str, mime: str, config: Config) -> list[str] | None:
    """Choose the task names for a file newly ingested from the inbox.

    ``relpath`` is the path relative to the inbox root (``receipts/lunch.jpg``). Return a list of
    task names, or ``None`` to let the next plugin decide. The order, first answer wins:

    1. the user's ``[inbox.routes]`` entry for the file's first folder (the hook is not called);
    2. this hook, plugin by plugin: the built-in task plugins claim their own folders
       (``receipts/``, ``screenshots/``, ``notes/``); the router (``trylast``) answers
       ``["auto"]`` for any other file unless the user set ``inbox.default_tasks``;
    3. ``inbox.default_tasks``.

    Called in the daemon or CLI process during ingest; must not block: it runs on the host's
    helper thread with a 2 s deadline, and an implementation that misses it is disabled for the
    rest of the process (``mustelid plugins`` and the log say why) and the next plugin decides.
    """


@hookspec
def job_event(job: dict[str, Any], event: JobEvent) -> None:
    """Observe a job's state change: ``event`` is one of ``queued``, ``running``, ``done``,
    ``retry``, ``dead``, ``waiting``, ``needs_review``. ``job`` is the job's row as committed.

    Called in the daemon process after the change is committed, on the host's helper thread.
    Must not block (2 s deadline; missed once, the hook is disabled for the rest of the process)
    and must not raise: an exception is logged and ignored, and never affects the job.
    """


@hookspec
def startup(daemon: Daemon) -> None:
    """The daemon has opened its database and loaded its plugins and is about to start claiming
    jobs. Called once per ``mustelid run`` in the daemon process."""


@hookspec
def shutdown(daemon: Daemon) -> None:
    """The daemon is stopping (signal or ``--once`` finished). Called once, after the last job was
    committed or put back. Must return within a second or two: it runs on the host's helper
    thread and the daemon stops without it after 5 s."""
