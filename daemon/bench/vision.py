"""``mustelid bench --vision`` (and the default run, when ``[model] mmproj`` is set): what the
configured vision model's projector costs on this machine.

Measured in a child process that loads the configured backend the way the model worker does,
so the bench process itself never imports llama_cpp: the resident memory the projector adds
at load (RSS after minus before), and per image the projector's encode time alone and the
tokens the image becomes, each image scaled as a job's would be. A backend that cannot see,
or that cannot measure images, is reported as such, not guessed at.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from mustelid.bench.measures import summary

CHILD = """
import json, sys, time
from pathlib import Path
from mustelid.backend import BackendContext
from mustelid.config import load_config
from mustelid.host import Host
from mustelid.runtime import rss_split
from mustelid.tasks import JobError, capabilities

cfg = load_config(Path(sys.argv[2]) if sys.argv[2] else None)
if sys.argv[3]:
    cfg.model.threads = int(sys.argv[3])
factory = Host(cfg.plugins_path).backends[cfg.model.backend]
before = rss_split()["rss"]
started = time.perf_counter()
try:
    backend = factory(BackendContext.from_config(cfg))
except JobError as e:
    print(json.dumps({"error": f"{e.reason}: {e.message}"}))
    sys.exit(0)
out = {"load_s": round(time.perf_counter() - started, 3),
       "rss_loaded_mb": round(rss_split()["rss"] / 2**20, 1),
       "rss_load_delta_mb": round((rss_split()["rss"] - before) / 2**20, 1)}
info = backend.info() if hasattr(backend, "info") else {}
if info.get("mmproj_rss_bytes") is not None:
    out["mmproj_rss_mb"] = round(info["mmproj_rss_bytes"] / 2**20, 1)
measure = getattr(backend, "measure_images", None)
if not capabilities(backend).vision:
    out["error"] = "the configured model cannot see images"
elif measure is None:
    out["error"] = f"backend {cfg.model.backend!r} cannot measure images"
else:
    out["images"] = measure([open(p, "rb").read() for p in json.loads(sys.argv[1])])
backend.close()
print(json.dumps(out))
"""


def vision_measures(images: list[Path], config_path: Path | None = None,
                    threads: int | None = None, timeout: float = 1800) -> dict[str, Any]:
    """The projector of the model configured in ``config_path`` (default: the usual config):
    load time and memory, and per image the encode time and token count (``encode_s`` /
    ``image_tokens`` summarised over the images)."""
    args = [sys.executable, "-c", CHILD, json.dumps([str(p) for p in images]),
            str(config_path or ""), str(threads or "")]
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return {"error": f"the measuring process failed: {tail[0]}"[:300]}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    rows = out.get("images") or []
    if rows:
        out["encode_s"] = summary([r["encode_s"] for r in rows])
        out["image_tokens"] = summary([r["image_tokens"] for r in rows])
    return out
