"""P6-P9: what a user sees of a running daemon (docs/BENCHMARKS.md). Each runs `mustelid run` in
a throwaway home (``daemon_side``) configured like the user's, with the default stability window,
and drops real files into it: receipts (SROIE scans), screens and notes from ``data``."""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mustelid.bench.daemon_side import drop_page_cache, finished_at, running_daemon
from mustelid.bench.measures import dig, summary

Log = Callable[[str], None]
DATA_KINDS = ("sroie-dev", "screens-dev", "notes-dev")   # receipts, screens, notes
NOT_INPUTS = {".json", ".csv", ".md"}                      # ground truth and READMEs beside them
JOB_TIMEOUT = 600.0


def inputs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() not in NOT_INPUTS
                  and not p.name.startswith("."))


def mixed(data: Path, n: int) -> list[Path]:
    """``n`` files taking turns between receipts, screens and notes (fewer if they run out)."""
    kinds = [inputs(data / kind) for kind in DATA_KINDS]
    turns = itertools.zip_longest(*kinds)
    return [f for turn in turns for f in turn if f is not None][:n]


def _one(d, src: Path, sub: str, log: Log, label: str) -> dict[str, Any]:
    sha, at = d.drop(src, sub)
    jobs = d.wait_ended({sha}, JOB_TIMEOUT)
    seconds = max(finished_at(j) for j in jobs) - at
    states = sorted(j["state"] for j in jobs)
    log(f"{label} {src.name}: {seconds:.2f}s drop to commit ({', '.join(states)})")
    return {"s": seconds, "done": all(s == "done" for s in states), "tasks":
            sorted(j["task"] for j in jobs)}


def p6_root_receipt(config: dict[str, Any], plugins: Path | None, receipts: list[Path], n: int,
                    log: Log) -> dict[str, Any]:
    """A receipt copied into the inbox root (routed by the router) against one copied into
    ``receipts/`` (routed by its folder), alternately, in one warm daemon; drop to commit."""
    if len(receipts) < 2 * n + 1:
        n = (len(receipts) - 1) // 2
    if n < 1:
        return {"p50_s": None, "note": "no receipts"}
    root, folder, runs = [], [], []
    with running_daemon(config, plugins) as d:
        _one(d, receipts[0], "receipts", log, "P6 warm-up")      # model load, OCR start: unmeasured
        for i in range(n):
            a = _one(d, receipts[1 + 2 * i], "", log, f"P6 {i + 1} root")
            b = _one(d, receipts[2 + 2 * i], "receipts", log, f"P6 {i + 1} receipts/")
            root.append(a["s"])
            folder.append(b["s"])
            runs += [{"where": "root", **a}, {"where": "receipts/", **b}]
        d.sample()
        peak = d.worker_peak_mb()
        ready_by = d.ready_by(1 + 2 * n)
    return {"p50_s": round(statistics.median(root), 3), "root_s": summary(root),
            "receipts_folder_s": summary(folder), "runs": runs, "worker_peak_rss_mb": peak,
            "ready_by": ready_by}


def p8_burst(config: dict[str, Any], plugins: Path | None, files: list[Path],
             log: Log) -> dict[str, Any]:
    """``files`` copied into the inbox root of a running daemon at once: all processed, none
    lost, files per minute from the first copy to the last commit."""
    if not files:
        return {"files_per_min": None, "note": "no files"}
    with running_daemon(config, plugins) as d:
        started = time.time()
        source = {d.drop(f)[0]: f.parent.name for f in files}     # sha -> its data folder
        shas = set(source)
        log(f"P8 dropped {len(files)} files ({len(shas)} distinct) in "
            f"{time.time() - started:.1f}s")
        error = None
        try:
            jobs = d.wait_ended(shas, JOB_TIMEOUT + 30 * len(shas))
        except RuntimeError as e:
            error, jobs = str(e), d.jobs_of(shas)
        d.sample()
        peak = d.worker_peak_mb()
    ended = [j for j in jobs if j["state"] in ("done", "dead", "needs_review")]
    with_jobs = {j["input_sha256"] for j in jobs}
    elapsed = max((finished_at(j) for j in ended), default=time.time()) - started
    states: dict[str, int] = {}
    for j in jobs:
        states[j["state"]] = states.get(j["state"], 0) + 1
    out = {"files": len(shas), "lost": len(shas - with_jobs), "elapsed_s": round(elapsed, 2),
           "files_per_min": round(len(shas) / elapsed * 60, 2) if not error else None,
           "job_states": states, "error": error, "worker_peak_rss_mb": peak,
           "job_s_by_source": _durations_by_source(jobs, source)}
    log(f"P8 {len(shas)} files in {elapsed:.1f}s: {out['files_per_min']} per minute, "
        f"lost {out['lost']}, states {states}")
    return out


def _durations_by_source(jobs: list[dict[str, Any]], source: dict[str, str]
                         ) -> dict[str, dict[str, Any]]:
    """The worker's time per job (``duration_s``), summarised by the data folder the file came
    from: where a burst's time goes."""
    by: dict[str, list[float]] = {}
    for j in jobs:
        if j.get("duration_s") is not None:
            by.setdefault(source.get(j["input_sha256"], "?"), []).append(j["duration_s"])
    return {name: {**summary(times), "total": round(sum(times), 1)}
            for name, times in sorted(by.items())}


def p9_cold_start(config: dict[str, Any], plugins: Path | None, model: Path,
                  receipts: list[Path], pairs: int, log: Log) -> dict[str, Any]:
    """Daemon start → first receipt committed, with the model file's page cache dropped (cold)
    and not (warm), alternately, each in a fresh home. The receipt goes into ``receipts/`` as
    soon as the daemon is up."""
    if not receipts:
        return {"cold_s": None, "note": "no receipts"}
    cold, warm, ratios = [], [], []
    for i in range(pairs):
        receipt = receipts[i % len(receipts)]
        pair = {}
        for side in ("cold", "warm"):
            if side == "cold":
                drop_page_cache(model)
            with running_daemon(config, plugins) as d:
                sha, _ = d.drop(receipt, "receipts")
                jobs = d.wait_ended({sha}, JOB_TIMEOUT)
                pair[side] = max(finished_at(j) for j in jobs) - d.started
            log(f"P9 pair {i + 1} {side}: {pair[side]:.2f}s start to first receipt")
        cold.append(pair["cold"])
        warm.append(pair["warm"])
        ratios.append(pair["cold"] / pair["warm"])
    return {"cold_s": summary(cold), "warm_s": summary(warm), "cold_over_warm": summary(ratios)}


def run_daemon_measures(config: dict[str, Any], plugins: Path | None, model: Path, data: Path,
                        receipts_n: int, burst_n: int, pairs: int, only: set[str],
                        log: Log) -> dict[str, Any]:
    receipts = inputs(data / DATA_KINDS[0])
    out: dict[str, Any] = {}
    if "p6" in only or "p7" in only:
        out["p6"] = p6_root_receipt(config, plugins, receipts, receipts_n, log)
    if "p8" in only or "p7" in only:
        out["p8"] = p8_burst(config, plugins, mixed(data, burst_n), log)
    if "p9" in only:
        out["p9"] = p9_cold_start(config, plugins, model, receipts, pairs, log)
    peaks = [r.get("worker_peak_rss_mb") for r in (out.get("p6"), out.get("p8")) if r]
    peaks = [p for p in peaks if p is not None]
    out["p7"] = {"worker_peak_rss_mb": max(peaks) if peaks else None,
                 "during": [k for k in ("p6", "p8") if out.get(k)]}
    return out


def headline(out: dict[str, Any]) -> dict[str, Any]:
    def get(*keys):
        return dig(out, *keys)

    return {
        "p6_root_receipt_p50_s": get("p6", "p50_s"),
        "p6_receipts_folder_p50_s": get("p6", "receipts_folder_s", "median"),
        "p7_worker_peak_rss_mb": get("p7", "worker_peak_rss_mb"),
        "p8_burst_files_per_min": get("p8", "files_per_min"),
        "p8_burst_lost": get("p8", "lost"),
        "p9_cold_start_s": get("p9", "cold_s", "median"),
        "p9_warm_start_s": get("p9", "warm_s", "median"),
    }
