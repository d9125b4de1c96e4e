"""Which catalog and registered local models are here, and making one the configured model."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import tomli_w

from mustelid.config import Config, ConfigError, default_config_path, read_toml
from mustelid.models.catalog import CATALOG, CatalogEntry, ModelError, get_entry
from mustelid.models.local import LocalModel, local_models, use_settings
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
            vision=False,   # no catalog model comes with a projector (none ships offline)
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


def list_local(cfg: Config) -> list[tuple[LocalModel, bool]]:
    """The registered local models, each with whether it is the configured one."""
    current = cfg.model.path.expanduser().resolve() if cfg.model.path else None
    current_mmproj = cfg.model.mmproj.expanduser().resolve() if cfg.model.mmproj else None
    return [(m, m.path == current and m.mmproj == current_mmproj)
            for m in local_models(cfg).values()]


def use(cfg: Config, name: str) -> Path:
    """Make catalog model ``name``, or the local model registered as ``name``, the configured
    one. Returns the config file written.

    A catalog model: ``model.path``/``sha256``/``mmproj``/``mmproj_sha256`` are removed (they
    override ``model.name``). A local one: they are set to its files and recorded hashes.
    Rewriting with tomli_w drops comments in the file; that is the price of not hand-editing TOML.
    """
    local = None if name in CATALOG else local_models(cfg).get(name)
    if local is None and name not in CATALOG:
        try:
            get_entry(name)
        except ModelError as e:
            registered = ", ".join(sorted(local_models(cfg))) or "none (mustelid models add)"
            raise ModelError(f"{e}; registered local models: {registered}") from None
    path = cfg.config_path or default_config_path()
    data = read_toml(path)
    model = data.setdefault("model", {})
    if not isinstance(model, dict):
        raise ConfigError(f"{path}: model must be a table")
    for key in ("path", "sha256", "mmproj", "mmproj_sha256"):
        model.pop(key, None)
    if local is None:
        model["name"] = name
    else:
        model.update(use_settings(local))
    Config.model_validate(data)  # never write a config that would not load
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(tomli_w.dumps(data), encoding="utf-8")
    os.replace(tmp, path)
    return path
