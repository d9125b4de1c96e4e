"""mustelid: a small, resident, offline daemon for on-device tasks.

This package is the host. It knows hooks, jobs, time and files; every task and every backend is a
plugin (see ``mustelid.plugins`` and the ``mustelid`` entry-point group).

The names below are the public API a plugin may use; everything else in ``mustelid.*`` is
private to the host (an import-linter contract in the test suite enforces it for the built-ins).
A plugin author needs::

    from mustelid import hookimpl, Task, Evidence, JobInput, PermanentError

Command plugins use ``mustelid.cli`` (``State``, ``pass_state``, ``emit_table`` ...), backend
plugins ``mustelid.backend``, and tests ``mustelid.testing``.
"""

import logging

import pluggy

# Library logging stays silent until the CLI (or an embedding program) configures logging.
logging.getLogger("mustelid").addHandler(logging.NullHandler())

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("mustelid")

# hookimpl must exist before these: plugins that import them import us first.
from mustelid.config import folder_route, model_key  # noqa: E402
from mustelid.displays import whole_screen  # noqa: E402
from mustelid.ocr import (  # noqa: E402
    OcrLine,
    clean_text,
    normalise_box,
    reading_order,
    row_groups,
    rows_as_text,
)
from mustelid.ocr_layout import laid_out_text  # noqa: E402
from mustelid.periods import PERIODS, period_bounds  # noqa: E402
from mustelid.tasks import (  # noqa: E402
    Backend,
    Capabilities,
    Delegation,
    Evidence,
    Generation,
    JobError,
    JobInput,
    PermanentError,
    Task,
    TaskContext,
    TransientError,
    WaitingError,
    capabilities,
    parse_output,
    validation_error_summary,
)


def image_facts(image, colors=5):  # noqa: ANN001, ANN201  (Pillow is imported only when asked)
    """Size, shape, mean and dominant colours of a decoded image (see ``mustelid.imaging``)."""
    from mustelid.imaging import image_facts as facts

    return facts(image, colors)


__all__ = [
    "__version__",
    "hookimpl",
    "Backend",
    "Capabilities",
    "Delegation",
    "Evidence",
    "Generation",
    "JobError",
    "JobInput",
    "OcrLine",
    "PERIODS",
    "PermanentError",
    "Task",
    "TaskContext",
    "TransientError",
    "WaitingError",
    "capabilities",
    "parse_output",
    "clean_text",
    "folder_route",
    "image_facts",
    "laid_out_text",
    "model_key",
    "normalise_box",
    "period_bounds",
    "reading_order",
    "row_groups",
    "rows_as_text",
    "validation_error_summary",
    "whole_screen",
]
