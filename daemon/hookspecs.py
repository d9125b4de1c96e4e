"""Every hook a mustelid plugin can implement.

Each docstring is the hook's contract: which process calls it, whether it may block, and what
the return value means. README.md's "Writing a plugin" section documents each one; a test fails
when a hook here is missing from README or has no ``test_hook_<name>`` test.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("mustelid")


@hookspec
def register_tasks(register: Callable[[Any], None]) -> None:
    """Call ``register(task)`` for each ``mustelid.Task`` instance the plugin provides.

    Called in every process (daemon, model worker, CLI) at plugin load. Must be cheap: import
    heavy libraries inside the task's methods, not here. Names must be unique; a duplicate name
    is reported and the later registration is skipped.
    """


@hookspec
def register_backends(register: Callable[[str, Callable[[Any], Any]], None]) -> None:
    """Call ``register(name, factory)`` for each model backend.

    ``factory(model_settings)`` is called only in the model worker process and returns an object
    satisfying ``mustelid.Backend``. The config key ``model.backend`` chooses one by name.
    """


@hookspec
def register_ocr_engines(register: Callable[[str, Callable[[], Any]], None]) -> None:
    """Call ``register(name, factory)`` for each OCR engine.

    ``factory()`` runs lazily in the model worker and returns an object with
    ``read(path) -> list[OcrLine]`` (see ``mustelid.ocr``). ``ocr.engine`` chooses one.
    """


@hookspec
def register_migrations(register: Callable[[Any], None]) -> None:
    """Call ``register(migrations)`` with a ``sqlite_utils`` ``Migrations`` set for the plugin's
    own tables. Applied in the daemon and the CLI before the database is used; each set is named,
    so plugins never collide, and each migration runs once per database."""


@hookspec
def register_schedules(register: Callable[..., None]) -> None:
    """Call ``register(name, task, cron, params=None)`` for each recurring job the plugin wants.

    ``cron`` is a five-field crontab line in local time (day of week 0 or 7 = Sunday);
    ``params`` become the job's params, and ``{"period": "day" | "week"}`` keys the job by the
    day or ISO week the fire falls in. A fire only enqueues a ledger job with the idempotency key
    ``schedule:NAME:PERIOD``, so repeated fires in one period are harmless; a fire missed while
    the daemon was down is caught up once at start. A ``[schedules.NAME]`` table in the config
    replaces the plugin's schedule of the same name. Called in the daemon at start and by
    ``mustelid schedules``; must be cheap and must not block. A bad cron line or unknown task is
    reported by ``mustelid schedules`` and never fires.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add click commands or groups to the ``mustelid`` CLI (``cli`` is the root click group).

    Called in the CLI process only. Keep imports inside the command functions so that
    ``mustelid --help`` stays fast.
    """


@hookspec(firstresult=True)
def route_file(relpath: str, mime: str, config: Any) -> list[str] | None:
    """Choose the task names for a file newly ingested from the inbox.

    ``relpath`` is the path relative to the inbox root (``receipts/lunch.jpg``). Return a list of
    task names, or ``None`` to let the next plugin (and finally the config's routes) decide. The
    first non-``None`` answer wins. Called in the daemon or CLI process during ingest; must not
    block.
    """


@hookspec
def job_event(job: dict[str, Any], event: str) -> None:
    """Observe a job's state change: ``event`` is one of ``queued``, ``running``, ``done``,
    ``retry``, ``dead``, ``waiting``.

    Called in the daemon process after the change is committed. Must not block for long and must
    not raise: an exception is logged and ignored, and never affects the job.
    """


@hookspec
def startup(daemon: Any) -> None:
    """The daemon has opened its database and loaded its plugins and is about to start claiming
    jobs. Called once per ``mustelid run`` in the daemon process."""


@hookspec
def shutdown(daemon: Any) -> None:
    """The daemon is stopping (signal or ``--once`` finished). Called once, after the last job was
    committed or put back. Must return within a second or two."""
