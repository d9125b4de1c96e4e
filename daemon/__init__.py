"""mustelid: a small, resident, offline daemon for on-device tasks.

This package is the host. It knows hooks, jobs, time and files; every task and every backend is a
plugin (see ``mustelid.plugins`` and the ``mustelid`` entry-point group).

Plugin authors need only::

    from mustelid import hookimpl, Task, PermanentError
"""

import logging

import pluggy

# Library logging stays silent until the CLI (or an embedding program) configures logging.
logging.getLogger("mustelid").addHandler(logging.NullHandler())

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("mustelid")

from mustelid.tasks import (  # noqa: E402  (hookimpl must exist before plugins import us)
    Backend,
    Evidence,
    Generation,
    JobInput,
    PermanentError,
    Task,
    TransientError,
    WaitingError,
)

__all__ = [
    "__version__",
    "hookimpl",
    "Backend",
    "Evidence",
    "Generation",
    "JobInput",
    "PermanentError",
    "Task",
    "TransientError",
    "WaitingError",
]
