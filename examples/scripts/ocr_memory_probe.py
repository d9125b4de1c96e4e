"""Peak memory (VmHWM) of RapidOCR in a fresh process, for issue 14's P7 (worker peak RSS).

    flock /tmp/mustelid-cpu.lock python examples/scripts/ocr_memory_probe.py \
        --max-side 2000 [--arena] [--no-mem-pattern] [--model GGUF] DATA/sroie-dev/023.jpg ...

Prints one JSON line: VmHWM / VmRSS / anonymous MiB after OCR of the images (and after loading
``--model`` and one short generation, if given), seconds per image, and for SROIE images with a
``.json`` beside them how many ground-truth totals and dates appear verbatim in the OCR text.
Run one setting per process: VmHWM never goes down.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def mem() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmHWM", "VmRSS", "RssAnon")):
            key, value = line.split(":")
            out[key] = round(int(value.split()[0]) / 1024, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("images", nargs="+", type=Path)
    ap.add_argument("--max-side", type=int, default=2000, help="rapidocr Global.max_side_len")
    ap.add_argument("--arena", action="store_true", help="onnxruntime enable_cpu_mem_arena")
    ap.add_argument("--no-mem-pattern", action="store_true", help="enable_mem_pattern off")
    ap.add_argument("--model", type=Path, help="also load this GGUF and generate a little")
    args = ap.parse_args()
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    from PIL import Image
    from rapidocr import RapidOCR
    from rapidocr.inference_engine.onnxruntime import main as ort_main

    make_opts = ort_main.OrtInferSession._init_sess_opts

    def session_options(cfg):
        opts = make_opts(cfg)
        opts.enable_cpu_mem_arena = args.arena
        opts.enable_mem_pattern = not args.no_mem_pattern
        return opts

    ort_main.OrtInferSession._init_sess_opts = staticmethod(session_options)
    engine = RapidOCR(params={"Global.log_level": "warning", "Global.max_side_len": args.max_side,
                              "EngineConfig.onnxruntime.intra_op_num_threads": 2,
                              "EngineConfig.onnxruntime.inter_op_num_threads": 1})
    verbatim = checked = 0
    started = time.perf_counter()
    for path in args.images:
        text = " ".join(engine(Image.open(path).convert("RGB")).txts or ())
        truth = path.with_suffix(".json")
        if truth.is_file():
            fields = json.loads(truth.read_text())
            for key in ("total", "date"):
                if fields.get(key):
                    checked += 1
                    verbatim += str(fields[key]) in text
    out = {"max_side_len": args.max_side, "arena": args.arena,
           "mem_pattern": not args.no_mem_pattern,
           "s_per_image": round((time.perf_counter() - started) / len(args.images), 2),
           "truth_verbatim": f"{verbatim}/{checked}", "after_ocr": mem()}
    if args.model:
        from mustelid.plugins.llama_cpp.loading import load_llama

        llm = load_llama(args.model, n_ctx=2048, threads=2, verbose=False)
        llm.create_completion("Receipt: SHOP A TOTAL 12.30\n" * 40 + "Total:", max_tokens=8)
        out["after_model"] = mem()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
