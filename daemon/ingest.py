"""Ingest: from a file on disk to durable jobs in the ledger.

Order matters for "never lose a file": hash and copy into the content-addressed archive, fsync,
and only then commit the jobs (synchronous=FULL). The inbox file itself is never modified; if a
done folder is configured it is moved there only after that commit.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mustelid.config import Config, model_key  # noqa: F401  (model_key re-exported)
from mustelid.store import files as store_files
from mustelid.store.ledger import Ledger
from mustelid.tasks import JobError, TransientError, WaitingError

log = logging.getLogger("mustelid.ingest")


@dataclass
class IngestResult:
    path: str
    sha256: str | None = None
    jobs: list[tuple[str, bool]] = field(default_factory=list)   # (job id, newly created)
    refused: str | None = None                                   # reason code
    message: str = ""
    retry: bool = False       # transient: leave it for the next scan


def idempotency_key(sha256: str, task: Any, config: Config) -> str:
    return f"{sha256}:{task.name}:{task.version}:{model_key(config)}"


def route(host: Any, config: Config, relpath: str, mime: str | None) -> list[str]:
    """The task names for a file newly ingested from the inbox, first answer wins: the user's
    ``[inbox.routes]`` entry for its first folder; then the plugins (``route_file``: the task
    plugins claim their own folders, the router the rest unless ``default_tasks`` is set); then
    ``inbox.default_tasks``."""
    parts = Path(relpath).parts
    chosen = config.inbox.routes.get(parts[0]) if len(parts) > 1 else None
    if chosen is None:
        chosen = host.first("route_file", relpath=relpath, mime=mime or "", config=config)
    if chosen is None:
        chosen = config.inbox.default_tasks
    return list(chosen)


def ingest(
    path: Path,
    *,
    relpath: str,
    config: Config,
    host: Any,
    ledger: Ledger,
    tasks: list[str] | None = None,
    stat: os.stat_result | None = None,
) -> IngestResult:
    """Archive ``path`` and enqueue its jobs. Never raises for a bad file: refusals are recorded
    (with a reason, the file left in place) and returned."""
    key_path = str(path)
    out = IngestResult(path=key_path)
    try:
        st = stat or os.lstat(path)
    except FileNotFoundError:
        out.refused, out.message, out.retry = "vanished", "the file disappeared", True
        return out
    archived = _archive(path, config, ledger, st, relpath, out)
    if archived is None:
        return out

    names = tasks if tasks is not None else route(host, config, relpath, archived.mime)
    jobs = _job_rows(names, archived.sha256, relpath, config, host)
    if not jobs:
        out.refused, out.message = _unrouted(names, host)
        store_files.record_refusal(ledger.db, key_path, st.st_size, st.st_mtime_ns,
                                   out.refused, out.message)
        log.warning("refused %s: %s (%s)", relpath, out.refused, out.message)
        return out
    out.sha256 = archived.sha256
    out.jobs = store_files.record_ingest(
        ledger,
        sha256=archived.sha256,
        size=archived.size,
        mime=archived.mime,
        archived_path=str(archived.archived_path),
        original_path=key_path,
        original_name=Path(relpath).name,
        mtime_ns=archived.mtime_ns,
        jobs=jobs,
    )
    return out


def _job_rows(names: list[str], sha256: str, relpath: str, config: Config,
              host: Any) -> list[dict[str, Any]]:
    """The ledger rows for the routed task names; a name no plugin provides is skipped."""
    jobs = []
    for name in names:
        task = host.tasks.get(name)
        if task is None:
            log.warning("%s routes to unknown task %r; skipped", relpath, name)
            continue
        jobs.append({
            "task": name,
            "task_version": task.version,
            "idempotency_key": idempotency_key(sha256, task, config),
            "max_attempts": config.jobs.max_attempts,
            "model_id": model_key(config),
        })
    return jobs


def _unrouted(names: list[str], host: Any) -> tuple[str, str]:
    """Why a file gets no job: said, not dropped, so `mustelid files --refused` shows it."""
    missing = [n for n in names if n not in host.tasks]
    if missing:
        return "unknown_task", (f"routed to {', '.join(map(repr, missing))}, which no installed "
                                "plugin provides; fix [inbox.routes] / inbox.default_tasks or "
                                "install the plugin")
    return "no_task", "no route names a task for this file"


def _archive(path: Path, config: Config, ledger: Ledger, st: os.stat_result, relpath: str,
             out: IngestResult) -> Any:
    """The archived copy, or None with ``out`` saying why (and the refusal recorded)."""
    from mustelid.archive import archive_file

    try:
        # A file of the inbox is opened beneath it: no folder on the way may be a symlink.
        inbox = Path(os.path.abspath(config.inbox_dir))
        root = inbox if Path(os.path.abspath(path)).is_relative_to(inbox) else None
        return archive_file(os.path.abspath(path), config.archive_dir,
                            max_bytes=int(config.inbox.max_file_mb * 2**20), root=root)
    except (TransientError, WaitingError) as e:
        # Changing under us, or the disk is full: nothing committed, the file untouched;
        # the next scan tries again.
        out.refused, out.message, out.retry = e.reason, e.message, True
    except FileNotFoundError:
        out.refused, out.message, out.retry = "vanished", "the file disappeared", True
    except JobError as e:
        store_files.record_refusal(ledger.db, out.path, st.st_size, st.st_mtime_ns,
                                   e.reason, e.message)
        out.refused, out.message = e.reason, e.message
        log.warning("refused %s: %s (%s)", relpath, e.reason, e.message)
    except OSError as e:
        # Disk full, permissions: nothing was committed, the file is untouched; try again later.
        out.refused, out.message, out.retry = "os_error", str(e), True
    return None
