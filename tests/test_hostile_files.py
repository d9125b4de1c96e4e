"""Hostile files: nothing a user drops takes the daemon down, hangs it, or leaks out of the inbox.

In-process: ``mustelid.imaging.load_image`` against decompression bombs in five formats,
truncations, bit flips, look-alike types, and 1,000 fuzzed images (100,000 with ``-m slow``):
the only outcomes allowed are a decoded RGB image or ``PermanentError``.

Daemon-level: one real daemon, one inbox full of hostile files routed to the model-free
``imgcheck`` task (tests/plugins/fakeplugin.py): every file ends done, dead with a reason, or
refused with a reason; the daemon keeps its PID; Ghostscript is never run (a fake ``gs`` first on
PATH would leave a marker); a 4 GB sparse file is refused without being read (the daemon's
``rchar`` grows by far less); a symlink to a fake ``~/.ssh/id_rsa`` is never archived; a FIFO
does not hang anything; names with newlines and escape sequences come out escaped; PDFs, HEIC
and multi-page TIFFs, good and hostile (encrypted, 5,000 pages, a giant page, bombs, truncated),
end done or dead with the document reader's reason (tests/test_documents.py tests it in-process).
"""

from __future__ import annotations

import faulthandler
import hashlib
import io
import os
import random
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import docfiles
import pytest
from daemonproc import DaemonProcess, cli, cli_json, wait_for
from invariants import assert_invariants, query, watch_outside
from PIL import Image

from mustelid import PermanentError
from mustelid.imaging import load_image


@pytest.fixture
def outside(fake_home, tmp_path, monkeypatch):
    return watch_outside(fake_home, tmp_path, monkeypatch)


IMAGE_REASONS = {"unreadable_image", "image_too_large"}


# --- making hostile bytes ---------------------------------------------------------------------


def _noise(size=(64, 48), mode="RGB") -> Image.Image:
    # Seeded, so that a fuzz failure can be replayed (Image.effect_noise is not).
    data = random.Random(f"{size}{mode}").randbytes(size[0] * size[1] * 3)
    return Image.frombytes("RGB", size, data).convert(mode)


def encode(fmt: str, size=(64, 48), **options) -> bytes:
    out = io.BytesIO()
    mode = "RGBA" if fmt == "PNG" else "P" if fmt == "GIF" else "RGB"
    img = _noise(size, mode)
    if fmt == "JPEG":
        exif = Image.Exif()
        exif[0x0112] = 6                               # "rotate me": exercises exif_transpose
        options.setdefault("exif", exif.tobytes())
    img.save(out, fmt, **options)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def jpeg_bomb() -> bytes:
    data = bytearray(encode("JPEG", exif=b""))
    sof = data.find(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 65500, 65500)     # height, width
    return bytes(data)


def gif_bomb() -> bytes:
    data = bytearray(encode("GIF"))
    data[6:10] = struct.pack("<HH", 65535, 65535)                 # logical screen
    desc = data.find(b"\x2c", 13)                                  # image descriptor
    data[desc + 5:desc + 9] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def bmp_bomb() -> bytes:
    data = bytearray(encode("BMP"))
    data[18:26] = struct.pack("<ii", 100_000, 100_000)
    return bytes(data)


def tiff_bomb() -> bytes:
    return docfiles.tiff_bomb_on_page(0, pages=1)


BOMBS = {"png": lambda: png_header_only(100_000, 100_000), "jpeg": jpeg_bomb, "gif": gif_bomb,
         "bmp": bmp_bomb, "tiff": tiff_bomb}


def truncated(fmt: str) -> bytes:
    whole = encode(fmt, size=(200, 150))
    return whole[: len(whole) // 2]


def bit_flipped(fmt: str, seed: int = 3) -> bytes:
    rng = random.Random(seed)
    data = bytearray(encode(fmt, size=(200, 150)))
    for _ in range(8):
        i = rng.randrange(32, len(data))
        data[i] ^= 1 << rng.randrange(8)
    return bytes(data)


def pdf_bytes() -> bytes:
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n"
            b"%%EOF\n")


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("receipt.jpg", encode("JPEG"))
    return out.getvalue()


def elf_bytes() -> bytes:
    return Path(shutil.which("true") or "/bin/true").read_bytes()


def eps_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), "white").save(out, "EPS")
    return out.getvalue()


LOOKALIKES = {"pdf": pdf_bytes, "zip": zip_bytes, "elf": elf_bytes, "eps": eps_bytes}


def fake_ghostscript(folder: Path) -> Path:
    """A ``gs`` that only leaves a marker: if it exists afterwards, Ghostscript was reached."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "gs-was-run"
    gs = folder / "gs"
    gs.write_text(f"#!/bin/sh\necho \"$@\" >> '{marker}'\n"
                  "[ \"$1\" = --version ] && echo 10.0 && exit 0\nexit 1\n")
    gs.chmod(0o755)
    return marker


# --- in-process: load_image ---------------------------------------------------------------------


def outcome(data: bytes) -> str:
    """'ok', or the PermanentError reason; anything else propagates and fails the test."""
    try:
        img = load_image(io.BytesIO(data))
    except PermanentError as e:
        return e.reason
    assert img.mode == "RGB" and img.width > 0 and img.height > 0
    return "ok"


@pytest.mark.parametrize("kind", sorted(BOMBS))
def test_declared_giant_images_are_too_large_before_decoding(kind):
    assert outcome(BOMBS[kind]()) == "image_too_large"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "TIFF", "BMP", "WEBP"])
def test_truncated_and_bit_flipped_images(fmt):
    assert outcome(truncated(fmt)) in IMAGE_REASONS | ({"ok"} if fmt == "JPEG" else set())
    assert outcome(bit_flipped(fmt)) in IMAGE_REASONS | {"ok"}


@pytest.mark.parametrize("kind", sorted(LOOKALIKES))
def test_other_types_renamed_jpg_are_unreadable(kind, tmp_path):
    path = tmp_path / "receipt.jpg"
    path.write_bytes(LOOKALIKES[kind]())
    with pytest.raises(PermanentError) as e:
        load_image(path)
    assert e.value.reason == "unreadable_image"


def test_eps_never_reaches_ghostscript_and_the_marker_would_show_it(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    marker = fake_ghostscript(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", None)      # forget an earlier lookup
    path = tmp_path / "receipt.jpg"
    path.write_bytes(eps_bytes())
    with pytest.raises(PermanentError):
        load_image(path)
    assert not marker.exists(), "load_image ran Ghostscript"
    # Control: Pillow without the allowlist does run the fake gs, so the marker would show it.
    with pytest.raises(Exception):
        with Image.open(path) as im:
            im.load()
    assert marker.exists()


def mutate(rng: random.Random, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(rng.randint(1, 3)):
        if len(data) < 2:                                # an earlier cut left almost nothing
            data += rng.randbytes(2)
        op = rng.randrange(6)
        if op == 0:                                      # flip bits anywhere
            for _ in range(rng.randint(1, 16)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif op == 1:                                    # truncate
            del data[rng.randrange(1, len(data)):]
        elif op == 2:                                    # extreme values in the header
            i = rng.randrange(min(len(data), 64))
            data[i:i + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00",
                                        b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00"])
        elif op == 3:                                    # insert random bytes
            i = rng.randrange(len(data))
            data[i:i] = rng.randbytes(rng.randint(1, 64))
        elif op == 4:                                    # duplicate a slice (repeated chunks)
            i = rng.randrange(len(data))
            j = min(len(data), i + rng.randint(1, 256))
            data[j:j] = data[i:j] * rng.randint(1, 8)
        else:                                            # zero a run
            i = rng.randrange(len(data))
            n = rng.randint(1, 128)
            data[i:i + n] = bytes(len(data[i:i + n]))
    return bytes(data)


def fuzz(n: int, seed: int) -> dict[str, int]:
    seeds = [encode(f) for f in ("JPEG", "PNG", "GIF", "TIFF", "BMP", "WEBP")]
    seeds += [encode("TIFF", compression="tiff_lzw"), encode("PNG", size=(300, 5)),
              encode("JPEG", progressive=True), png_header_only(9000, 9000)]
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    surprises = []
    faulthandler.dump_traceback_later(600, exit=True)    # a hang fails loudly, not forever
    try:
        for i in range(n):
            data = mutate(rng, rng.choice(seeds))
            try:
                got = outcome(data)
            except Exception as e:                       # the bug this test looks for
                surprises.append((i, f"{type(e).__name__}: {e}"))
                continue
            counts[got] = counts.get(got, 0) + 1
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert surprises == [], surprises[:10]
    assert set(counts) <= IMAGE_REASONS | {"ok"}
    return counts


@pytest.mark.filterwarnings("ignore::UserWarning")     # Pillow's "Corrupt EXIF data" and kin
def test_fuzzed_images_only_decode_or_raise_permanent_error():
    counts = fuzz(1000, seed=5)
    print(f"\n1000 fuzzed images: {counts}")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fuzzed_images_full_count():
    counts = fuzz(100_000, seed=6)
    print(f"\n100000 fuzzed images: {counts}")


def test_names_that_are_not_utf8_are_reported_not_yielded(tmp_path):
    from mustelid.inbox import printable_path, scan

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "fine.txt").write_text("x")
    bad = os.fsdecode(os.fsencode(inbox) + b"/bad\xff\xfe.txt")
    Path(bad).write_text("x")
    unstorable = []
    found = [c.relpath for c in scan(inbox, on_unstorable=unstorable.append)]
    assert found == ["fine.txt"]
    assert unstorable == [Path(bad)]
    assert printable_path(bad).endswith("bad\\xff\\xfe.txt")
    printable_path(bad).encode("utf-8")                  # storable


# --- the daemon ---------------------------------------------------------------------------------

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key, but it must never leave ~/.ssh\n"
EVIL_IMAGE_NAME = "evil\n\x1b[2J\x1b[31mred.png"
EVIL_TEXT_NAME = "title\x1b]0;pwned\x07\x9b31m.txt"


def rchar(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar")


@pytest.fixture
def hostile_inbox(fake_home, outside, tmp_path, monkeypatch):
    """The inbox full of hostile things, plus what each must end as."""
    marker = fake_ghostscript(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    home_dir = Path(os.environ["HOME"])
    (home_dir / ".ssh").mkdir()
    (home_dir / ".ssh" / "id_rsa").write_bytes(SECRET)
    outside.before = outside._walk()                      # the fake ~/.ssh and gs are ours
    images = fake_home / "inbox" / "images"
    images.mkdir(parents=True)
    expect: dict[str, set[str]] = {}                      # relpath -> acceptable outcomes

    def put(name: str, data: bytes, *outcomes: str) -> None:
        (images / name).write_bytes(data)
        expect[f"images/{name}"] = set(outcomes)

    put("ok.png", encode("PNG"), "done")
    put("ok-rotated.jpg", encode("JPEG"), "done")
    for kind, make in BOMBS.items():
        put(f"bomb-{kind}.jpg", make(), "dead:image_too_large", "dead:unsupported_type")
    for fmt in ("JPEG", "PNG", "GIF"):
        put(f"truncated-{fmt.lower()}.jpg", truncated(fmt), "dead:unreadable_image", "done")
        put(f"bitflip-{fmt.lower()}.jpg", bit_flipped(fmt), "dead:unreadable_image", "done")
    for kind, make in LOOKALIKES.items():
        # Typed by the bytes: the PDF (of no pages) reaches the document reader and is refused.
        put(f"{kind}.jpg", make(), "dead:unreadable_document" if kind == "pdf"
            else "dead:unsupported_type")
    # Documents (mustelid.documents): the good ones read, the hostile ones refused with a reason.
    put("ok.pdf", docfiles.text_pdf([["TOTAL 1.00"], ["page two"]]), "done")
    put("ok-scan.pdf", docfiles.scan_pdf([docfiles.noise()]), "done")
    put("ok.heic", docfiles.heic(docfiles.noise()), "done")
    put("ok-pages.tif", docfiles.tiff_pages([docfiles.noise(seed=i) for i in range(3)]), "done")
    put("ok.webp", encode("WEBP"), "done")
    put("encrypted.pdf", docfiles.encrypted_pdf(), "dead:encrypted_document")
    put("5000-pages.pdf", docfiles.empty_pages_pdf(5000), "dead:too_many_pages")
    put("huge-page.pdf", docfiles.empty_pages_pdf(1, (21_600, 21_600)), "dead:image_too_large")
    put("truncated.pdf", docfiles.truncated(docfiles.text_pdf([["TOTAL 1.00"] * 40])),
        "dead:unreadable_document")
    put("bomb.heic", docfiles.heic_bomb(), "dead:image_too_large")
    put("truncated.heic", docfiles.truncated(docfiles.heic(docfiles.noise())),
        "dead:unreadable_image")
    put("bomb-page-2.tif", docfiles.tiff_bomb_on_page(1), "dead:image_too_large")
    put(EVIL_IMAGE_NAME, encode("PNG"), "done")
    (fake_home / "inbox" / EVIL_TEXT_NAME).write_text("hello from a hostile name")
    expect[EVIL_TEXT_NAME] = {"done"}
    with open(images / "huge.jpg", "wb") as f:            # 4 GB, sparse: costs no disk
        f.truncate(4 << 30)
    expect["images/huge.jpg"] = {"refused:too_large"}
    os.symlink(home_dir / ".ssh" / "id_rsa", images / "id_rsa.jpg")
    expect["images/id_rsa.jpg"] = {"refused:symlink_refused"}
    os.symlink(home_dir / ".ssh", images / "dotssh")
    expect["images/dotssh"] = {"refused:symlink_refused"}
    os.mkfifo(images / "pipe.jpg")
    expect["images/pipe.jpg"] = {"refused:not_a_regular_file"}
    (images / "empty.jpg").write_bytes(b"")
    expect["images/empty.jpg"] = {"refused:empty_file"}
    return expect, marker


def outcomes(home: Path) -> dict[str, str]:
    inbox = os.path.realpath(home / "inbox")
    got = {}
    for path, state, reason, sha in query(home, "SELECT path, state, reason, sha256"
                                          " FROM inbox_files"):
        rel = os.path.relpath(path, inbox)
        if state == "refused":
            got[rel] = f"refused:{reason}"
            continue
        jobs = query(home, "SELECT state, reason FROM jobs WHERE input_sha256 = ?", [sha])
        if jobs and all(s in ("done", "dead") for s, _ in jobs):
            got[rel] = "done" if jobs[0][0] == "done" else f"dead:{jobs[0][1]}"
    return got


def test_hostile_inbox_daemon_survives_and_explains_everything(fake_home, hostile_inbox,
                                                                outside):
    expect, marker = hostile_inbox
    d = DaemonProcess(fake_home)
    try:
        wait_for(lambda: os.path.exists(f"/proc/{d.pid}/io") and query_ready(fake_home),
                 what="daemon up")
        read_before = rchar(d.pid)
        got = wait_for(lambda: (o := outcomes(fake_home)) and len(o) == len(expect) and o,
                       timeout=120, what="every hostile file to settle")
        read = rchar(d.pid) - read_before
        wrong = {k: v for k, v in got.items() if v not in expect.get(k, set())}
        assert wrong == {}, wrong
        assert read < 256 << 20, f"the daemon read {read:,} bytes: the 4 GB file was read"
        assert not marker.exists(), "Ghostscript was run on an inbox file"
        archive = fake_home / "data" / "archive"
        secret_sha = hashlib.sha256(SECRET).hexdigest()
        assert not list(archive.rglob(f"{secret_sha}*"))
        assert all(SECRET not in p.read_bytes() for p in archive.rglob("*") if p.is_file())
        assert query(fake_home, "SELECT COUNT(*) FROM jobs WHERE reason = 'timeout'") == [(0,)]
        dropped = [fake_home / "inbox" / rel for rel in expect]
        counts = assert_invariants(fake_home, dropped=dropped, daemon=d, outside=outside)
        cli_output_is_escaped()
        print(f"\nhostile inbox: {len(expect)} files, {counts}, daemon read {read:,} bytes,"
              f" outcomes: {sorted(set(got.values()))}")
    finally:
        d.stop()
    assert_invariants(fake_home, outside=outside)


def query_ready(home: Path) -> bool:
    try:
        return bool(query(home, "SELECT 1 FROM daemon_state WHERE key = 'daemon'"))
    except Exception:
        return False


def cli_output_is_escaped() -> None:
    """Every listing, piped and as JSON, carries no raw control character from a file name."""
    jobs = cli_json("jobs", "-n", "1000")
    evil = [j for j in jobs if j["file"] and "\x1b" in j["file"]]
    assert len(evil) == 2                                  # JSON round-trips the real names
    for args in (["files"], ["files", "--refused"], ["jobs", "-n", "1000"], ["status"],
                 ["show", evil[0]["id"]], ["show", evil[1]["id"]], ["files", "--json"],
                 ["jobs", "--json"]):
        out = cli(*args).stdout
        assert "\x1b" not in out and "\x07" not in out and "\x9b" not in out, args
    rows = cli("files").stdout.rstrip("\n").split("\n")
    assert all(len(r.split("\t")) == 6 for r in rows), "a name with a newline split a row"


def test_a_name_that_is_not_utf8_does_not_take_the_daemon_down(fake_home):
    inbox = fake_home / "inbox"
    inbox.mkdir()
    Path(os.fsdecode(os.fsencode(inbox) + b"/bad\xff\xfe.txt")).write_text("odd name")
    (inbox / "fine.txt").write_text("a fine name")
    proc = cli("run", "--once", timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert cli_json("status")["jobs"]["done"] == 1


def test_a_name_that_is_not_utf8_is_refused_with_a_reason(fake_home):
    inbox = fake_home / "inbox"
    inbox.mkdir()
    Path(os.fsdecode(os.fsencode(inbox) + b"/bad\xff\xfe.txt")).write_text("odd name")
    Path(os.fsdecode(os.fsencode(inbox) + b"/dir\xff")).mkdir()
    Path(os.fsdecode(os.fsencode(inbox) + b"/._junk\xff")).write_text("ignored junk")
    cli("run", "--once", timeout=120)
    refused = sorted(cli_json("files", "--refused"), key=lambda r: r["path"])
    assert [r["reason"] for r in refused] == ["undecodable_name", "undecodable_name"]
    assert refused[0]["path"].endswith("bad\\xff\\xfe.txt")
    assert refused[1]["path"].endswith("dir\\xff") and "folder" in refused[1]["message"]
    assert cli_json("status")["refused_files"] == 2
    cli("run", "--once", timeout=120)                    # recorded once, not at every scan
    assert sorted(cli_json("files", "--refused"), key=lambda r: r["path"]) == refused


def test_run_once_finishes_with_an_empty_file_and_a_fifo_in_the_inbox(fake_home):
    inbox = fake_home / "inbox"
    inbox.mkdir()
    (inbox / "empty.txt").write_bytes(b"")
    os.mkfifo(inbox / "pipe.txt")
    (inbox / "fine.txt").write_text("fine")
    proc = cli("run", "--once", timeout=60, check=False)  # hung forever before empty_seconds
    assert proc.returncode == 0, proc.stderr[-3000:]
    reasons = {Path(r["path"]).name: r["reason"] for r in cli_json("files", "--refused")}
    assert reasons == {"empty.txt": "empty_file", "pipe.txt": "not_a_regular_file"}
    assert_invariants(fake_home, dropped=[inbox / n for n in ("empty.txt", "pipe.txt",
                                                                 "fine.txt")])
