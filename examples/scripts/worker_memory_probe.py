"""Memory of the model worker's own code path, per job and per stage, for issue 14's P7.

    flock /tmp/mustelid-cpu.lock python examples/scripts/worker_memory_probe.py \
        receipts:DATA/sroie-dev/024.jpg screenshots:DATA/screens-dev/shot03.jpg \
        todos:DATA/notes-dev/memo26.png ...

One ``WorkerContext`` (as in the worker process) runs the jobs in turn through ``run_one``; a
thread samples /proc/self/status every 10 ms. Per job it prints the memory after the job
(VmRSS, VmHWM, RssAnon, RssFile: the mapped model's pages are file-backed, and count in VmRSS
and VmHWM as the bench reads them) and the highest VmRSS / RssAnon seen in each stage
(``reading``, ``ocr``, ``loading model``, ``model``, ``checking``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path


def status() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            out[key] = round(int(value.split()[0]) / 1024)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("jobs", nargs="+", help="TASK:PATH, run in this order")
    args = ap.parse_args()
    from mustelid.config import load_config
    from mustelid.host import Host
    from mustelid.sniff import HEAD, sniff
    from mustelid.tasks import JobInput
    from mustelid.worker import WorkerContext, run_one

    config = load_config()
    ctx = WorkerContext(config, Host(config.plugins_path))
    stage = {"now": "idle"}
    peaks: dict[str, dict[str, int]] = {}
    ctx.on_stage = lambda s: stage.__setitem__("now", s)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            now, name = status(), stage["now"]
            if now["VmRSS"] > peaks.get(name, {}).get("VmRSS", 0):
                peaks[name] = now
            time.sleep(0.01)

    threading.Thread(target=sample, daemon=True).start()
    print("start", json.dumps(status()), flush=True)
    for i, spec in enumerate(args.jobs):
        task, path = spec.split(":", 1)
        with open(path, "rb") as f:
            mime = sniff(f.read(HEAD)) or ("text/plain" if path.endswith(".txt") else None)
        peaks.clear()
        started = time.perf_counter()
        reply = run_one(ctx, JobInput(id=f"probe-{i}", task=task, path=path,
                                      original_name=os.path.basename(path), mime=mime))
        stage["now"] = "idle"
        time.sleep(0.05)
        print(f"{task} {os.path.basename(path)} {reply.get('ok') or reply.get('reason')} "
              f"{time.perf_counter() - started:.1f}s after={json.dumps(status())} peaks="
              + json.dumps({k: (v["VmRSS"], v["RssAnon"]) for k, v in peaks.items()}), flush=True)
    done.set()
    ctx.close()


if __name__ == "__main__":
    main()
