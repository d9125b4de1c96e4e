"""Choosing without the model: each candidate task's own reading of its evidence.

A task's ``router_fit`` says how surely a file is its kind from what its ``prepare`` found,
on a scale the built-in tasks share:

- ``SURE`` (0.9 and up): the content is the task's own: a receipt's total, payment lines and
  date; a note that calls itself a to-do list and lists items.
- ``LIKELY`` (0.75 and up): the form is: a capture of a whole display is likely a screenshot,
  though what it shows may be a receipt or a to-do list.
- below ``DOUBT`` (0.5): the task does not argue against another's likely reading.
- ``NOT_MINE`` (0): the task could read the file but says it is not its kind (a photo without
  text is no screenshot): the router drops it like a task that refused the file.

The only candidate takes the file; so does the one sure candidate; with none sure, the one
likely candidate that nobody else argues against. Then the model is not asked and the router
costs no more than the file's own folder would: measured for issue 14, the kind question was
most of the inbox root's extra time, and it took the prompt prefix the task could reuse. Two
sure candidates (a screenshot of an e-mailed receipt that also calls itself a to-do list), or
none, leave the choice to the model.
"""

from __future__ import annotations

import dataclasses
import logging

from mustelid import Evidence, Task

log = logging.getLogger("mustelid.plugins.router")

SURE = 0.9        # the content is the task's own (a receipt's total, a to-do list's title)
LIKELY = 0.75     # the form is (a whole-display capture is likely a screenshot)
DOUBT = 0.5       # below this, a task does not argue against another's likely reading
NOT_MINE = 0.0    # the task read the file and says it is not its kind: dropped as a refusal


@dataclasses.dataclass
class Candidate:
    task: Task
    evidence: Evidence


def fit(candidate: Candidate) -> float | None:
    """The task's ``router_fit`` for its evidence; None when it has no opinion or its method
    breaks (one plugin's bug must not decide, or block, the choice)."""
    try:
        value = candidate.task.router_fit(candidate.evidence)
        value = None if value is None else float(value)
    except Exception as e:
        log.warning("router: %s.router_fit failed: %r", candidate.task.name, e)
        return None
    if value is None or not 0.0 <= value <= 1.0:
        return None
    return round(value, 3)


def decided_by_evidence(fits: dict[str, float | None]) -> str | None:
    """The only candidate (nothing else can read the file: the task itself then finds what,
    if anything, there is to do in it, as todos files nothing for a licence text); else the
    one candidate sure of the file, if exactly one is; else, when none is sure, the one that
    finds it likely while every other doubts it. None: the model chooses."""
    if len(fits) == 1:
        return next(iter(fits))
    known = {name: value for name, value in fits.items() if value is not None}
    sure = [name for name, value in known.items() if value >= SURE]
    if sure:
        return sure[0] if len(sure) == 1 else None
    likely = [name for name, value in known.items() if value >= LIKELY]
    if len(likely) == 1 and all(v < DOUBT for n, v in known.items() if n != likely[0]):
        return likely[0]
    return None
