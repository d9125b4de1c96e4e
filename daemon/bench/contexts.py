"""``mustelid bench --contexts``: what each context setting costs in anonymous memory."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mustelid.bench.sides import decode_rate, raw_cmd, task_request
from mustelid.bench.task import BenchExtract
from mustelid.bench.workload import receipt_text

# (n_ctx, KV cache type, flash attention)
CONTEXTS = [(2048, "f16", False), (4096, "f16", False), (8192, "f16", False),
            (4096, "f16", True), (4096, "q8_0", True), (8192, "q8_0", True), (4096, "q4_0", True)]


def context_costs(model: Path, threads: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Anonymous memory (and speed, for what one run is worth) of each context setting, each in
    a fresh process, on a receipt-sized prompt."""
    request = json.dumps(task_request(BenchExtract(), receipt_text(0)))
    rows = []
    for n_ctx, kv, flash in CONTEXTS:
        done = subprocess.run(raw_cmd("context", model, threads, n_ctx) + [kv, str(int(flash))],
                              capture_output=True, text=True, input=request, timeout=600)
        if done.returncode != 0:
            rows.append({"n_ctx": n_ctx, "kv": kv, "flash_attn": flash,
                         "error": done.stderr.strip()[-300:]})
            continue
        row = json.loads(done.stdout)
        row["decode_tok_s"] = round(decode_rate(row) or 0, 1)
        rows.append({k: row[k] for k in ("n_ctx", "kv", "flash_attn", "anon_mb",
                                         "prefill_tokens", "decode_tok_s")})
        log(f"context {n_ctx} {kv} flash_attn={flash}: {row['anon_mb']} MiB anonymous")
    return rows
