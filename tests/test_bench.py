"""`mustelid bench --quick` end to end on the tiny GGUF: every measurement runs and the JSON has
the documented shape. Speed targets are judged by the benchmark itself, never here."""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mustelid.bench.contexts import CONTEXTS
from mustelid.bench.measures import summary
from mustelid.bench.sides import task_request
from mustelid.bench.task import (
    EXTRACT_TASK,
    MAX_TOKENS,
    SCHEMA,
    SYSTEM,
    BenchChoose,
    BenchExtract,
    choose_request,
)
from mustelid.bench.workload import SHOPS, receipt_text

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HEADLINE = ("p1_daemon_vs_oneshot", "p2_decode_ratio", "p3_idle_rss_ratio",
            "p3_first_job_ratio_prewarm", "p3_first_job_ratio_no_prewarm", "p4_receipt_p50_s",
            "p5_prefix_reuse_speedup")


def test_summary_is_median_min_max_and_skips_missing_values():
    assert summary([3.0, 1.0, None, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert summary([None]) == {"median": None, "min": None, "max": None, "n": 0}


def test_bench_jobs_differ_so_only_the_shared_prefix_can_be_reused():
    texts = {receipt_text(i) for i in range(50)}
    assert len(texts) == 50
    assert all("TOTAL RM" in t for t in texts)


def test_the_closed_bench_request_offers_what_is_printed():
    text = receipt_text(3)
    request = choose_request(text)
    props = request["schema"]["properties"]
    total = text.split("TOTAL RM ")[1].splitlines()[0]
    assert total in props["total"]["enum"] and props["merchant"]["enum"][0] == SHOPS[3]
    assert len(props["date"]["anyOf"][0]["enum"]) == 1
    from mustelid.plugins.llama_cpp.choices import compile_schema

    assert compile_schema(request["schema"]) is not None   # the daemon decodes it by choices


def test_the_raw_side_is_asked_exactly_what_the_task_asks():
    text = receipt_text(5)
    assert task_request(BenchExtract(), text) == {
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        "schema": SCHEMA, "max_tokens": MAX_TOKENS}
    assert task_request(BenchChoose(), text) == choose_request(text)


def test_the_image_task_is_the_one_named_or_the_first_declared_workload():
    from types import SimpleNamespace

    import click

    from mustelid.cli.bench import _image_task

    class Workload(BenchExtract):
        name, bench_workload = "workload", True

    notes = []
    state = SimpleNamespace(host=SimpleNamespace(tasks={"plain": BenchExtract(),
                                                        "workload": Workload()}))
    images = [Path("a.jpg")]
    assert _image_task(state, None, images, notes.append) == "workload"
    assert _image_task(state, "plain", images, notes.append) == "plain"
    assert _image_task(state, None, [], notes.append) is None     # no images: nothing to time
    with pytest.raises(click.ClickException, match="unknown task 'nope'"):
        _image_task(state, "nope", images, notes.append)
    state.host.tasks.pop("workload")
    assert _image_task(state, None, images, notes.append) is None
    assert notes and "--task" in notes[-1]


def test_p10_inputs_are_spread_over_each_tasks_bench_folder(tmp_path):
    from types import SimpleNamespace

    from mustelid.cli.bench import task_inputs

    (tmp_path / "shots").mkdir()
    for i in range(1, 21):
        (tmp_path / "shots" / f"s{i:02}.png").write_bytes(b"x")
    (tmp_path / "shots" / "s01.json").write_text("{}")
    tasks = {"shots": SimpleNamespace(bench_inputs="shots"), "other": SimpleNamespace(
        bench_inputs=None), "gone": SimpleNamespace(bench_inputs="missing")}
    picked = task_inputs(tasks, tmp_path, 4)
    assert list(picked) == ["shots"]                  # no folder, or none named: not measured
    names = [p.name for p in picked["shots"]]
    assert names[0] == "s01.png" and len(names) == 5 and len(set(names)) == 5
    assert names[-1] in ("s18.png", "s19.png", "s20.png")   # spread to the end, not the first
    assert task_inputs(tasks, tmp_path, 0) == {}


def test_bench_quick_json_on_the_tiny_model(home, tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    from tinygguf import write_tiny_gguf

    model = write_tiny_gguf(tmp_path / "tiny.gguf", n_embd=128, n_ff=128)
    with open(model, "rb") as f:
        os.fsync(f.fileno())
    proc = subprocess.run(
        [sys.executable, "-m", "mustelid", "bench", "--quick", "--json", "--model", str(model),
         "--threads", "1", "--n-ctx", "2048", "--inputs", "1"],
        capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    for key in HEADLINE:
        assert key in out
    for key in HEADLINE[:5]:
        assert isinstance(out[key], numbers.Real) and out[key] > 0, (key, out[key])
    assert out["p4_receipt_p50_s"] is None                      # --quick skips OCR
    # P10: one real input per task that names a dev folder, through the worker (the tiny model
    # answers nonsense, so only that each job ended and was timed is checked here)
    if (DATA / "screens-dev").is_dir() and (DATA / "notes-dev").is_dir():
        assert set(out["p10"]) == {"screenshots", "todos"}
        for task, m in out["p10"].items():
            assert m["seconds"]["n"] == 1 and m["seconds"]["median"] > 0 and len(m["outcomes"]) == 1
        assert out["p10"]["screenshots"]["target_p50_s"] == 4.0
        assert set(out["p10_p50_s"]) == {"screenshots", "todos"}
    assert isinstance(out["p5_prefix_reuse_speedup"], numbers.Real)
    assert out["pairs"] == 2 and out["p1"]["ratio"]["n"] == 2
    assert out["p1_open"]["ratio"]["n"] == 2 and out["p1_open_schema_ratio"] > 0
    m = out["machine"]
    assert m["model_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert len(m["loadavg_before"]) == 3 and len(m["loadavg_after"]) == 3
    assert m["threads"] == 1 and m["cpu"] and m["llama_cpp_python"]
    # prefix reuse really happened on the "on" side: the system prompt was not evaluated again
    assert out["p5"][EXTRACT_TASK]["reused_tokens"]["min"] > 20


def test_bench_contexts_measures_each_setting_in_a_fresh_process(home, tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    from tinygguf import write_tiny_gguf

    # head size 64: quantized KV blocks (32 values) need heads at least that wide
    model = write_tiny_gguf(tmp_path / "tiny.gguf", n_embd=128, n_ff=128)
    proc = subprocess.run(
        [sys.executable, "-m", "mustelid", "bench", "--contexts", "--json", "--model",
         str(model), "--threads", "1"],
        capture_output=True, text=True, timeout=600, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {(r["n_ctx"], r["kv"], r["flash_attn"]): r for r in json.loads(proc.stdout)}
    assert set(rows) == set(CONTEXTS)
    assert all(r["anon_mb"] > 0 and r["prefill_tokens"] > 0 for r in rows.values())
    # a bigger KV cache is anonymous memory that only freeing gives back
    assert rows[(8192, "f16", False)]["anon_mb"] > rows[(2048, "f16", False)]["anon_mb"]


DAEMON_HEADLINE = ("p6_root_receipt_p50_s", "p6_receipts_folder_p50_s", "p7_worker_peak_rss_mb",
                   "p8_burst_files_per_min", "p8_burst_lost", "p9_cold_start_s",
                   "p9_warm_start_s")


def test_bench_daemon_quick_json_on_the_fake_backend(fake_home, tmp_path):
    """P6-P9 through a real `mustelid run` (fake backend, text files as the three kinds): every
    figure is there, every dropped file was processed, none lost."""
    data = tmp_path / "data"
    for kind in ("sroie-dev", "screens-dev", "notes-dev"):
        (data / kind).mkdir(parents=True)
        for i in range(4):
            (data / kind / f"{i}.txt").write_text(f"{kind} file {i}")
            (data / kind / f"{i}.json").write_text("{}")       # ground truth: never dropped
    model = tmp_path / "model.gguf"
    model.write_bytes(os.urandom(65536))                        # only its page cache is dropped
    proc = subprocess.run(
        [sys.executable, "-m", "mustelid", "bench", "--daemon", "--quick", "--json",
         "--model", str(model), "--data", str(data)],
        capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    for key in DAEMON_HEADLINE:
        assert key in out
    for key in ("p6_root_receipt_p50_s", "p6_receipts_folder_p50_s", "p7_worker_peak_rss_mb",
                "p8_burst_files_per_min", "p9_cold_start_s", "p9_warm_start_s"):
        assert isinstance(out[key], numbers.Real) and out[key] > 0, (key, out[key])
    assert [r["where"] for r in out["p6"]["runs"]] == ["root", "receipts/"]
    assert all(r["done"] for r in out["p6"]["runs"]), out["p6"]["runs"]
    # copied in place, so each was taken at its writer's close, not after the 2 s window
    assert out["p6"]["ready_by"] == {"ready_by_close": 3, "ready_by_window": 0}, out["p6"]
    assert out["p8"]["files"] == 6 and out["p8_burst_lost"] == 0
    assert out["p8"]["job_states"] == {"done": 6}
    # where the burst's time went, by the data folder each file came from
    by_source = out["p8"]["job_s_by_source"]
    assert set(by_source) <= {"sroie-dev", "screens-dev", "notes-dev"} and by_source
    assert sum(v["n"] for v in by_source.values()) == 6
    assert out["p9"]["cold_s"]["n"] == 1 and out["p9"]["warm_s"]["n"] == 1
    assert len(out["machine"]["loadavg_after"]) == 3


def test_bench_only_rejects_a_measure_it_does_not_have(fake_home):
    proc = subprocess.run([sys.executable, "-m", "mustelid", "bench", "--only", "p6,p1"],
                          capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert proc.returncode != 0 and "--only" in proc.stderr and "p6, p7, p8, p9" in proc.stderr
