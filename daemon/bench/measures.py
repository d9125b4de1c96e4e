"""P1-P5, each a series of A/B pairs: the two sides alternate, so a neighbour's load on a shared
machine hits both alike, and the median of the per-pair ratios is reported with min and max."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mustelid.bench.sides import daemon_job, decode_rate, raw_cmd, task_request, tier_op
from mustelid.bench.task import EXTRACT_TASK, BenchChoose, BenchExtract
from mustelid.bench.workload import receipt_text
from mustelid.supervisor import Supervisor

Log = Callable[[str], None]


def summary(values: list[float]) -> dict[str, Any]:
    clean = [v for v in values if v is not None]
    if not clean:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": round(statistics.median(clean), 3), "min": round(min(clean), 3),
            "max": round(max(clean), 3), "n": len(clean)}


def dig(node: Any, *keys: str) -> Any:
    """``node[k1][k2]...``, or None where a level is missing (a measurement was skipped)."""
    for k in keys:
        node = node.get(k) if isinstance(node, dict) else None
    return node


def p1_oneshot(sup: Supervisor, model: Path, threads: int, n_ctx: int, pairs: int, log: Log,
               closed: bool) -> dict[str, Any]:
    """A warm daemon job against a script that loads llama-cpp-python and runs the same
    messages and schema through ``create_chat_completion`` (its grammar), as one would write it.
    ``closed``: every value chosen from candidates (how the receipts task asks); otherwise free
    strings under patterns (the daemon then uses the grammar too: warm model and prefix only)."""
    daemon, oneshot, ratios = [], [], []
    task = BenchChoose() if closed else BenchExtract()
    daemon_job(sup, task.name, params={"text": receipt_text(990)})   # this task's prefix is cached
    for i in range(pairs):
        a, reply = daemon_job(sup, task.name, params={"text": receipt_text(i)})
        started = time.perf_counter()
        done = subprocess.run(raw_cmd("oneshot", model, threads, n_ctx), capture_output=True,
                              text=True, input=json.dumps(task_request(task, receipt_text(i))),
                              timeout=600)
        b = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"one-shot script failed: {done.stderr[-2000:]}")
        daemon.append(a)
        oneshot.append(b)
        ratios.append(b / a)
        log(f"P1 {'closed' if closed else 'open'} pair {i + 1}: daemon {a:.2f}s, "
            f"one-shot {b:.2f}s")
    return {"daemon_s": summary(daemon), "oneshot_s": summary(oneshot),
            "ratio": summary(ratios)}


def p2_decode(sup: Supervisor, model: Path, threads: int, n_ctx: int, pairs: int,
              log: Log) -> dict[str, Any]:
    """Decode tokens/s inside the daemon against raw ``llama_cpp.Llama`` on the same prompts."""
    task = BenchExtract()
    raw = subprocess.Popen(raw_cmd("serve", model, threads, n_ctx), stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    ours, theirs, ratios = [], [], []
    try:
        raw.stdout.readline()  # ready
        raw.stdin.write(json.dumps(task_request(task, receipt_text(998))) + "\n")  # warm it too
        raw.stdin.flush()
        raw.stdout.readline()
        for i in range(pairs):
            _, reply = daemon_job(sup, EXTRACT_TASK, params={"text": receipt_text(100 + i)})
            a = decode_rate(reply.get("stats", {}).get("perf"))
            raw.stdin.write(json.dumps(task_request(task, receipt_text(100 + i))) + "\n")
            raw.stdin.flush()
            b = decode_rate(json.loads(raw.stdout.readline()))
            ours.append(a)
            theirs.append(b)
            ratios.append(a / b if a and b else None)
            log(f"P2 pair {i + 1}: daemon {a or 0:.1f} tok/s, raw {b or 0:.1f} tok/s")
    finally:
        raw.stdin.close()
        raw.wait(60)
    return {"daemon_tok_s": summary(ours), "raw_tok_s": summary(theirs), "ratio": summary(ratios)}


def p3_tiers(sup: Supervisor, cold_sup: Supervisor, pairs: int, log: Log) -> dict[str, Any]:
    """Idle RSS after release against loaded; the first job after a release against a warm one,
    with prewarm (``sup``) and without (``cold_sup``)."""
    rss_ratio, with_pw, without_pw, prewarm_s, faults = [], [], [], [], {"with": [], "without": []}
    sup.stop()  # fresh worker: nothing else may map the weights, or PAGEOUT skips those pages
    for variant, s, ratios in (("with", sup, with_pw), ("without", cold_sup, without_pw)):
        daemon_job(s, EXTRACT_TASK, params={"text": receipt_text(997)})
        for i in range(pairs):
            warm, reply = daemon_job(s, EXTRACT_TASK, params={"text": receipt_text(200 + i)})
            loaded_rss = reply["stats"]["worker"]["rss_mb"]
            released = tier_op(s, "release")
            if variant == "with":
                rss_ratio.append(released["rss_mb"] / loaded_rss)
                prewarm_s.append(tier_op(s, "prewarm").get("last_prewarm", {}).get("seconds"))
            cold, reply = daemon_job(s, EXTRACT_TASK, params={"text": receipt_text(300 + i)})
            faults[variant].append(reply["stats"].get("major_faults"))
            ratios.append(cold / warm)
            log(f"P3 {variant} prewarm pair {i + 1}: warm {warm:.2f}s, after release "
                f"{cold:.2f}s, rss {loaded_rss} -> {released['rss_mb']} MiB "
                f"(model resident {released.get('model_resident_pct')}%)")
        s.stop()
    return {"idle_rss_ratio": summary(rss_ratio), "first_job_ratio_prewarm": summary(with_pw),
            "first_job_ratio_no_prewarm": summary(without_pw), "prewarm_s": summary(prewarm_s),
            "major_faults_first_job": faults}


def p4_images(sup: Supervisor, task: str, images: list[Path], log: Log) -> dict[str, Any]:
    """End to end (OCR and extraction) seconds of ``task`` on up to five images."""
    jobs = [{"path": str(img), "mime": "image/jpeg"} for img in [images[-1], *images[:5]]]
    return _timed_jobs(sup, task, jobs, "P4", log)    # the first: OCR engine load


def p10_task_inputs(sup: Supervisor, inputs: dict[str, list[Path]],
                    targets: dict[str, float | None], log: Log) -> dict[str, Any]:
    """Per task: end-to-end seconds of its jobs on its real inputs through the model worker (the
    first input of each task runs once unmeasured: OCR and the task's prompt prefix warm)."""
    return {task: {**_timed_jobs(sup, task, [_file_fields(p) for p in files], f"P10 {task}", log),
                   "target_p50_s": targets.get(task)}
            for task, files in inputs.items()}


def _timed_jobs(sup: Supervisor, task: str, jobs: list[dict[str, Any]], label: str,
                log: Log) -> dict[str, Any]:
    """Seconds of ``task``'s jobs (each a JobInput's fields) through the worker, the first one
    run unmeasured to warm it; the summary, its median as ``p50_s``, each job's outcome."""
    daemon_job(sup, task, **jobs[0])
    times, outcomes = [], []
    for fields in jobs[1:]:
        t, reply = daemon_job(sup, task, **fields)
        times.append(t)
        outcomes.append("done" if reply.get("ok") else reply.get("reason"))
        log(f"{label} {Path(fields['path']).name}: {t:.2f}s ({outcomes[-1]})")
    seconds = summary(times)
    return {"seconds": seconds, "p50_s": seconds["median"], "outcomes": outcomes}


def _file_fields(path: Path) -> dict[str, Any]:
    from mustelid.evaluate import input_mime

    return {"path": str(path), "mime": input_mime(path) or "application/octet-stream",
            "original_name": path.name}


def p5_prefix(on: Supervisor, off: Supervisor, image_task: str | None, images: list[Path],
              pairs: int, log: Log) -> dict[str, Any]:
    """Generation time with prefix reuse off against on, per task: the bench's text task, and
    ``image_task`` on the images if there are any."""
    tasks = [(EXTRACT_TASK, lambda i: {"params": {"text": receipt_text(400 + i)}})]
    if images and image_task:
        tasks.append((image_task, lambda i: {"path": str(images[i % len(images)]),
                                             "mime": "image/jpeg"}))
    out = {}
    for task, fields in tasks:
        daemon_job(off, task, **fields(pairs))   # both sides warm, the "on" side holding this
        daemon_job(on, task, **fields(pairs))    # task's prompt from its previous job
        ratios, reused = [], []
        for i in range(pairs):
            a = daemon_job(on, task, **fields(i))[1]["stats"].get("perf")
            b = daemon_job(off, task, **fields(i))[1]["stats"].get("perf")
            if not a or not b:
                continue
            ratios.append(_generation_s(b) / _generation_s(a))
            reused.append(a["reused_tokens"])
            log(f"P5 {task} pair {i + 1}: reuse on {_generation_s(a):.2f}s "
                f"({a['reused_tokens']} tokens reused), off {_generation_s(b):.2f}s")
        out[task] = {"speedup": summary(ratios), "reused_tokens": summary(reused)}
    off.stop()
    return out


def _generation_s(perf: dict[str, Any]) -> float:
    return perf["prefill_s"] + perf["decode_s"]
