"""The public API for backend plugins (``mustelid.backend``).

A backend plugin registers a factory with ``register_backends``; the model worker calls it with
a ``BackendContext``: the ``[model]`` section the host reads, the plugin's own raw
``[backend.NAME]`` table (the plugin validates it, usually with ``parse_settings``), where
models are kept, and ``resolve_model()`` for a verified GGUF. Backends import only ``mustelid``
and this module; the paging helpers (``mustelid.runtime``) a local backend uses to give its
weights back between jobs are re-exported here.

A factory may carry a ``settings_model`` attribute (a pydantic model of its table, with
defaults): ``mustelid config`` then shows the table with those defaults filled in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from mustelid.config import Config, ModelConfig
from mustelid.runtime import (
    MiB,
    Range,
    file_ranges,
    major_faults,
    mb,
    page_out,
    populate,
    prewarm,
    residency,
    rss_split,
)
from mustelid.tasks import (
    Backend,
    Generation,
    PermanentError,
    TransientError,
    WaitingError,
    validation_error_summary,
)

if TYPE_CHECKING:  # mustelid.models is imported on use: every CLI start loads this module
    from mustelid.models import ResolvedModel

__all__ = [
    "Backend",
    "BackendContext",
    "BackendFactory",
    "Generation",
    "MiB",
    "PermanentError",
    "Range",
    "TransientError",
    "WaitingError",
    "backend_tables",
    "file_ranges",
    "major_faults",
    "mb",
    "page_out",
    "populate",
    "prewarm",
    "residency",
    "rss_split",
]

Settings = TypeVar("Settings", bound=BaseModel)


@dataclasses.dataclass(frozen=True)
class BackendContext:
    """What a backend factory receives: everything it may know about the configuration."""

    name: str                    # the backend's name: ``model.backend``, the NAME of its table
    model: ModelConfig           # the [model] section: name, path, sha256, threads, ...
    settings: dict[str, Any]     # the raw [backend.NAME] table; the plugin validates it
    models_dir: Path             # where catalog models are kept
    _config: Config = dataclasses.field(repr=False, compare=False)

    @classmethod
    def from_config(cls, config: Config, name: str | None = None) -> BackendContext:
        """The context for backend ``name`` (default: the configured ``model.backend``)."""
        name = name or config.model.backend
        return cls(name=name, model=config.model, settings=dict(config.backend.get(name, {})),
                   models_dir=config.models_dir, _config=config)

    def resolve_model(self) -> ResolvedModel:
        """The verified GGUF that ``[model]`` asks for (catalog name, or ``path`` + ``sha256``);
        ``WaitingError`` if it is missing, corrupt or not the expected bytes. The result has
        ``path``, ``sha256`` and ``model_id`` (stable for the same bytes)."""
        from mustelid.models import resolve

        return resolve(self._config)

    def parse_settings(self, schema: type[Settings]) -> Settings:
        """The plugin's table validated by ``schema``; ``WaitingError("backend_config_invalid")``
        naming the key when it does not validate (jobs wait until the config is fixed)."""
        try:
            return schema.model_validate(self.settings)
        except ValidationError as e:
            raise WaitingError("backend_config_invalid",
                               f"[backend.{self.name}] {validation_error_summary(e)}") from None


BackendFactory = Callable[[BackendContext], Backend]


def backend_tables(config: Config,
                   factories: Mapping[str, BackendFactory]) -> dict[str, dict[str, Any]]:
    """Every ``[backend.NAME]`` table as its plugin reads it: the defaults a factory declares
    (``settings_model``) filled in. A table that does not validate is shown as written."""
    tables = {name: dict(table) for name, table in config.backend.items()}
    for name, factory in factories.items():
        schema = getattr(factory, "settings_model", None)
        if schema is None:
            continue
        try:
            tables[name] = schema.model_validate(tables.get(name, {})).model_dump(mode="json")
        except ValidationError:
            pass
    return dict(sorted(tables.items()))

