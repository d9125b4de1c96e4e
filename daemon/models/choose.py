"""Which catalog models are here, and making one of them the configured model."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import tomli_w

from mustelid.config import Config, ConfigError, default_config_path, read_toml
from mustelid.models.catalog import CATALOG, CatalogEntry, get_entry
from mustelid.models.verify import cached_sha256


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
    get_entry(name)
    path = cfg.config_path or default_config_path()
    data = read_toml(path)
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
