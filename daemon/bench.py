"""``mustelid bench``: speed and memory of the daemon as ratios, measured side by side in one run.

Every comparison alternates its two sides (A, B, A, B ...) for ``pairs`` pairs and reports the
median of the per-pair ratios with min and max, so a neighbour's load on a shared machine hits
both sides alike. The load average is recorded before and after. The daemon side is the real
supervisor + model worker process with the configured backend; the raw side is plain
llama-cpp-python in its own process (``mustelid.bench_raw``).

P1 warm daemon job vs a one-shot script doing the same job      (target >= 1.5x faster)
P2 decode tokens/s inside the daemon vs raw llama_cpp.Llama     (target >= 0.95x)
P3 idle RSS after release vs loaded; first job after release vs warm, with and without prewarm
P4 end-to-end receipt (OCR + extraction) p50 seconds            (target <= 3 s)
P5 prefix reuse on vs off, per task (generation time, off / on)
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from mustelid.tasks import JobInput

BENCH_TASK = "bench_extract"
SYSTEM = ("You read OCR text of shop receipts and record them as expenses by calling "
          "record_expense. Reply with one JSON object only. Copy values from the text; never "
          "invent them. The merchant is the shop name near the top; the total is the amount "
          "paid, labelled TOTAL or AMOUNT DUE; dates are written YYYY-MM-DD.")
SCHEMA = {
    "type": "object",
    "properties": {
        "merchant": {"type": "string", "maxLength": 40},
        "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "maxLength": 10},
        "total": {"type": "string", "pattern": "^[0-9]{1,6}[.][0-9]{2}$", "maxLength": 9},
        "items": {"type": "array", "maxItems": 2, "items": {
            "type": "object", "properties": {"name": {"type": "string", "maxLength": 24}},
            "required": ["name"]}},
    },
    "required": ["merchant", "date", "total", "items"],
}
MAX_TOKENS = 160
JOB_TIMEOUT = 600.0

# The closed variant: the same receipts, every value chosen from candidates printed in the text
# (what the receipts task does), so the daemon decodes it by choices (plugins/llama_choices.py).
CHOOSE_TASK = "bench_choose"
CHOOSE_SYSTEM = ("You read OCR text of shop receipts and record them as expenses by calling "
                 "record_expense. Reply with one JSON object only. Choose each value from the "
                 "candidates listed under the text: the merchant is the shop name at the top; "
                 "the total is the amount paid, labelled TOTAL; the date is the purchase date.")


def choose_request(text: str) -> dict[str, Any]:
    """Messages and closed schema for one receipt text: candidates found by regular
    expressions, as the receipts task finds them in OCR text."""
    lines = text.splitlines()
    amounts = list(dict.fromkeys(re.findall(r"(?<![\d.])\d+[.]\d{2}(?![\d])", text)))
    dates = list(dict.fromkeys(f"{y}-{m}-{d}" for d, m, y in
                               re.findall(r"\b(\d{2})/(\d{2})/(\d{4})\b", text)))
    menus = (f"Merchant candidates: {'; '.join(lines[:2])}\n"
             f"Date candidates: {'; '.join(dates) or 'none'}\n"
             f"Total candidates: {'; '.join(amounts)}")
    schema = {
        "type": "object",
        "properties": {
            "merchant": {"type": "string", "enum": lines[:2]},
            "date": {"anyOf": [{"type": "string", "enum": dates}, {"type": "null"}]},
            "total": {"type": "string", "enum": amounts},
        },
        "required": ["merchant", "date", "total"],
    }
    return {"messages": [{"role": "system", "content": CHOOSE_SYSTEM},
                         {"role": "user", "content": f"{text}\n\n{menus}"}],
            "schema": schema, "max_tokens": MAX_TOKENS}

# The bench task, loaded by the worker from the bench home's plugins folder like any user plugin.
PLUGIN = f'''
from pydantic import BaseModel, Field
from mustelid import Evidence, Task, hookimpl

class Out(BaseModel):
    merchant: str = Field(max_length=40)
    date: str = Field(max_length=10)
    total: str = Field(max_length=9)
    items: list[dict] = Field(max_length=2)

class BenchExtract(Task):
    name = {BENCH_TASK!r}
    function = "record_expense"
    description = "benchmark job"
    input_kind = "text"
    Output = Out
    max_tokens = {MAX_TOKENS}

    def prepare(self, job, ctx):
        return Evidence(text=job.params["text"])

    def messages(self, job, evidence, ctx):
        return [{{"role": "system", "content": {SYSTEM!r}}},
                {{"role": "user", "content": evidence.text}}]

    def schema(self, evidence):
        return {SCHEMA!r}

class ChooseOut(BaseModel):
    merchant: str
    date: str | None
    total: str

class BenchChoose(BenchExtract):
    name = {CHOOSE_TASK!r}
    Output = ChooseOut

    def prepare(self, job, ctx):
        from mustelid.bench import choose_request
        return Evidence(text=job.params["text"], data=choose_request(job.params["text"]))

    def messages(self, job, evidence, ctx):
        return evidence.data["messages"]

    def schema(self, evidence):
        return evidence.data["schema"]

@hookimpl
def register_tasks(register):
    register(BenchExtract())
    register(BenchChoose())
'''

SHOPS = ["BLUE FOX CAFE", "KEDAI RUNCIT AMAN", "MEGA HARDWARE SDN BHD", "PASAR MINI JAYA",
         "THE BOOK NOOK", "SUNRISE PHARMACY", "GOLDEN WOK", "CITY FUEL STATION"]


def receipt_text(i: int) -> str:
    """A distinct receipt per job: each job shares only the system prompt with the last one."""
    shop = SHOPS[i % len(SHOPS)]
    lines = [shop, f"NO {10 + i}, JALAN {i + 3}/2, 4{i:04d} KUALA LUMPUR", f"INVOICE {9000 + i}",
             f"DATE: {(i % 27) + 1:02d}/0{(i % 9) + 1}/2024  12:{i % 60:02d}"]
    total = 0.0
    for k in range(8 + i % 5):
        price = round(1.1 + (i * 7 + k * 13) % 40 + k * 0.35, 2)
        total += price
        lines.append(f"{k + 1} ITEM-{(i * 31 + k) % 97:02d} NASI LEMAK {k}   {price:.2f}")
    lines += [f"SUBTOTAL {total:.2f}", "GST 0.00", f"TOTAL RM {total:.2f}",
              f"CASH {total + 10:.2f}", "CHANGE 10.00", "THANK YOU PLEASE COME AGAIN"]
    return "\n".join(lines)


def summary(values: list[float]) -> dict[str, Any]:
    clean = [v for v in values if v is not None]
    if not clean:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": round(statistics.median(clean), 3), "min": round(min(clean), 3),
            "max": round(max(clean), 3), "n": len(clean)}


# -- the two sides -----------------------------------------------------------------------------


@contextlib.contextmanager
def bench_home(model: Path, threads: int, n_ctx: int) -> Iterator[Callable[..., Any]]:
    """A throwaway MUSTELID_HOME with the bench task; yields ``make(**model_keys)`` that writes a
    config variant and returns a started-on-demand Supervisor for it."""
    from mustelid.config import load_config
    from mustelid.supervisor import Supervisor

    old = os.environ.get("MUSTELID_HOME")
    sups: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="mustelid-bench-") as tmp:
        home = Path(tmp)
        (home / "plugins").mkdir()
        (home / "plugins" / "benchtask.py").write_text(PLUGIN, encoding="utf-8")
        os.environ["MUSTELID_HOME"] = str(home)

        def make(name: str, **keys: Any) -> Any:
            model_keys = {"path": str(model), "threads": threads, "n_ctx": n_ctx,
                          "n_ctx_min": n_ctx, "idle_release": 0, "idle_unload": 0, **keys}
            body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in model_keys.items())
            path = home / f"{name}.toml"
            path.write_text(f"[model]\n{body}\n[jobs]\ntimeout_seconds = 600\n", encoding="utf-8")
            sup = Supervisor(str(path), model=load_config(path).model)
            sups.append(sup)
            return sup

        try:
            yield make
        finally:
            for sup in sups:
                sup.stop()
            if old is None:
                os.environ.pop("MUSTELID_HOME", None)
            else:
                os.environ["MUSTELID_HOME"] = old


_ids = iter(range(1_000_000))


def daemon_job(sup: Any, task: str, **fields: Any) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one job through the model worker, and its reply."""
    job = JobInput(id=f"bench-{next(_ids)}", task=task, **fields)
    started = time.perf_counter()
    sup.submit(job)
    reply = None
    while reply is None:
        reply = sup.poll(0.02)
        if reply is None and sup.running_for() > JOB_TIMEOUT:
            sup.abort("timeout", "bench job timed out")
            raise RuntimeError(f"a {task} job took more than {JOB_TIMEOUT:.0f}s")
    return time.perf_counter() - started, reply


def tier_op(sup: Any, op: str) -> dict[str, Any]:
    """Send release/prewarm and wait for the worker's answer."""
    if op == "prewarm":
        sup.wake()
    else:
        sup._request(op)
    while sup.pending:
        sup.drain()
        time.sleep(0.01)
    return sup.last_stats


def raw_request(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": SYSTEM},
                         {"role": "user", "content": receipt_text(i)}],
            "schema": SCHEMA, "max_tokens": MAX_TOKENS}


def raw_cmd(mode: str, model: Path, threads: int, n_ctx: int) -> list[str]:
    return [sys.executable, "-m", "mustelid.bench_raw", mode, str(model), str(threads), str(n_ctx)]


def decode_rate(perf: dict[str, Any] | None) -> float | None:
    if not perf or not perf.get("decode_s"):
        return None
    return perf["decode_tokens"] / perf["decode_s"]


# -- the measurements --------------------------------------------------------------------------


def run(model: Path, threads: int, pairs: int = 5, n_ctx: int = 2048, images: list[Path] = (),
        log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    out: dict[str, Any] = {"machine": machine_facts(model, threads), "pairs": pairs}
    out["machine"]["loadavg_before"] = os.getloadavg()
    with bench_home(model, threads, n_ctx) as make:
        main = make("main")
        daemon_job(main, BENCH_TASK, params={"text": receipt_text(999)})   # load + warm
        out["p2"] = p2_decode(main, model, threads, n_ctx, pairs, log)
        out["p1"] = p1_oneshot(main, model, threads, n_ctx, pairs, log, closed=True)
        out["p1_open"] = p1_oneshot(main, model, threads, n_ctx, pairs, log, closed=False)
        out["p4"] = p4_receipts(main, images, log) if images else None
        out["p5"] = p5_prefix(main, make("noreuse", prefix_reuse=False), images, pairs, log)
        out["p3"] = p3_tiers(main, make("noprewarm", prewarm=False), pairs, log)
    out["machine"]["loadavg_after"] = os.getloadavg()
    return with_headline(out)


def p1_oneshot(sup, model, threads, n_ctx, pairs, log, closed: bool) -> dict[str, Any]:
    """A warm daemon job against a script that loads llama-cpp-python and runs the same
    messages and schema through ``create_chat_completion`` (its grammar), as one would write it.
    ``closed``: every value chosen from candidates (how the receipts task asks); otherwise free
    strings under patterns (the daemon then uses the grammar too: warm model and prefix only)."""
    daemon, oneshot, ratios = [], [], []
    task = CHOOSE_TASK if closed else BENCH_TASK
    daemon_job(sup, task, params={"text": receipt_text(990)})   # this task's prefix is cached
    for i in range(pairs):
        a, reply = daemon_job(sup, task, params={"text": receipt_text(i)})
        request = choose_request(receipt_text(i)) if closed else raw_request(i)
        started = time.perf_counter()
        done = subprocess.run(raw_cmd("oneshot", model, threads, n_ctx), capture_output=True,
                              text=True, input=json.dumps(request), timeout=600)
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


def p2_decode(sup, model, threads, n_ctx, pairs, log) -> dict[str, Any]:
    raw = subprocess.Popen(raw_cmd("serve", model, threads, n_ctx), stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    ours, theirs, ratios = [], [], []
    try:
        raw.stdout.readline()  # ready
        raw.stdin.write(json.dumps(raw_request(998)) + "\n")  # warm the raw side too
        raw.stdin.flush()
        raw.stdout.readline()
        for i in range(pairs):
            _, reply = daemon_job(sup, BENCH_TASK, params={"text": receipt_text(100 + i)})
            a = decode_rate(reply.get("stats", {}).get("perf"))
            raw.stdin.write(json.dumps(raw_request(100 + i)) + "\n")
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


def p3_tiers(sup, cold_sup, pairs, log) -> dict[str, Any]:
    rss_ratio, with_pw, without_pw, prewarm_s, faults = [], [], [], [], {"with": [], "without": []}
    sup.stop()  # fresh worker: nothing else may map the weights, or PAGEOUT skips those pages
    for variant, s, ratios in (("with", sup, with_pw), ("without", cold_sup, without_pw)):
        daemon_job(s, BENCH_TASK, params={"text": receipt_text(997)})
        for i in range(pairs):
            warm, reply = daemon_job(s, BENCH_TASK, params={"text": receipt_text(200 + i)})
            loaded_rss = reply["stats"]["worker"]["rss_mb"]
            released = tier_op(s, "release")
            if variant == "with":
                rss_ratio.append(released["rss_mb"] / loaded_rss)
                prewarm_s.append(tier_op(s, "prewarm").get("last_prewarm", {}).get("seconds"))
            cold, reply = daemon_job(s, BENCH_TASK, params={"text": receipt_text(300 + i)})
            faults[variant].append(reply["stats"].get("major_faults"))
            ratios.append(cold / warm)
            log(f"P3 {variant} prewarm pair {i + 1}: warm {warm:.2f}s, after release "
                f"{cold:.2f}s, rss {loaded_rss} -> {released['rss_mb']} MiB "
                f"(model resident {released.get('model_resident_pct')}%)")
        s.stop()
    return {"idle_rss_ratio": summary(rss_ratio), "first_job_ratio_prewarm": summary(with_pw),
            "first_job_ratio_no_prewarm": summary(without_pw), "prewarm_s": summary(prewarm_s),
            "major_faults_first_job": faults}


def p4_receipts(sup, images, log) -> dict[str, Any]:
    daemon_job(sup, "receipts", path=str(images[-1]), mime="image/jpeg")  # OCR engine load
    times, outcomes = [], []
    for img in images[:5]:
        t, reply = daemon_job(sup, "receipts", path=str(img), mime="image/jpeg")
        times.append(t)
        outcomes.append("done" if reply.get("ok") else reply.get("reason"))
        log(f"P4 {img.name}: {t:.2f}s ({outcomes[-1]})")
    return {"seconds": summary(times), "p50_s": summary(times)["median"], "outcomes": outcomes}


def p5_prefix(on, off, images, pairs, log) -> dict[str, Any]:
    tasks = [(BENCH_TASK, lambda i: {"params": {"text": receipt_text(400 + i)}})]
    if images:
        tasks.append(("receipts", lambda i: {"path": str(images[i % len(images)]),
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
            gen = lambda p: p["prefill_s"] + p["decode_s"]  # noqa: E731
            ratios.append(gen(b) / gen(a))
            reused.append(a["reused_tokens"])
            log(f"P5 {task} pair {i + 1}: reuse on {gen(a):.2f}s ({a['reused_tokens']} tokens "
                f"reused), off {gen(b):.2f}s")
        out[task] = {"speedup": summary(ratios), "reused_tokens": summary(reused)}
    off.stop()
    return out


CONTEXTS = [(2048, "f16", False), (4096, "f16", False), (8192, "f16", False),
            (4096, "f16", True), (4096, "q8_0", True), (8192, "q8_0", True), (4096, "q4_0", True)]


def context_costs(model: Path, threads: int, log: Callable[[str], None]) -> list[dict]:
    """Anonymous memory (and speed, for what one run is worth) of each context setting, each in
    a fresh process, on a receipt-sized prompt."""
    rows = []
    for n_ctx, kv, flash in CONTEXTS:
        done = subprocess.run(raw_cmd("context", model, threads, n_ctx) + [kv, str(int(flash))],
                              capture_output=True, text=True, input=json.dumps(raw_request(0)),
                              timeout=600)
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


def with_headline(out: dict[str, Any]) -> dict[str, Any]:
    def med(*keys):
        node = out
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        return node

    out.update(
        p1_daemon_vs_oneshot=med("p1", "ratio", "median"),
        p1_open_schema_ratio=med("p1_open", "ratio", "median"),
        p2_decode_ratio=med("p2", "ratio", "median"),
        p3_idle_rss_ratio=med("p3", "idle_rss_ratio", "median"),
        p3_first_job_ratio_prewarm=med("p3", "first_job_ratio_prewarm", "median"),
        p3_first_job_ratio_no_prewarm=med("p3", "first_job_ratio_no_prewarm", "median"),
        p4_receipt_p50_s=med("p4", "p50_s"),
        p5_prefix_reuse_speedup=med("p5", BENCH_TASK, "speedup", "median"),
    )
    return out


def machine_facts(model: Path, threads: int) -> dict[str, Any]:
    from mustelid.models import file_sha256

    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    facts = {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "os": platform.platform(),
             "python": platform.python_version(), "model": str(model),
             "model_sha256": file_sha256(model)}
    info = subprocess.run(
        [sys.executable, "-c", "import llama_cpp, json; print(json.dumps([llama_cpp.__version__,"
         " llama_cpp.llama_print_system_info().decode()]))"],
        capture_output=True, text=True)
    if info.returncode == 0:
        version, system = json.loads(info.stdout)
        facts.update(llama_cpp_python=version, llama_cpp_system_info=system.strip())
    return facts
