"""The router's own answer, when no task takes the file: ``ignore``, with a short reason."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

IGNORE = "ignore"        # the function that files nothing
OTHER = "other"          # its kind


class Ignore(BaseModel):
    """The arguments of ``ignore``: a short reason, bounded so a small model cannot ramble."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=60)


def ignore_schema() -> dict[str, Any]:
    """``{"kind": "other", "name": "ignore", "arguments": {"reason": ...}}``, all fixed but
    the reason."""
    arguments = Ignore.model_json_schema()
    arguments.pop("title", None)
    return {
        "type": "object",
        "properties": {"kind": {"const": OTHER}, "name": {"const": IGNORE},
                       "arguments": arguments},
        "required": ["kind", "name", "arguments"],
        "additionalProperties": False,
    }
