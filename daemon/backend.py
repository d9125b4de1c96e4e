"""The public API for backend plugins (``mustelid.backend``).

A backend plugin registers a factory with ``register_backends``; the model worker calls it with
a ``BackendContext``: the ``[model]`` section the host reads, the plugin's own raw
``[backend.NAME]`` table (the plugin validates it, usually with ``parse_settings``), where
models are kept, and ``resolve_model()`` for a verified GGUF. Backends import only ``mustelid``
and this module; the paging helpers (``mustelid.runtime``) a local backend uses to give its
weights back between jobs are re-exported here.

A backend that can see declares ``capabilities()`` -> ``Capabilities(vision=True)`` and takes
``generate(..., images=[...])``; ``model_images`` turns what a task gives (encoded files or
Pillow images) into upright, downscaled image files for the model, and ``refuse_images`` is
the one-line refusal of a backend that cannot see.

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
    unmap,
)
from mustelid.tasks import (
    Backend,
    Capabilities,
    Generation,
    PermanentError,
    TransientError,
    WaitingError,
    capabilities,
    validation_error_summary,
)

if TYPE_CHECKING:  # mustelid.models is imported on use: every CLI start loads this module
    from mustelid.models import ResolvedModel

__all__ = [
    "Backend",
    "BackendContext",
    "BackendFactory",
    "Capabilities",
    "Generation",
    "MiB",
    "PermanentError",
    "Range",
    "TransientError",
    "WaitingError",
    "backend_tables",
    "capabilities",
    "file_ranges",
    "major_faults",
    "mb",
    "model_images",
    "page_out",
    "populate",
    "prewarm",
    "refuse_images",
    "residency",
    "rss_split",
    "unmap",
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

    def resolve_mmproj(self) -> ResolvedModel | None:
        """The verified vision projector ``[model] mmproj`` names, None without one;
        ``WaitingError`` if it is missing, not a GGUF or not the bytes ``mmproj_sha256`` says."""
        from mustelid.models import resolve_mmproj

        return resolve_mmproj(self._config)

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



# Vision encoders take a few hundred pixels a side (CLIP 336, SigLIP 384-896, Qwen2.5-VL's
# dynamic ~1000): a phone photo at full size only costs encode time and memory.
DEFAULT_IMAGE_SIDE = 1024


def model_images(images: list[Any], max_side: int = DEFAULT_IMAGE_SIDE) -> list[bytes]:
    """Each image (an encoded file's bytes, or a Pillow image) as a PNG file for a vision
    model: decoded with the inbox's safety rules, EXIF-rotated upright, RGB, its longer side at
    most ``max_side`` pixels. ``PermanentError("unreadable_image")`` for bytes that are no
    image."""
    import io

    from PIL import Image

    from mustelid.imaging import load_image

    out = []
    for image in images:
        if isinstance(image, (bytes, bytearray, memoryview)):
            image = load_image(io.BytesIO(bytes(image)))   # upright and RGB
        elif not isinstance(image, Image.Image):
            raise TypeError(f"an image is bytes or a PIL image, not {type(image).__name__}")
        else:
            from PIL import ImageOps

            image = ImageOps.exif_transpose(image).convert("RGB")
        if max(image.size) > max_side:
            image = image.copy()
            image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        out.append(buffer.getvalue())
    return out


def refuse_images(backend: str, images: list[Any] | tuple[Any, ...]) -> None:
    """Fail closed: a backend that cannot see was given images."""
    if images:
        raise PermanentError(
            "vision_unavailable",
            f"backend {backend!r} with this model cannot see images ({len(images)} given); "
            "configure a vision model (mustelid models add PATH --mmproj PATH)")
