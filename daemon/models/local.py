"""Models the user already has: a local GGUF (and the vision projector that goes with it)
registered by name, with the sha256 of each file recorded when it was added.

The registry is ``models.json`` in the data folder, written whole and atomically. ``use``
writes the entry's paths and hashes into ``[model]``, so from then on the model is checked the
way any ``model.path`` is (``resolve`` / ``resolve_mmproj``): changed bytes make jobs wait.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
from pathlib import Path
from typing import Any

from mustelid.config import Config
from mustelid.models.catalog import CATALOG, ModelError
from mustelid.models.verify import GGUF_MAGIC, file_sha256

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclasses.dataclass(frozen=True)
class LocalModel:
    name: str
    path: Path
    sha256: str
    mmproj: Path | None = None
    mmproj_sha256: str | None = None
    added: str = ""

    @property
    def vision(self) -> bool:
        return self.mmproj is not None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256,
                "mmproj": str(self.mmproj) if self.mmproj else None,
                "mmproj_sha256": self.mmproj_sha256, "vision": self.vision, "added": self.added}


def registry_path(cfg: Config) -> Path:
    return cfg.data_dir / "models.json"


def local_models(cfg: Config) -> dict[str, LocalModel]:
    """The registered models by name; {} before the first ``add``."""
    path = registry_path(cfg)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {path}: {e}") from None
    out = {}
    for name, entry in raw.get("models", {}).items():
        out[name] = LocalModel(
            name=name, path=Path(entry["path"]), sha256=entry["sha256"],
            mmproj=Path(entry["mmproj"]) if entry.get("mmproj") else None,
            mmproj_sha256=entry.get("mmproj_sha256"), added=entry.get("added", ""))
    return out


def add(cfg: Config, path: Path, *, mmproj: Path | None = None,
        name: str | None = None) -> LocalModel:
    """Register the GGUF at ``path`` (and its projector ``mmproj``) under ``name`` (default:
    the file's stem), hashing both. A name already registered is replaced; a catalog name is
    refused (``use`` would be ambiguous). Whether a projector fits its model llama.cpp says
    when it loads them (the job then waits with its reason)."""
    path = _gguf(path, "model")
    mmproj = _gguf(mmproj, "projector") if mmproj is not None else None
    name = name or path.stem
    if not NAME.fullmatch(name):
        raise ModelError(f"model name {name!r}: use letters, digits, '.', '_' or '-' "
                         "(at most 64), e.g. --name my-vlm")
    if name in CATALOG:
        raise ModelError(f"{name!r} is a catalog model's name; choose another with --name")
    entry = LocalModel(
        name=name, path=path, sha256=file_sha256(path),
        mmproj=mmproj, mmproj_sha256=file_sha256(mmproj) if mmproj else None,
        added=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    models = local_models(cfg)
    models[name] = entry
    _write(cfg, models)
    return entry


def use_settings(entry: LocalModel) -> dict[str, Any]:
    """The ``[model]`` keys that make ``entry`` the configured model."""
    settings: dict[str, Any] = {"path": str(entry.path), "sha256": entry.sha256}
    if entry.mmproj:
        settings.update(mmproj=str(entry.mmproj), mmproj_sha256=entry.mmproj_sha256)
    return settings


def _gguf(path: Path, what: str) -> Path:
    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise ModelError(f"{what} {path} does not exist")
    if not path.is_file():   # a FIFO would block the read below
        raise ModelError(f"{what} {path} is not a regular file")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise ModelError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if magic != GGUF_MAGIC:
        raise ModelError(f"{what} {path} is not a GGUF file")
    return path


def _write(cfg: Config, models: dict[str, LocalModel]) -> None:
    path = registry_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"models": {n: {k: v for k, v in m.as_dict().items() if k not in ("name", "vision")}
                       for n, m in sorted(models.items())}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
