"""One ``mustelid bench`` run: the machine, then P1-P5 side by side, then the headline ratios;
or (``run_daemon``) P6-P9 on a real running daemon."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mustelid.bench.measures import (dig, p1_oneshot, p2_decode, p3_tiers, p4_images,
                                     p5_prefix, p10_task_inputs)
from mustelid.bench.sides import bench_home, daemon_job
from mustelid.bench.task import EXTRACT_TASK
from mustelid.bench.workload import receipt_text
from mustelid.models import file_sha256


def run(model: Path, threads: int, pairs: int = 5, n_ctx: int = 2048, images: list[Path] = (),
        log: Callable[[str], None] = lambda s: None,
        image_task: str | None = None,
        task_inputs: dict[str, list[Path]] | None = None,
        targets: dict[str, float | None] | None = None) -> dict[str, Any]:
    """Every measurement, on ``model``; ``image_task`` on ``images`` for P4 and P5 (both are
    needed, or the image measurements are skipped); P10 for each task of ``task_inputs`` on its
    inputs (the first one unmeasured), against its ``targets``."""
    images = list(images) if image_task else []
    out: dict[str, Any] = {"machine": machine_facts(model, threads), "pairs": pairs}
    out["machine"]["loadavg_before"] = os.getloadavg()
    with bench_home(model, threads, n_ctx) as make:
        main = make("main")
        daemon_job(main, EXTRACT_TASK, params={"text": receipt_text(999)})   # load + warm
        out["p2"] = p2_decode(main, model, threads, n_ctx, pairs, log)
        out["p1"] = p1_oneshot(main, model, threads, n_ctx, pairs, log, closed=True)
        out["p1_open"] = p1_oneshot(main, model, threads, n_ctx, pairs, log, closed=False)
        out["p4"] = p4_images(main, image_task, images, log) if images else None
        out["p10"] = (p10_task_inputs(main, task_inputs, targets or {}, log)
                      if task_inputs else None)
        out["p5"] = p5_prefix(main, make("noreuse", backend={"prefix_reuse": False}),
                              image_task, images, pairs, log)
        out["p3"] = p3_tiers(main, make("noprewarm", model={"prewarm": False}), pairs, log)
    out["machine"]["loadavg_after"] = os.getloadavg()
    return with_headline(out)


def run_daemon(config: dict[str, Any], plugins: Path | None, model: Path, threads: int,
               data: Path, only: set[str], receipts: int = 5, burst: int = 100, pairs: int = 5,
               log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """P6-P9 (``only`` of them; P7 rides on P6 and P8) on a real `mustelid run`."""
    from mustelid.bench import daemon_measures

    out: dict[str, Any] = {"machine": machine_facts(model, threads), "pairs": pairs,
                           "only": sorted(only)}
    out["machine"]["loadavg_before"] = os.getloadavg()
    out.update(daemon_measures.run_daemon_measures(config, plugins, model, data, receipts,
                                                   burst, pairs, only, log))
    out["machine"]["loadavg_after"] = os.getloadavg()
    out.update(daemon_measures.headline(out))
    return out


def with_headline(out: dict[str, Any]) -> dict[str, Any]:
    def med(*keys):
        return dig(out, *keys)

    out.update(
        p1_daemon_vs_oneshot=med("p1", "ratio", "median"),
        p1_open_schema_ratio=med("p1_open", "ratio", "median"),
        p2_decode_ratio=med("p2", "ratio", "median"),
        p3_idle_rss_ratio=med("p3", "idle_rss_ratio", "median"),
        p3_first_job_ratio_prewarm=med("p3", "first_job_ratio_prewarm", "median"),
        p3_first_job_ratio_no_prewarm=med("p3", "first_job_ratio_no_prewarm", "median"),
        p4_receipt_p50_s=med("p4", "p50_s"),
        p5_prefix_reuse_speedup=med("p5", EXTRACT_TASK, "speedup", "median"),
        p10_p50_s={task: m["p50_s"] for task, m in (out.get("p10") or {}).items()} or None,
    )
    return out


def machine_facts(model: Path, threads: int) -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    facts = {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "os": platform.platform(),
             "python": platform.python_version(), "model": str(model),
             "model_sha256": file_sha256(model)}
    # Asked of a separate interpreter: the bench process itself never imports llama_cpp.
    info = subprocess.run(
        [sys.executable, "-c", "import llama_cpp, json; print(json.dumps([llama_cpp.__version__,"
         " llama_cpp.llama_print_system_info().decode()]))"],
        capture_output=True, text=True)
    if info.returncode == 0:
        version, system = json.loads(info.stdout)
        facts.update(llama_cpp_python=version, llama_cpp_system_info=system.strip())
    return facts
