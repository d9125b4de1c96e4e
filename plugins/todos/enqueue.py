"""Queueing a ``todos`` job without a file: todos from a text, or from another job's result."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from mustelid import model_key

from .inputs import MAX_TEXT_CHARS
from .task import Todos


def enqueue_todos(ledger: Any, config: Any, *, text: str | None = None,
                  from_job: str | None = None, seen_at: str | None = None) -> tuple[str, bool]:
    """Queue a ``todos`` job without a file. Returns ``(job_id, created)``.

    ``text``: todos from this text; relative dates count from ``seen_at`` (ISO; default now).
    ``from_job``: todos from the text fields of that job's stored result (e.g. a screenshot's
    key text); dates count from the day that job's file was first seen. Idempotent: the same
    text on the same day, or the same source job, is queued once per task version and model.
    Safe inside an open transaction (``Ledger.enqueue`` joins it), so a plugin's ``persist``
    may chain a todos job onto the job it is completing.
    """
    if (text is None) == (from_job is None):
        raise ValueError("give exactly one of text= or from_job=")
    if text is not None:
        if not text.strip():
            raise ValueError("the text is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"the text is longer than {MAX_TEXT_CHARS} characters")
        seen_at = seen_at or dt.datetime.now().astimezone().isoformat(timespec="seconds")
        digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
        params: dict[str, Any] = {"text": text, "seen_at": seen_at}
        source = f"text:{digest}:{seen_at[:10]}"
    else:
        params, source = {"from_job": from_job}, f"job:{from_job}"
    task = Todos()
    return ledger.enqueue(
        task.name,
        idempotency_key=f"{source}:{task.name}:{task.version}:{model_key(config)}",
        task_version=task.version,
        params=params,
        max_attempts=config.jobs.max_attempts,
        model_id=model_key(config),
    )
