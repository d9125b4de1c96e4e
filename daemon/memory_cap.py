"""The model worker's address-space cap (``jobs.worker_memory_mb``) and the model's size it is
computed from (the supervisor's memory budget uses the same size)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from mustelid.config import Config
from mustelid.models import CATALOG

log = logging.getLogger(__name__)


# Automatic address-space cap beyond the model file. Measured for the default model (491 MB
# GGUF, threads = 1, a receipt with OCR): worker VmPeak 2,502 MiB, VmHWM 851 MiB, 8 threads.
# RLIMIT_AS counts virtual reservations (thread stacks, glibc's 64 MiB malloc arenas,
# onnxruntime's pools), which grow with the core count, hence the per-CPU term.
AUTO_HEADROOM = 4 << 30
AUTO_PER_CPU = 128 << 20


def model_file_size(model: Any) -> int:
    """Bytes of the configured local model file (the catalog's size before it is pulled), 0 if
    unknown: the worker's memory cap, and the supervisor's budget before a worker reported its
    own footprint, are computed from it. A vision projector (``mmproj``) is loaded whole beside
    the model, so its bytes count too."""
    try:
        projector = getattr(model, "mmproj", None)
        extra = Path(projector).expanduser().stat().st_size if projector else 0
        if model.path:
            return Path(model.path).expanduser().stat().st_size + extra
        entry = CATALOG.get(model.name)
        return (entry.size if entry else 0) + extra
    except (OSError, AttributeError):
        return 0


def memory_cap(config: Config) -> int | None:
    """Bytes of address space the worker may map (None: no cap), from ``jobs.worker_memory_mb``."""
    mb = config.jobs.worker_memory_mb
    if mb < 0:
        return None
    if mb:
        return mb << 20
    return model_file_size(config.model) + AUTO_HEADROOM + AUTO_PER_CPU * (os.cpu_count() or 1)


def apply_memory_cap(config: Config) -> int | None:
    """Cap this process's address space, so a task that allocates without end gets MemoryError
    (or dies) alone, bounded by max_attempts, instead of pushing the machine into the OOM killer,
    which may pick another process. Best effort: no ``resource`` module (Windows), or a platform
    that does not enforce RLIMIT_AS (macOS), means no cap."""
    cap = memory_cap(config)
    if cap is None:
        return None
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, ValueError, OSError) as e:
        log.warning("could not cap the worker's memory: %s", e)
        return None
    return cap
