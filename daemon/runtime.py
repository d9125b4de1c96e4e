"""Memory facts and levers for a process that holds a model: what is resident, what it costs,
and how to give it back without losing it.

The weights of a local model are a clean, read-only, file-backed mmap of the model file
(llama.cpp maps the GGUF). Such pages never need swap: the kernel can drop them and read them
back from the file. So the daemon can hold a model "lazily":

- ``page_out``  madvise(MADV_PAGEOUT) on the mapping: the pages go back to the file (Linux >= 5.4).
- ``prewarm``   one large sequential read of the file, then MADV_POPULATE_READ on the mapping,
                so the next generation takes neither 4 KiB major faults nor minor faults inside
                its matrix multiplications.
- ``unmap``     madvise(MADV_DONTNEED): out of our RSS, still in the page cache (``populate``
                maps it back in one call, no disk read): the weights step aside while OCR,
                the other big user of memory, runs.
- ``residency`` mincore() over the mapping: how much of the model is in memory right now.

python's ``mmap`` cannot wrap a mapping another library made, so the address ranges are read
from /proc/self/maps (matched by the file's device and inode, so symlinks and relative paths do
not matter) and libc's madvise/mincore are called through ctypes.

Also here: the process's RSS split into anonymous and file-backed (/proc/self/smaps_rollup),
major faults, and how much memory the machine (or our cgroup) can still give us. Everything
degrades to ``None`` where the OS has no such fact (macOS, old kernels), never to an exception.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import errno
import mmap
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

PAGE = mmap.PAGESIZE
MiB = 1 << 20

MADV_DONTNEED = 4
MADV_PAGEOUT = 21          # Linux 5.4
MADV_POPULATE_READ = 22    # Linux 5.14
POSIX_FADV_SEQUENTIAL = 2

# Prewarm reads this much per read(): big enough that the disk sees long sequential requests.
PREWARM_CHUNK = 16 * MiB

_libc: Any = None


def _lib() -> Any:
    global _libc
    if _libc is None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        libc.madvise.restype = ctypes.c_int
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        libc.mincore.restype = ctypes.c_int
        _libc = libc
    return _libc


# -- finding a file's mapping ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Range:
    start: int
    end: int
    offset: int

    @property
    def length(self) -> int:
        return self.end - self.start


def file_ranges(path: str | os.PathLike, pid: int | str = "self") -> list[Range]:
    """The address ranges of ``pid`` that map ``path``, from /proc/<pid>/maps. Empty if none
    (or not Linux)."""
    try:
        st = os.stat(path)
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return []
    want_dev = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}"
    ranges = []
    for line in maps.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6:
            continue
        addr, _perms, offset, dev, inode = parts[:5]
        if int(inode) != st.st_ino or _norm_dev(dev) != want_dev:
            continue
        start, end = (int(x, 16) for x in addr.split("-"))
        ranges.append(Range(start, end, int(offset, 16)))
    return ranges


def _norm_dev(dev: str) -> str:
    major, minor = dev.split(":")
    return f"{int(major, 16):02x}:{int(minor, 16):02x}"


# -- residency and paging ----------------------------------------------------------------------


_LOW_BIT = bytes(b & 1 for b in range(256))  # mincore: only bit 0 is defined


def residency(ranges: list[Range]) -> tuple[int, int]:
    """(resident bytes, mapped bytes) of the ranges, by mincore(). For a file mapping this is
    page-cache residency: what the next access finds without going to disk."""
    resident = total = 0
    libc = _lib()
    for r in ranges:
        pages = r.length // PAGE
        vec = (ctypes.c_ubyte * pages)()
        if libc.mincore(ctypes.c_void_p(r.start), r.length, vec) != 0:
            continue  # unmapped under us (the model was closed): count nothing
        resident += bytes(vec).translate(_LOW_BIT).count(1) * PAGE
        total += r.length
    return resident, total


def _madvise(ranges: list[Range], advice: int) -> int:
    """madvise every range; returns 0 or the first errno."""
    libc = _lib()
    for r in ranges:
        if libc.madvise(ctypes.c_void_p(r.start), r.length, advice) != 0:
            return ctypes.get_errno() or errno.EINVAL
    return 0


def page_out(ranges: list[Range]) -> int:
    """MADV_PAGEOUT: reclaim the ranges now. Clean file pages are dropped (read back from the
    file on the next touch), never written to swap. Returns 0 or an errno: EINVAL on kernels
    before 5.4. The kernel skips pages another process also maps, and file pages of a file
    this process could not open for writing (a shared, read-only model folder): check
    ``residency`` afterwards rather than trusting the return code."""
    return _madvise(ranges, MADV_PAGEOUT)


def unmap(ranges: list[Range]) -> int:
    """MADV_DONTNEED: drop the ranges from our page tables, and so from our RSS, at once. For a
    shared file mapping the pages stay in the page cache (the kernel may still reclaim them
    under pressure): the next touch, or ``populate``, maps them back without reading the disk.
    Returns 0 or an errno."""
    return _madvise(ranges, MADV_DONTNEED)


def populate(ranges: list[Range]) -> int:
    """MADV_POPULATE_READ: map every page of the ranges into our page tables now (Linux 5.14),
    so later accesses take no fault at all. EINVAL on older kernels; prewarm still helps."""
    return _madvise(ranges, MADV_POPULATE_READ)


def read_sequentially(path: str | os.PathLike, chunk: int = PREWARM_CHUNK) -> int:
    """Read the whole file in large chunks into the page cache. Returns bytes read."""
    buf = bytearray(chunk)
    view = memoryview(buf)
    total = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)  # doubles the readahead window
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            while n := f.readinto(view):
                total += n
    finally:
        os.close(fd)
    return total


def prewarm(path: str | os.PathLike, ranges: list[Range] | None = None) -> dict[str, Any]:
    """Bring a mapped file back into memory before it is needed: a sequential read (disk ->
    page cache at full speed), then MADV_POPULATE_READ (page cache -> our page tables)."""
    started = time.perf_counter()
    faults = major_faults()
    nbytes = read_sequentially(path)
    read_s = time.perf_counter() - started
    ranges = file_ranges(path) if ranges is None else ranges
    err = populate(ranges)
    return {
        "bytes": nbytes,
        "read_s": round(read_s, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "populated": err == 0,
        "major_faults": major_faults() - faults,
    }


# -- process memory ----------------------------------------------------------------------------


def smaps_rollup(pid: int | str = "self") -> dict[str, int] | None:
    """/proc/<pid>/smaps_rollup in bytes: Rss, Anonymous, Pss_File, ... (Linux 4.14)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    out = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            out[key.strip()] = int(fields[0]) * 1024
    return out


def rss_split(pid: int | str = "self") -> dict[str, int] | None:
    """RSS as anonymous (heap, KV cache, compute buffers: only freeing gives it back) and
    file-backed (mapped weights and libraries: the kernel can drop them and read them again)."""
    roll = smaps_rollup(pid)
    if roll is None or "Rss" not in roll:
        return None
    anon = roll.get("Anonymous", 0)
    return {"rss": roll["Rss"], "anon": anon, "file": max(0, roll["Rss"] - anon)}


def major_faults(pid: int | str = "self") -> int:
    """Page faults that had to wait for the disk, since the process started (all threads)."""
    if pid == "self" or pid == os.getpid():
        return resource.getrusage(resource.RUSAGE_SELF).ru_majflt
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    return int(stat.rsplit(")", 1)[1].split()[9])  # field 12, majflt


# -- the C heap ---------------------------------------------------------------------------------

# glibc serves a malloc() above M_MMAP_THRESHOLD with its own mmap and gives it back on free().
# By default that threshold is dynamic: each freed mmap chunk raises it (up to 32 MiB), so after
# the first OCR image onnxruntime's per-inference tensors (arena off) are carved out of the
# heap, and the heap stays as large as the largest image ever needed. Measured in a worker
# (receipts, screens, notes in turn; docs/BENCHMARKS.md, P7): anonymous RSS between jobs
# ~530-670 MiB with the dynamic threshold, ~240-270 MiB with it fixed at 128 KiB.
M_MMAP_THRESHOLD = -3            # mallopt parameter (glibc malloc.h)
HEAP_MMAP_THRESHOLD = 128 << 10  # glibc's own starting value, kept from moving


def keep_heap_small(threshold: int = HEAP_MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold so that large freed buffers go back to the kernel at once.
    Process-wide; call before the model and the OCR engine load. False where there is no glibc
    mallopt (macOS, musl) or the user chose a threshold (``MALLOC_MMAP_THRESHOLD_``)."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return False
    try:
        return _lib().mallopt(M_MMAP_THRESHOLD, threshold) == 1
    except (OSError, AttributeError):
        return False


def trim_heap() -> bool:
    """malloc_trim(0): return the free pages inside glibc's heaps to the kernel (after a job,
    whatever small allocations keep their heap from shrinking from the top). False where there
    is no glibc or nothing was released."""
    try:
        return bool(_lib().malloc_trim(0))
    except (OSError, AttributeError):
        return False


# -- what the machine can still give us --------------------------------------------------------

MEMINFO = Path("/proc/meminfo")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def mem_available(meminfo: Path | None = None) -> int | None:
    """MemAvailable: the kernel's estimate of what can be allocated without swapping."""
    try:
        for line in (meminfo or MEMINFO).read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    if sys.platform != "linux":
        try:
            import psutil

            return psutil.virtual_memory().available
        except Exception:
            return None
    return None


def cgroup_headroom(root: Path | None = None) -> dict[str, int] | None:
    """Our memory cgroup's limit and what is left under it (v2 memory.max, or v1
    memory.limit_in_bytes), minus inactive page cache the kernel would reclaim first.
    None when no limit applies."""
    root = root or CGROUP_ROOT
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        hid, controllers, rel = line.split(":", 2)
        rel = rel.lstrip("/")
        if hid == "0" and controllers == "":
            v2 = root / "unified" if (root / "unified" / "cgroup.controllers").exists() else root
            found = _cgroup_limit(v2 / rel, "memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):
            found = _cgroup_limit(root / "memory" / rel, "memory.limit_in_bytes",
                                  "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        if found:
            return found
    return None


def _cgroup_limit(path: Path, limit_file: str, usage_file: str, inactive_key: str):
    # A limit on any ancestor applies too: take the tightest one on the way up.
    best = None
    while True:
        try:
            raw = (path / limit_file).read_text().strip()
            usage = int((path / usage_file).read_text())
        except (OSError, ValueError):
            raw = ""
        if raw and raw != "max" and int(raw) < (1 << 60):
            limit = int(raw)
            inactive = _stat_value(path / "memory.stat", inactive_key)
            left = max(0, limit - max(0, usage - inactive))
            if best is None or left < best["available"]:
                best = {"limit": limit, "usage": usage, "available": left}
        if path.name in ("", "memory", "unified", "cgroup") or path == path.parent:
            return best
        path = path.parent


def _stat_value(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            k, _, v = line.partition(" ")
            if k == key:
                return int(v)
    except (OSError, ValueError):
        pass
    return 0


def available_memory() -> dict[str, Any]:
    """What a new allocation can count on: the smaller of MemAvailable and cgroup headroom."""
    avail = mem_available()
    cg = cgroup_headroom()
    usable = avail
    if cg is not None:
        usable = cg["available"] if usable is None else min(usable, cg["available"])
    return {"mem_available": avail, "cgroup": cg, "available": usable}


def check_budget(need: int, margin: int, available: int | None) -> str | None:
    """None if ``need + margin`` fits in ``available`` bytes, else the explanation to show."""
    if available is None or need <= 0 or need + margin <= available:
        return None
    return (f"needs {need / MiB:,.0f} MiB + {margin / MiB:,.0f} MiB margin but only "
            f"{available / MiB:,.0f} MiB is available; waiting instead of thrashing")


def mb(n: int | None) -> float | None:
    return None if n is None else round(n / MiB, 1)


# -- for `mustelid status` ---------------------------------------------------------------------

STATUS_KEYS = ("rss_mb", "rss_anon_mb", "rss_file_mb", "model_mb", "model_resident_mb",
               "model_resident_pct", "major_faults_last_job", "n_ctx")


def status_memory(worker: dict[str, Any], running: bool) -> dict[str, Any]:
    """The memory part of ``mustelid status``: the worker's facts as last published by the
    daemon (tier, model residency, major faults of the last job), its RSS split read live from
    /proc when it still runs, and what the machine can still give."""
    alive = running and bool(worker.get("alive"))
    out: dict[str, Any] = {"tier": worker.get("tier", "unloaded") if alive else "unloaded"}
    for key in STATUS_KEYS:
        out[key] = worker.get(key) if alive else None
    pid = worker.get("pid")
    live = rss_split(pid) if alive and pid else None
    if live:
        out.update(rss_mb=mb(live["rss"]), rss_anon_mb=mb(live["anon"]),
                   rss_file_mb=mb(live["file"]))
    avail = available_memory()
    out["available_mb"] = mb(avail["available"])
    out["mem_available_mb"] = mb(avail["mem_available"])
    out["cgroup_limit_mb"] = mb(avail["cgroup"]["limit"]) if avail["cgroup"] else None
    return out


def status_line(m: dict[str, Any]) -> str:
    parts = [f"tier {m['tier']}"]
    if m.get("rss_mb") is not None:
        parts.append(f"rss {m['rss_mb']} MiB (anon {m['rss_anon_mb']}, file {m['rss_file_mb']})")
    if m.get("model_mb"):
        parts.append(f"model resident {m['model_resident_mb']}/{m['model_mb']} MiB "
                     f"({m['model_resident_pct']}%)")
    if m.get("major_faults_last_job") is not None:
        parts.append(f"major faults last job {m['major_faults_last_job']}")
    if m.get("available_mb") is not None:
        parts.append(f"available {m['available_mb']:,.0f} MiB")
    return ", ".join(parts)
