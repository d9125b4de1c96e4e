"""Quick field accuracy of the receipts task on the SROIE dev receipts (or any folder laid out
the same way: NNN.jpg + NNN.json with company/date/total).

Runs the task's own prepare / messages / schema / check with a minimal context, real RapidOCR,
and llama.cpp called directly (one process, greedy decoding), then scores:
  total   exact as a decimal      date   same calendar day      company  case/space-insensitive

    python examples/scripts/sroie_quick_eval.py /work/shared/data/sroie-dev \
        --model /work/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf --threads 1 \
        [--ids 000 001] [--json out.json] [--ocr-cache ocr.json]

OCR and generation seconds are reported separately. ``--ocr-cache FILE`` stores/reuses OCR lines
so prompt iterations do not pay for OCR again (timings then show the cached run's OCR seconds).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from mustelid.config import Config
from mustelid.ocr import OcrLine
from mustelid.plugins.receipts import Receipts
from mustelid.plugins.receipts.candidates import Row, find_dates
from mustelid.prompts import Prompts
from mustelid.tasks import Generation, JobInput, PermanentError, parse_output


def load_llama(model: str, threads: int, n_ctx: int):
    import llama_cpp

    # This CPU has AMX: llama.cpp's extra (repacking) buffers segfault on first decode (NOTES.md).
    # Llama() exposes no switch, so patch the defaults it starts from.
    original = llama_cpp.llama_cpp.llama_model_default_params

    def no_extra_bufts():
        params = original()
        params.use_extra_bufts = False
        return params

    llama_cpp.llama_cpp.llama_model_default_params = no_extra_bufts
    return llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_threads=threads, verbose=False, seed=0)


class MiniCtx:
    """The parts of the worker context the receipts task uses."""

    def __init__(self, ocr_cache: dict):
        self.config = Config()
        self.prompts = Prompts()
        self.ocr_cache = ocr_cache
        self.ocr_seconds = 0.0
        self._engine = None

    def load_image(self, path):
        from mustelid.imaging import load_image

        return load_image(path)

    def ocr(self, path):
        key = Path(path).name
        if key in self.ocr_cache:
            entry = self.ocr_cache[key]
            self.ocr_seconds = entry["seconds"]
        else:
            if self._engine is None:
                from mustelid.plugins.ocr_rapid import RapidOcrEngine

                self._engine = RapidOcrEngine()
                self._engine._get()  # build sessions outside the timed region
            t = time.perf_counter()
            lines = self._engine.read(path)
            self.ocr_seconds = time.perf_counter() - t
            entry = {"seconds": self.ocr_seconds, "lines": [l.to_dict() for l in lines]}
            self.ocr_cache[key] = entry
        return [OcrLine(d["text"], tuple(d["box"]), d["score"]) for d in entry["lines"]]

    def now(self):
        return dt.datetime.now().astimezone()


def generate(llm, messages, schema, max_tokens) -> Generation:
    t = time.perf_counter()
    out = llm.create_chat_completion(
        messages=messages,
        response_format={"type": "json_object", "schema": schema},
        max_tokens=max_tokens,
        temperature=0.0,
    )
    choice, usage = out["choices"][0], out["usage"]
    return Generation(
        text=choice["message"]["content"], finish_reason=choice["finish_reason"],
        prompt_tokens=usage["prompt_tokens"], completion_tokens=usage["completion_tokens"],
        seconds=time.perf_counter() - t,
    )


def norm_total(text: str) -> Decimal | None:
    try:
        return Decimal(re.sub(r"[^0-9.]", "", text or ""))
    except InvalidOperation:
        return None


def norm_date(text: str) -> str | None:
    found = find_dates([Row(text or "", [])])
    return found[0].value if found else None


def norm_company(text: str) -> str:
    return re.sub(r"\s+", "", (text or "").upper())


def run_one(task, llm, ctx, jpg: Path, max_tokens: int) -> dict:
    job = JobInput(id=jpg.stem, task="receipts", path=str(jpg))
    row = {"id": jpg.stem}
    try:
        evidence = task.prepare(job, ctx)
    except PermanentError as e:
        return {**row, "error": e.reason, "ocr_s": ctx.ocr_seconds}
    row["ocr_s"] = ctx.ocr_seconds
    # What the ranked candidates alone would answer (first of each): shows what the model adds.
    row["first"] = {
        "total": (evidence.data["totals"] or [None])[0],
        "date": (evidence.data["dates"] or [{}])[0].get("value"),
        "merchant": (evidence.data["merchants"] or [""])[0],
    }
    messages = task.messages(job, evidence, ctx)
    gen = generate(llm, messages, task.schema(evidence), max_tokens)
    row.update(gen_s=gen.seconds, prompt_tokens=gen.prompt_tokens,
               completion_tokens=gen.completion_tokens, raw=gen.text)
    try:
        result = parse_output(task.Output, gen)
        row["problems"] = task.check(result, evidence)
    except PermanentError as e:
        return {**row, "error": e.reason, "message": e.message}
    row["result"] = result.model_dump(mode="json", exclude={"provenance"})
    return row


def score(row: dict, truth: dict, key: str = "result") -> dict:
    got = row.get(key) or {}
    s = {}
    if norm_total(truth.get("total", "")) is not None:
        want = norm_total(truth["total"])
        s["total"] = got.get("total") is not None and Decimal(got["total"]) == want
    if norm_date(truth.get("date", "")):
        s["date"] = got.get("date") == norm_date(truth["date"])
    if truth.get("company"):
        s["company"] = norm_company(got.get("merchant", "")) == norm_company(truth["company"])
    return s


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--model", default="/work/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-ctx", type=int, default=4096)
    ap.add_argument("--ids", nargs="*")
    ap.add_argument("--ocr-cache", type=Path)
    ap.add_argument("--json", type=Path, help="write per-receipt rows here")
    args = ap.parse_args(argv)

    cached = args.ocr_cache and args.ocr_cache.exists()
    cache = json.loads(args.ocr_cache.read_text()) if cached else {}
    ctx, task = MiniCtx(cache), Receipts()
    llm = load_llama(args.model, args.threads, args.n_ctx)
    jpgs = sorted(args.folder.glob("*.jpg"))
    if args.ids:
        jpgs = [j for j in jpgs if j.stem in args.ids]
    rows, totals = [], {"total": [], "date": [], "company": []}
    baseline = {"total": [], "date": [], "company": []}
    for jpg in jpgs:
        row = run_one(task, llm, ctx, jpg, task.max_tokens)
        truth_file = jpg.with_suffix(".json")   # absent for non-receipts: nothing to score
        truth = json.loads(truth_file.read_text()) if truth_file.exists() else {}
        row["truth"] = {k: truth.get(k) for k in ("company", "date", "total")}
        row["score"] = score(row, truth)
        for k, v in score(row, truth, "first").items():
            baseline[k].append(v)
        for k, v in row["score"].items():
            totals[k].append(v)
        rows.append(row)
        got = row.get("result") or {}
        marks = " ".join(f"{k}={'ok' if v else 'NO'}" for k, v in row["score"].items())
        print(f"{row['id']} ocr {row.get('ocr_s', 0):.2f}s gen {row.get('gen_s', 0):.2f}s "
              f"({row.get('prompt_tokens', 0)}+{row.get('completion_tokens', 0)} tok) {marks} "
              f"| {got.get('merchant')!r} {got.get('date')} {got.get('total')} "
              f"{row.get('error', '')} {row.get('problems') or ''}", flush=True)
    llm.close()
    if args.ocr_cache:
        args.ocr_cache.write_text(json.dumps(cache))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))

    n = len(rows)
    print(f"\n{n} receipts")
    for k, v in totals.items():
        print(f"  {k:8s} {sum(v)}/{len(v)} = {sum(v) / max(len(v), 1):.1%}")
    print("  first-ranked candidates alone (no model): " + ", ".join(
        f"{k} {sum(v)}/{len(v)}" for k, v in baseline.items()))
    means = [sum(v) / len(v) for v in totals.values() if v]
    if means:
        print(f"  mean     {sum(means) / len(means):.1%}")
    ocr = [r["ocr_s"] for r in rows if "ocr_s" in r]
    gen = [r["gen_s"] for r in rows if "gen_s" in r]
    ptok = [r["prompt_tokens"] for r in rows if "prompt_tokens" in r]
    ctok = [r["completion_tokens"] for r in rows if "completion_tokens" in r]
    print(f"  OCR s/receipt {sum(ocr) / max(len(ocr), 1):.2f}  generation s/receipt "
          f"{sum(gen) / max(len(gen), 1):.2f}  (mean {sum(ptok) / max(len(ptok), 1):.0f} prompt + "
          f"{sum(ctok) / max(len(ctok), 1):.0f} completion tokens)")
    failed = [r["id"] for r in rows if r.get("error") or r.get("problems")]
    print(f"  rejected by prepare/parse/check: {len(failed)} {failed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
