"""Memory facts and tiers: paging a file mapping out and back, the budget guard, idle release and
unload of the model worker, and what `mustelid status` reports."""

from __future__ import annotations

import json
import mmap
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from conftest import write_config

from mustelid import runtime

linux_only = pytest.mark.skipif(sys.platform != "linux", reason="/proc, mincore, MADV_PAGEOUT")


def _kernel_at_least(major: int, minor: int) -> bool:
    try:
        parts = os.uname().release.split(".")
        return (int(parts[0]), int(parts[1].split("-")[0])) >= (major, minor)
    except (ValueError, IndexError):
        return False


pageout_kernel = pytest.mark.skipif(not _kernel_at_least(5, 14),
                                    reason="MADV_PAGEOUT needs 5.4, MADV_POPULATE_READ 5.14")


@pytest.fixture
def mapped_file(tmp_path):
    """A 32 MiB file of our own (nobody else maps it), mapped and fully touched."""
    path = tmp_path / "weights.bin"
    with open(path, "wb") as f:
        f.write(os.urandom(1 << 20) * 32)
        f.flush()
        os.fsync(f.fileno())   # clean pages: reclaim must not need writeback
    f = open(path, "rb")
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    for off in range(0, len(m), mmap.PAGESIZE):
        m[off]
    yield path, m
    m.close()
    f.close()


@linux_only
def test_file_ranges_find_the_mapping_by_inode_not_by_spelling(mapped_file, tmp_path):
    path, m = mapped_file
    link = tmp_path / "link.bin"
    link.symlink_to(path)
    ranges = runtime.file_ranges(link)
    assert sum(r.length for r in ranges) == len(m)
    assert runtime.file_ranges(tmp_path / "absent") == []


@linux_only
@pageout_kernel
def test_page_out_drops_residency_and_prewarm_brings_it_back(mapped_file):
    path, m = mapped_file
    ranges = runtime.file_ranges(path)
    resident, total = runtime.residency(ranges)
    assert resident == total == len(m)
    file_before = runtime.rss_split()["file"]

    assert runtime.page_out(ranges) == 0
    resident, _ = runtime.residency(ranges)
    assert resident < total * 0.2, "MADV_PAGEOUT left the mapping resident"
    assert runtime.rss_split()["file"] < file_before - 16 * runtime.MiB

    warm = runtime.prewarm(path, ranges)
    assert warm["bytes"] == total and warm["populated"]
    resident, _ = runtime.residency(ranges)
    assert resident == total
    faults = runtime.major_faults()
    for off in range(0, len(m), mmap.PAGESIZE):
        m[off]
    assert runtime.major_faults() - faults == 0


def test_mem_available_reads_meminfo(tmp_path):
    fake = tmp_path / "meminfo"
    fake.write_text("MemTotal:       1000 kB\nMemAvailable:     2048 kB\n")
    assert runtime.mem_available(fake) == 2048 * 1024


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_cgroup_headroom_takes_the_tightest_limit_and_discounts_inactive_cache(
        tmp_path, monkeypatch, version):
    root = tmp_path / "cg"
    if version == "v2":
        leaf = root / "app" / "svc"
        files = ("memory.max", "memory.current", "inactive_file")
        (root / "cgroup.controllers").parent.mkdir(parents=True)
        (root / "cgroup.controllers").write_text("memory\n")
        line = "0::/app/svc\n"
    else:
        leaf = root / "memory" / "app" / "svc"
        files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        line = "4:memory:/app/svc\n"
    leaf.mkdir(parents=True)
    limit, usage, inactive = files
    (leaf / limit).write_text("max\n" if version == "v2" else str(1 << 62))
    (leaf / usage).write_text(str(300 << 20))
    (leaf.parent / limit).write_text(str(1000 << 20))      # the parent's limit applies
    (leaf.parent / usage).write_text(str(600 << 20))
    (leaf.parent / "memory.stat").write_text(f"{inactive} {100 << 20}\n")
    real_read = Path.read_text

    def read_text(self, *a, **kw):
        return line if str(self) == "/proc/self/cgroup" else real_read(self, *a, **kw)

    monkeypatch.setattr(Path, "read_text", read_text)
    found = runtime.cgroup_headroom(root)
    assert found == {"limit": 1000 << 20, "usage": 600 << 20, "available": 500 << 20}


def test_check_budget():
    MiB = runtime.MiB
    assert runtime.check_budget(500 * MiB, 100 * MiB, 1000 * MiB) is None
    assert runtime.check_budget(0, 100 * MiB, 10 * MiB) is None          # nothing new needed
    assert runtime.check_budget(500 * MiB, 100 * MiB, None) is None       # unknown: do not block
    why = runtime.check_budget(950 * MiB, 100 * MiB, 1000 * MiB)
    assert "950 MiB" in why and "1,000 MiB" in why


# -- the budget guard in the daemon ------------------------------------------------------------


def test_budget_guard_holds_a_job_in_waiting_then_lets_it_run(fake_home, tmp_path, monkeypatch):
    from mustelid.config import load_config
    from mustelid.host import Host
    from mustelid.home import open_store
    from mustelid.runner import Daemon

    model = tmp_path / "big.gguf"
    with open(model, "wb") as f:
        f.truncate(600 << 20)              # sparse: a 600 MiB "model" that costs no disk
    write_config(fake_home, f"""
[model]
backend = "fake"
path = "{model.as_posix()}"
[inbox]
stable_seconds = 0
default_tasks = ["echo"]
[jobs]
timeout_seconds = 5
""")
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemAvailable: {400 * 1024} kB\n")   # 400 MiB: cannot hold 600 MiB
    monkeypatch.setattr(runtime, "MEMINFO", meminfo)
    monkeypatch.setattr(runtime, "cgroup_headroom", lambda root=None: None)
    (fake_home / "inbox").mkdir(exist_ok=True)
    (fake_home / "inbox" / "a.txt").write_text("hello budget")

    cfg = load_config()
    assert cfg.model.path == model
    Daemon(cfg, Host(cfg.plugins_path), once=True).run()
    _, ledger = open_store(cfg, Host(cfg.plugins_path))
    job = ledger.list()[0]
    assert job["state"] == "waiting" and job["reason"] == "memory_budget", job
    assert job["attempts"] == 0 and "MiB" in job["last_error"]

    meminfo.write_text(f"MemAvailable: {8 * 1024 * 1024} kB\n")   # memory freed
    ledger.retry(job["id"])
    Daemon(cfg, Host(cfg.plugins_path), once=True).run()
    assert ledger.get(job["id"])["state"] == "done"


# -- tiers in the real worker process, with the tiny GGUF ----------------------------------------


@pytest.fixture
def tiny_home(fake_home, tmp_path):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    from tinygguf import write_tiny_gguf

    # 64 MiB of embeddings, so the mapping spans enough pages to see paging at work
    gguf = write_tiny_gguf(tmp_path / "tiny.gguf", n_embd=256, n_ff=256)
    with open(gguf, "rb") as f:
        os.fsync(f.fileno())   # dirty page cache cannot be paged out without writeback
    write_config(fake_home, f"""
[model]
backend = "llama_cpp"
path = "{gguf}"
threads = 1
idle_release = 0.5
idle_unload = 3
[backend.llama_cpp]
n_ctx = 2048
[jobs]
timeout_seconds = 30
""")
    return fake_home


def _pump(sup, until, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sup.tend_idle()
        if until():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; stats={sup.last_stats}")


@linux_only
@pageout_kernel
def test_worker_prewarms_releases_unloads_and_restarts_for_the_next_job(tiny_home):
    from mustelid.config import load_config
    from mustelid.supervisor import Supervisor
    from mustelid.tasks import JobInput

    cfg = load_config()
    sup = Supervisor(str(cfg.config_path), model=cfg.model)
    try:
        assert sup.tier == "unloaded" and not sup.alive
        sup.wake()                                  # a job is on its way: load the model
        _pump(sup, lambda: sup.tier == "loaded" and "model_mb" in sup.last_stats,
              what="prewarm to load the model")
        assert sup.last_stats["model_resident_pct"] > 90
        sup.idle_since = time.monotonic()
        _pump(sup, lambda: sup.tier == "released", what="idle release")
        assert sup.last_stats["last_release"]["released"] is True
        assert sup.last_stats["model_resident_pct"] < 50
        assert sup.alive, "tier 1 keeps the worker"
        assert sup.need_bytes() > 0                 # coming back costs memory again

        sup.wake()                                  # read the weights back in
        _pump(sup, lambda: sup.tier == "loaded", what="prewarm after release")
        assert sup.last_stats["model_resident_pct"] > 90
        assert sup.last_stats["last_prewarm"]["major_faults"] >= 0

        pid = sup.proc.pid
        sup.idle_since = time.monotonic()
        _pump(sup, lambda: not sup.alive, timeout=20, what="idle unload")
        assert sup.tier == "unloaded"
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)                          # the worker exited: its memory is back

        job = tiny_home / "later.txt"
        job.write_text("a job after unload")
        sup.submit(JobInput(id="J1", task="echo", path=str(job), mime="text/plain"))
        assert sup.alive and sup.proc.pid != pid     # a later job restarts the worker
        reply = None
        deadline = time.monotonic() + 60
        while reply is None and time.monotonic() < deadline:
            reply = sup.poll(0.2)
        assert reply is not None and reply["op"] == "job"
        # noise weights under the grammar: valid JSON, maybe not a valid EchoOut; either way
        # the job reached the model
        assert reply["ok"] or reply["reason"] in ("schema_violation", "check_failed"), reply
        assert "major_faults" in reply["stats"] and reply["stats"]["worker"]["tier"] == "loaded"
    finally:
        sup.stop()


# -- mustelid status ---------------------------------------------------------------------------


def test_status_json_reports_memory_fields(fake_home):
    from daemonproc import DaemonProcess, cli_json, wait_for

    stopped = cli_json("status")["memory"]
    assert stopped["tier"] == "unloaded" and stopped["available_mb"] > 0
    for key in ("rss_anon_mb", "rss_file_mb", "model_resident_pct", "major_faults_last_job"):
        assert key in stopped
    d = DaemonProcess(fake_home)
    try:
        (fake_home / "inbox").mkdir(exist_ok=True)
        (fake_home / "inbox" / "x.txt").write_text("hello status")
        wait_for(lambda: cli_json("status")["jobs"]["done"] == 1, timeout=60, what="job done")
        mem = wait_for(lambda: (m := cli_json("status")["memory"])["tier"] == "loaded" and m,
                       timeout=30, what="status to show the loaded worker")
        assert mem["rss_anon_mb"] > 0 and mem["rss_file_mb"] > 0
        assert mem["major_faults_last_job"] is not None
    finally:
        d.stop()


# -- the real model ----------------------------------------------------------------------------


@pytest.mark.real
@linux_only
@pageout_kernel
def test_real_model_release_drops_residency_and_prewarm_avoids_major_faults(real_model, tmp_path):
    from mustelid.backend import BackendContext
    from mustelid.config import Config
    from mustelid.plugins.llama_cpp import LlamaCppBackend

    # A private copy: MADV_PAGEOUT skips pages that another process (another test run) maps.
    copy = tmp_path / real_model.name
    shutil.copyfile(real_model, copy)
    with open(copy, "rb") as f:
        os.fsync(f.fileno())   # dirty page cache cannot be paged out without writeback
    cfg = Config()
    cfg.model.path = copy
    cfg.model.threads = 1
    cfg.backend["llama_cpp"] = {"n_ctx": 1024}
    b = LlamaCppBackend(BackendContext.from_config(cfg))
    messages = [{"role": "system", "content": "Extract the receipt as JSON."},
                {"role": "user", "content": "BLUE FOX CAFE\nTOTAL EUR 7.30"}]
    schema = {"type": "object", "properties": {"total": {"type": "string", "maxLength": 8}},
              "required": ["total"]}
    try:
        b.generate(messages, schema, 24)
        loaded = b.memory()
        assert loaded["model_resident_bytes"] > 0.95 * loaded["model_bytes"]
        file_before = runtime.rss_split()["file"]

        out = b.release()
        assert out["released"], out
        assert out["resident_after"] < 0.2 * out["mapped"], out
        assert runtime.rss_split()["file"] < file_before - 300 * runtime.MiB

        warm = b.prewarm()
        assert warm["populated"] and b.memory()["model_resident_bytes"] > 0.95 * out["mapped"]
        faults = runtime.major_faults()
        b.llm.reset()                       # a full prefill + decode touches every weight
        gen = b.generate(messages, schema, 24)
        assert gen.finish_reason == "stop"
        assert runtime.major_faults() - faults <= 2
    finally:
        b.close()
    print(json.dumps({"release": out, "prewarm": warm}))


# -- context sizing and prefix reuse in the llama backend -----------------------------------------


def _tiny_backend(tmp_path, **settings):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    from tinygguf import write_tiny_gguf

    from mustelid.backend import BackendContext
    from mustelid.config import Config
    from mustelid.plugins.llama_cpp import LlamaCppBackend

    cfg = Config()
    cfg.model.path = write_tiny_gguf(tmp_path / "tiny.gguf")
    cfg.model.threads = 1
    cfg.backend["llama_cpp"] = settings
    return LlamaCppBackend(BackendContext.from_config(cfg))


SHARED = "Fill_the_note." * 20             # 280 byte tokens every job shares (no spaces:
                                             # the tiny vocabulary spends 3 tokens on each)
NOTE_SCHEMA = {"type": "object", "properties": {"t": {"type": "string", "maxLength": 4}},
               "required": ["t"], "additionalProperties": False}


def _ask(text):
    return [{"role": "system", "content": SHARED}, {"role": "user", "content": text}]


def test_context_grows_in_steps_to_fit_and_refuses_beyond_the_maximum(tmp_path):
    from mustelid import PermanentError

    b = _tiny_backend(tmp_path, n_ctx_min=256, n_ctx=2048)
    try:
        assert b.llm.n_ctx() == 256
        sizes = []
        for text in ("short", "x" * 400, "short"):
            need = b.count_prompt_tokens(_ask(text)) + 40
            b.generate(_ask(text), NOTE_SCHEMA, 40)
            sizes.append(b.llm.n_ctx())
            assert need <= b.llm.n_ctx()
            if len(sizes) < 3:
                assert b.llm.n_ctx() < 2 * need          # the smallest step that fits
        assert sizes[0] < sizes[1] == sizes[2], sizes     # grows on need, never shrinks
        assert all(n in (256, 512, 1024, 2048) for n in sizes) and b.context_reloads == 2
        with pytest.raises(PermanentError) as e:
            b.generate(_ask("y" * 1800), NOTE_SCHEMA, 40)
        assert e.value.reason == "input_too_long" and b.llm.n_ctx() == 1024
    finally:
        b.close()


@pytest.mark.parametrize("reuse", [True, False])
def test_jobs_sharing_a_prefix_only_prefill_their_own_part(tmp_path, reuse):
    b = _tiny_backend(tmp_path, n_ctx=1024, n_ctx_min=1024, prefix_reuse=reuse)
    try:
        b.generate(_ask("first job's evidence"), NOTE_SCHEMA, 20)
        gen = b.generate(_ask("second, different evidence"), NOTE_SCHEMA, 20)
        perf = b.last_perf
        if reuse:
            assert perf["reused_tokens"] > 280, perf        # the shared system prompt
            assert perf["prefill_tokens"] < 60, perf
        else:
            assert perf["reused_tokens"] == 0 and perf["prefill_tokens"] == gen.prompt_tokens
    finally:
        b.close()


def _ask_other(text):
    return [{"role": "system", "content": "Other_task." * 20}, {"role": "user", "content": text}]


def _turns(b):
    """Two tasks taking turns, as in a burst of mixed files: what the last job reused, and
    every answer."""
    answers = [b.generate(ask(text), NOTE_SCHEMA, 20).text for ask, text in
               ((_ask, "first receipt"), (_ask_other, "a screen"), (_ask, "second receipt"),
                (_ask_other, "another screen"))]
    return b.last_perf, answers


@pytest.mark.parametrize("slots", [3, 0])
def test_tasks_taking_turns_find_their_prefix_on_the_shelf(tmp_path, slots):
    b = _tiny_backend(tmp_path, n_ctx=1024, n_ctx_min=1024, prefix_slots=slots)
    try:
        perf, _ = _turns(b)
        memory = b.memory()
        if slots:
            assert perf["reused_tokens"] > 200 and perf["prefill_tokens"] < 60, perf
            assert memory["contexts_restored"] == 2 and memory["shelved_contexts"] == 2
            b.release()
            assert b.memory()["shelved_bytes"] == 0      # nothing kept aside at rest
        else:
            assert perf["reused_tokens"] < 20, perf     # the chat template's opening only
            assert memory["contexts_restored"] == 0 and memory["shelved_bytes"] == 0
    finally:
        b.close()


def test_the_shelf_keeps_within_its_byte_budget(tmp_path):
    b = _tiny_backend(tmp_path, n_ctx=1024, n_ctx_min=1024)
    try:
        _turns(b)
        sizes = [s.nbytes for s in b.shelf.kept]
        assert len(sizes) == 2
        b.shelf.max_bytes = max(sizes) + min(sizes) // 2    # room for one context, not two
        b.generate(_ask("third receipt"), NOTE_SCHEMA, 20)
        assert b.last_perf["reused_tokens"] > 200           # still restored...
        assert len(b.shelf.kept) == 1 and b.shelf.nbytes <= b.shelf.max_bytes   # ...within budget
        b.shelf.clear()
        b.shelf.max_bytes = min(sizes) // 2          # a context larger than the budget: not kept
        b.generate(_ask_other("a screen again"), NOTE_SCHEMA, 20)
        assert b.shelf.kept == []
    finally:
        b.close()


def test_a_restored_context_gives_the_answers_a_fresh_one_gives(tmp_path):
    answers = []
    for slots in (3, 0):
        b = _tiny_backend(tmp_path, n_ctx=1024, n_ctx_min=1024, prefix_slots=slots)
        try:
            answers.append(_turns(b)[1])
        finally:
            b.close()
    assert answers[0] == answers[1]


# A child process that frees 2 MiB buffers below a live one, after one freed 4 MiB buffer has
# raised glibc's dynamic mmap threshold, and prints the anonymous KiB the frees gave back.
_HEAP_CHILD = r"""
import ctypes, sys
from pathlib import Path
from mustelid import runtime
def anon():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if "keep" in sys.argv:
    assert runtime.keep_heap_small()
libc.free(libc.malloc(4 << 20))
big = []
for _ in range(64):
    p = libc.malloc(2 << 20)
    ctypes.memset(p, 1, 2 << 20)           # resident, as an image or a tensor is
    big.append(p)
top = libc.malloc(1 << 20)   # still live and, by default, carved after them: the heap cannot shrink
before = anon()
for p in big:
    libc.free(p)
trimmed = runtime.trim_heap() if "trim" in sys.argv else None
print(before - anon(), trimmed)
"""


def _freed_kib(*flags: str) -> tuple[int, str]:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", _HEAP_CHILD, *flags], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return int(out[0]), out[1]


@pytest.mark.skipif(sys.platform != "linux" or os.confstr("CS_GNU_LIBC_VERSION") is None,
                    reason="glibc malloc")
def test_keep_heap_small_gives_freed_buffers_back_and_trim_heap_does_after_the_fact():
    # 64 x 2 MiB = 128 MiB freed. glibc's default keeps it (the dynamic threshold put the
    # buffers in the heap, the live block above them stops it shrinking); the fixed threshold
    # or a trim returns it.
    assert _freed_kib()[0] < 32 << 10
    assert _freed_kib("keep")[0] > 120 << 10
    freed, trimmed = _freed_kib("trim")
    assert freed > 120 << 10 and trimmed == "True"


def test_keep_heap_small_leaves_a_threshold_the_user_chose(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert runtime.keep_heap_small() is False


@pytest.mark.parametrize("small_heap, calls", [(True, ["keep"]), (False, [])])
def test_the_worker_fixes_the_heap_threshold_before_anything_loads_when_asked(
        fake_home, monkeypatch, small_heap, calls):
    from mustelid.config import load_config
    from mustelid.host import Host
    from mustelid.worker import WorkerContext

    made = []
    monkeypatch.setattr(runtime, "keep_heap_small", lambda: made.append("keep") or True)
    config = load_config()
    config.model.small_heap = small_heap
    WorkerContext(config, Host())
    assert made == calls


def _mapped_rss(ranges) -> int:
    """Bytes of ``ranges`` in this process's page tables (/proc/self/smaps), unlike
    ``residency``, which asks the page cache."""
    starts = {r.start for r in ranges}
    total, inside = 0, False
    for line in open("/proc/self/smaps"):
        head = line.split(maxsplit=1)[0]
        if "-" in head and not head.endswith(":"):
            inside = int(head.split("-")[0], 16) in starts
        elif inside and head == "Rss:":
            total += int(line.split()[1]) * 1024
    return total


@linux_only
@pageout_kernel
def test_unmap_leaves_our_rss_but_not_the_page_cache_and_populate_maps_it_back(mapped_file):
    path, m = mapped_file
    ranges = runtime.file_ranges(path)
    assert _mapped_rss(ranges) == len(m)

    assert runtime.unmap(ranges) == 0
    assert _mapped_rss(ranges) < len(m) * 0.05
    assert runtime.residency(ranges)[0] == len(m)     # still cached: no disk read to come back

    faults = runtime.major_faults()
    assert runtime.populate(ranges) == 0
    assert _mapped_rss(ranges) == len(m)
    assert runtime.major_faults() - faults == 0


class _WatchingOcr:
    """An OCR engine that records how much of the model's mapping the worker held while it ran."""

    def __init__(self, model_path):
        self.model_path, self.seen = model_path, []

    def read(self, path):
        self.seen.append(_mapped_rss(runtime.file_ranges(self.model_path)))
        return []


@linux_only
@pageout_kernel
@pytest.mark.parametrize("aside", [True, False])
def test_the_weights_leave_the_worker_rss_while_ocr_runs_and_come_back_after(
        fake_home, tmp_path, aside):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    from tinygguf import write_tiny_gguf

    from mustelid.config import load_config
    from mustelid.host import Host
    from mustelid.worker import WorkerContext

    config = load_config()
    config.model.backend = "llama_cpp"
    config.model.path = write_tiny_gguf(tmp_path / "tiny.gguf")
    config.model.threads = 1
    config.model.ocr_aside = aside
    config.ocr.engine = "watching"
    engine = _WatchingOcr(config.model.path)
    host = Host(config.plugins_path)
    host.ocr_engines["watching"] = lambda: engine
    ctx = WorkerContext(config, host)
    try:
        ctx.ocr(str(tmp_path / "before-the-model.png"))     # nothing loaded: nothing to move
        ctx.backend.generate([{"role": "user", "content": "hi"}], {"type": "boolean"}, 4)
        ranges = runtime.file_ranges(config.model.path)
        loaded = _mapped_rss(ranges)
        assert loaded > 0
        ctx.ocr(str(tmp_path / "page.png"))
        if aside:
            assert engine.seen[-1] < loaded * 0.05
            assert ctx.last_step_back["populated"]
        else:
            assert engine.seen[-1] == loaded and not ctx.last_step_back
        assert _mapped_rss(ranges) == loaded           # mapped again before the model runs
        ctx.backend.generate([{"role": "user", "content": "again"}], {"type": "boolean"}, 4)
    finally:
        ctx.close()


@pytest.mark.parametrize("aside, trims", [(True, 1), (False, 0)])
def test_ocr_gives_its_freed_heap_back_even_before_any_model_is_loaded(
        fake_home, tmp_path, monkeypatch, aside, trims):
    # A worker's first job runs OCR, then loads the model: on an untrimmed heap the weights
    # would load on top of OCR's freed pages.
    from mustelid.config import load_config
    from mustelid.host import Host
    from mustelid.worker import WorkerContext

    calls = []
    monkeypatch.setattr(runtime, "trim_heap", lambda: calls.append(1) or True)
    config = load_config()
    config.model.ocr_aside = aside
    config.ocr.engine = "watching"
    host = Host(config.plugins_path)
    engine = _WatchingOcr(tmp_path / "no-model.gguf")
    host.ocr_engines["watching"] = lambda: engine
    ctx = WorkerContext(config, host)
    ctx.ocr(str(tmp_path / "page.png"))
    assert len(calls) == trims and not ctx.backend_loaded
