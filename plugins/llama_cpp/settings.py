"""``[backend.llama_cpp]``: the settings only this backend reads (same defaults and bounds they
had under ``[model]``, where old config files may still write them)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LlamaSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_ctx: int = Field(4096, ge=256, description="maximum context tokens")
    n_ctx_min: int = Field(
        2048, ge=256, description="first context size; grows in doubling steps up to n_ctx"
    )
    kv_type: Literal["f16", "q8_0", "q4_0"] = Field(
        "f16", description="KV cache element type; quantized needs flash_attn"
    )
    # Off by default: measured 2026-12-05, it made prefill ~6 % faster but P8's burst no faster
    # across five runs, and the worker's peak (P7) 50-70 MB higher (docs/BENCHMARKS.md).
    flash_attn: bool = Field(False, description="flash attention (required for a quantized KV)")
    prefix_reuse: bool = Field(True, description="keep the previous prompt's KV for the next job")
    prefix_slots: int = Field(
        3, ge=0, le=16, description="earlier contexts whose KV is kept aside, so tasks taking "
        "turns each find their own prompt prefix (a few MB each; 0 = only the live context)")
    choice_decoding: bool = Field(
        True, description="append the text the schema fixes without asking the model, ask it "
        "only where allowed values differ; false = one grammar, token by token",
    )
    seed: int = Field(0, description="sampling seed; generation is greedy anyway")
    chat_handler: str = Field(
        "MTMDChatHandler", description="llama-cpp-python's multimodal chat handler for "
        "[model] mmproj: MTMDChatHandler uses the model's own chat template; Llava15ChatHandler, "
        "Qwen25VLChatHandler, ... their fixed formats")
    image_max_side: int = Field(
        1024, ge=32, le=8192, description="images are scaled to at most this many pixels a side")

    @model_validator(mode="after")
    def _first_size_fits(self) -> LlamaSettings:
        # A smaller n_ctx alone lowers the default first size with it; both written and
        # contradicting each other is a mistake to report, not to guess about.
        if self.n_ctx_min > self.n_ctx:
            if "n_ctx_min" in self.model_fields_set:
                raise ValueError(
                    f"n_ctx_min ({self.n_ctx_min}) is larger than n_ctx ({self.n_ctx})")
            self.n_ctx_min = self.n_ctx
        return self
