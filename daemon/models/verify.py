"""Finding the configured GGUF and knowing it holds the right bytes.

Hashing 491 MB takes seconds, so a verified file gets a ``<file>.verified`` sidecar (size,
mtime_ns, sha256) and is not hashed again until it changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import stat
from pathlib import Path

from mustelid.config import Config
from mustelid.models.catalog import CATALOG, CatalogEntry, get_entry
from mustelid.tasks import WaitingError

GGUF_MAGIC = b"GGUF"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def cached_sha256(path: Path) -> str | None:
    """The sha256 recorded for ``path`` if the file has not changed since, else None."""
    try:
        st = path.stat()
        record = json.loads(_sidecar(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns:
        return record.get("sha256")
    return None


def remember_sha256(path: Path, digest: str, st: os.stat_result) -> None:
    """Record ``digest`` as the sha256 of ``path`` while it has ``st``'s size and mtime."""
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    with contextlib.suppress(OSError):  # a read-only model folder just means hashing again
        _sidecar(path).write_text(json.dumps(record) + "\n", encoding="utf-8")


def file_sha256(path: Path, *, use_cache: bool = True) -> str:
    if use_cache and (digest := cached_sha256(path)):
        return digest
    before = path.stat()
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    after = path.stat()
    # Only cache a hash of bytes that held still while we read them.
    if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
        remember_sha256(path, digest, after)
    return digest


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    path: Path
    sha256: str
    model_id: str  # part of job idempotency keys: stable for the same bytes
    entry: CatalogEntry | None  # None for a custom model.path


@dataclasses.dataclass(frozen=True)
class _Wanted:
    """What ``cfg.model`` asks for, and what to tell the user when it is not there."""

    path: Path
    expected: str | None  # sha256
    entry: CatalogEntry | None
    fix: str
    missing: str


def _wanted(cfg: Config) -> _Wanted:
    if cfg.model.path:
        path = cfg.model.path.expanduser()
        fix = "fix model.path in the config"
        return _Wanted(path, cfg.model.sha256.lower() if cfg.model.sha256 else None, None, fix,
                       f"model file {path} (model.path) does not exist; {fix}")
    name = cfg.model.name
    if name not in CATALOG:
        raise WaitingError(
            "model_unknown",
            f"model.name {name!r} is not a known model; see `mustelid models list`",
        )
    entry = CATALOG[name]
    fix = f"run `mustelid models pull {name}`"
    return _Wanted(cfg.models_dir / entry.filename, entry.sha256, entry, fix,
                   f"model {name} is not installed in {cfg.models_dir}; {fix}")


def resolve(cfg: Config, *, use_cache: bool = True) -> ResolvedModel:
    """Find and verify the GGUF that ``cfg.model`` asks for, or raise ``WaitingError``."""
    want = _wanted(cfg)
    path, entry, fix = want.path, want.entry, want.fix
    _check_gguf_file(path, "model", want.missing, f"cannot read model {path}", fix)
    if entry and path.stat().st_size != entry.size:  # cheap early answer, no hashing
        raise WaitingError(
            "model_sha_mismatch",
            f"{path} has {path.stat().st_size:,} bytes, expected {entry.size:,}; {fix}",
        )
    digest = file_sha256(path, use_cache=use_cache)
    if want.expected and digest != want.expected:
        raise WaitingError(
            "model_sha_mismatch", f"{path} has sha256 {digest}, expected {want.expected}; {fix}"
        )
    label = entry.name if entry else path.stem
    return ResolvedModel(path, digest, f"{label}@{digest[:12]}", entry)


def _check_gguf_file(path: Path, kind: str, missing: str, unreadable: str, fix: str) -> None:
    """``path`` is a readable regular file that starts like a GGUF, or ``WaitingError``
    ``{kind}_missing`` / ``{kind}_corrupt``. A FIFO or device named as the file would block
    open() (or read forever): only a regular file counts (issue 13)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise WaitingError(f"{kind}_corrupt", f"{path} is not a regular file; {fix}")
        with open(path, "rb") as f:
            magic = f.read(4)
    except (FileNotFoundError, IsADirectoryError):
        raise WaitingError(f"{kind}_missing", missing) from None
    except OSError as e:
        raise WaitingError(f"{kind}_missing", f"{unreadable}: {e}; {fix}") from None
    if magic != GGUF_MAGIC:
        raise WaitingError(f"{kind}_corrupt", f"{path} is not a GGUF file; {fix}")


def resolve_mmproj(cfg: Config, *, use_cache: bool = True) -> ResolvedModel | None:
    """The verified vision projector ``cfg.model.mmproj`` (None when none is configured), or
    ``WaitingError``: missing, not a regular GGUF file, or not the bytes ``mmproj_sha256``
    names. Whether it fits the model only llama.cpp can say, when it loads both."""
    if not cfg.model.mmproj:
        return None
    path = cfg.model.mmproj.expanduser()
    fix = "fix model.mmproj in the config"
    _check_gguf_file(path, "mmproj", f"projector file {path} (model.mmproj) does not exist; {fix}",
                     f"cannot read projector {path}", fix)
    digest = file_sha256(path, use_cache=use_cache)
    expected = cfg.model.mmproj_sha256.lower() if cfg.model.mmproj_sha256 else None
    if expected and digest != expected:
        raise WaitingError("mmproj_sha_mismatch",
                           f"{path} has sha256 {digest}, expected {expected}; {fix}")
    return ResolvedModel(path, digest, f"{path.stem}@{digest[:12]}", None)


def resolve_model(cfg: Config) -> Path:
    """The verified GGUF path to load for ``cfg.model``; raises ``WaitingError`` if unusable."""
    return resolve(cfg).path


def verify(cfg: Config, name: str | None = None) -> ResolvedModel:
    """Hash the configured model (or catalog model ``name``) afresh, ignoring the cache."""
    if name is not None:
        get_entry(name)
        cfg = cfg.model_copy(deep=True)
        cfg.model.path = None
        cfg.model.name = name
    return resolve(cfg, use_cache=False)
