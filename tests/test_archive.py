"""Archive: sniffing, content-addressed copies made safely, and the optional done folder."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from mustelid import PermanentError, TransientError, WaitingError
from mustelid import archive
from mustelid.archive import archive_file, move_to_done, remove_stale_temps
from mustelid.sniff import sniff

MB = 1 << 20


def _image_bytes(fmt: str, **save) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(out, fmt, **save)
    return out.getvalue()


# --- sniff -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, mime",
    [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"), ("GIF", "image/gif"),
     ("TIFF", "image/tiff"), ("BMP", "image/bmp"), ("PDF", "application/pdf"),
     ("EPS", "application/postscript")],
)
def test_sniff_images_made_by_pillow(fmt, mime):
    assert sniff(_image_bytes(fmt)[:64]) == mime


@pytest.mark.parametrize(
    "head, mime",
    [
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "image/heic"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf", "image/avif"),
        (b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", None),        # an MP4 video
        (b"PK\x03\x04\x14\x00\x00\x00", "application/zip"),
        (b"\x7fELF\x02\x01\x01\x00", "application/x-elf"),
        (b"MZ\x90\x00\x03\x00", "application/x-msdownload"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n", "application/postscript"),
        (b"\xc5\xd0\xd3\xc6\x20\x00\x00\x00", "application/postscript"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">', "image/svg+xml"),
        (b"Total: 12.50 EUR\nThank you!\n", "text/plain"),
        ("Café 3,50 €\n".encode(), "text/plain"),
        ("€".encode()[:2], None),                            # nothing but a cut character
        (b"ab" + "€".encode()[:2], "text/plain"),            # a character cut by the head limit
        (b"\xff\xfeT\x00o\x00", "text/plain"),               # UTF-16 with BOM
        (b"BMW service invoice\n", "text/plain"),            # "BM" without a bitmap header
        (b"\x00\x01\x02\x03binary", None),
        (b"", None),
    ],
)
def test_sniff_magic_bytes(head, mime):
    assert sniff(head) == mime


# --- archive_file ------------------------------------------------------------------------------


@pytest.fixture
def inbox(tmp_path):
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def store(tmp_path):
    return tmp_path / "archive"


def _leftovers(store: Path) -> list[str]:
    return [p.name for p in store.iterdir() if p.name.startswith(archive.TEMP_PREFIX)]


def test_archive_is_content_addressed_and_leaves_the_source_alone(inbox, store):
    data = _image_bytes("PNG")
    src = inbox / "receipt.jpg"                              # the name lies; the bytes decide
    src.write_bytes(data)
    os.utime(src, ns=(1_000_000_000, 2_000_000_000))
    before = os.stat(src)

    got = archive_file(src, store, max_bytes=MB)

    digest = hashlib.sha256(data).hexdigest()
    assert got.sha256 == digest
    assert got.size == len(data)
    assert got.mime == "image/png"
    assert got.mtime_ns == 2_000_000_000
    assert got.archived_path == store / digest[:2] / digest[2:4] / f"{digest}.png"
    assert got.archived_path.read_bytes() == data
    after = os.stat(src)
    assert src.read_bytes() == data
    assert (after.st_mtime_ns, after.st_size, after.st_ino) == (
        before.st_mtime_ns, before.st_size, before.st_ino)
    assert _leftovers(store) == []


def test_archive_is_idempotent_across_names(inbox, store):
    data = b"Total: 12.50\n"
    (inbox / "a.txt").write_bytes(data)
    (inbox / "copy of a.txt").write_bytes(data)
    first = archive_file(inbox / "a.txt", store, max_bytes=MB)
    second = archive_file(inbox / "a.txt", store, max_bytes=MB)
    third = archive_file(inbox / "copy of a.txt", store, max_bytes=MB)
    assert first.archived_path == second.archived_path == third.archived_path
    assert first.archived_path.suffix == ".txt"
    stored = [p for p in store.rglob("*") if p.is_file()]
    assert stored == [first.archived_path]


def test_archive_repairs_a_damaged_entry(inbox, store):
    (inbox / "a.bin").write_bytes(b"\x00" * 100)
    first = archive_file(inbox / "a.bin", store, max_bytes=MB)
    first.archived_path.write_bytes(b"\x00" * 10)            # e.g. disk damage
    archive_file(inbox / "a.bin", store, max_bytes=MB)
    assert first.archived_path.read_bytes() == b"\x00" * 100


def test_large_files_stream_in_chunks(inbox, store, monkeypatch):
    monkeypatch.setattr(archive, "CHUNK", 1000)
    data = os.urandom(10_500)
    (inbox / "big.bin").write_bytes(data)
    got = archive_file(inbox / "big.bin", store, max_bytes=MB)
    assert got.sha256 == hashlib.sha256(data).hexdigest()
    assert got.archived_path.read_bytes() == data
    assert got.mime is None and got.archived_path.suffix == ".bin"


def test_too_large_is_refused_before_copying(inbox, store):
    (inbox / "huge.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 2000)
    with pytest.raises(PermanentError) as e:
        archive_file(inbox / "huge.jpg", store, max_bytes=1000)
    assert e.value.reason == "too_large"
    assert "2,003 bytes" in e.value.message
    assert not store.exists() or not any(store.rglob("*"))


def test_symlink_is_refused(inbox, store, tmp_path):
    target = tmp_path / "secret.jpg"
    target.write_bytes(b"\xff\xd8\xffsecret")
    os.symlink(target, inbox / "link.jpg")
    with pytest.raises(PermanentError) as e:
        archive_file(inbox / "link.jpg", store, max_bytes=MB)
    assert e.value.reason == "symlink_refused"


def test_symlink_swapped_in_after_the_check_is_still_refused(inbox, store, tmp_path, monkeypatch):
    # The race lstat() alone cannot close: O_NOFOLLOW refuses the link at open time.
    target = tmp_path / "secret.jpg"
    target.write_bytes(b"secret")
    os.symlink(target, inbox / "link.jpg")
    monkeypatch.setattr(archive, "_refuse_non_regular", lambda st, src: None)
    with pytest.raises(PermanentError) as e:
        archive_file(inbox / "link.jpg", store, max_bytes=MB)
    assert e.value.reason == "symlink_refused"


def test_fifo_is_refused_without_blocking(inbox, store):
    os.mkfifo(inbox / "pipe.jpg")
    result: list[BaseException] = []
    worker = threading.Thread(
        target=lambda: result.append(_raises(archive_file, inbox / "pipe.jpg", store, MB)),
        daemon=True,
    )
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "archive_file blocked on a FIFO"
    assert isinstance(result[0], PermanentError) and result[0].reason == "not_a_regular_file"


def test_fifo_swapped_in_after_the_check_does_not_block(inbox, store, monkeypatch):
    # O_NONBLOCK: opening a FIFO with no writer would otherwise hang the daemon forever.
    os.mkfifo(inbox / "pipe.jpg")
    regular = inbox / "regular.jpg"
    regular.write_bytes(b"x")
    monkeypatch.setattr(archive, "_lstat", lambda src: os.lstat(regular))  # the check is fooled
    with pytest.raises(PermanentError) as e:
        archive_file(inbox / "pipe.jpg", store, max_bytes=MB)
    assert e.value.reason == "not_a_regular_file"


def test_folder_is_refused(inbox, store):
    (inbox / "folder.jpg").mkdir()
    with pytest.raises(PermanentError) as e:
        archive_file(inbox / "folder.jpg", store, max_bytes=MB)
    assert e.value.reason == "not_a_regular_file"


def test_vanished_file_is_transient(inbox, store):
    with pytest.raises(TransientError) as e:
        archive_file(inbox / "gone.jpg", store, max_bytes=MB)
    assert e.value.reason == "file_vanished"


def _raises(fn, *args) -> BaseException | None:
    try:
        fn(*args)
    except BaseException as e:  # noqa: BLE001 - handed back to the test thread
        return e
    return None


def _while_reading(monkeypatch, action):
    """Run ``action`` right after the copy loop, i.e. while archive_file holds the file open."""
    original = archive._copy_and_hash

    def copy_then_act(*args, **kwargs):
        result = original(*args, **kwargs)
        action()
        return result

    monkeypatch.setattr(archive, "_copy_and_hash", copy_then_act)


def test_a_write_during_the_read_is_detected(inbox, store, monkeypatch):
    src = inbox / "growing.jpg"
    src.write_bytes(b"\xff\xd8\xff" + b"a" * 100)

    def append():
        with open(src, "ab") as f:
            f.write(b"more")

    _while_reading(monkeypatch, append)
    with pytest.raises(TransientError) as e:
        archive_file(src, store, max_bytes=MB)
    assert e.value.reason == "file_changed"
    assert _leftovers(store) == [] and not any(p.is_file() for p in store.rglob("*"))


def test_a_same_size_rewrite_during_the_read_is_detected(inbox, store, monkeypatch):
    src = inbox / "edited.jpg"
    src.write_bytes(b"a" * 100)
    os.utime(src, ns=(1_000_000_000, 1_000_000_000))

    def rewrite():
        with open(src, "r+b") as f:
            f.write(b"b" * 100)                              # same size, new mtime

    _while_reading(monkeypatch, rewrite)
    with pytest.raises(TransientError) as e:
        archive_file(src, store, max_bytes=MB)
    assert e.value.reason == "file_changed"


def test_an_atomic_replace_during_the_read_is_detected(inbox, store, monkeypatch):
    src = inbox / "saved.jpg"
    src.write_bytes(b"old version")
    stat = os.stat(src)

    def replace():
        new = inbox / "saved.jpg.tmp"
        new.write_bytes(b"new version")                      # same size...
        os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))   # ...and same mtime
        os.replace(new, src)

    _while_reading(monkeypatch, replace)
    with pytest.raises(TransientError) as e:
        archive_file(src, store, max_bytes=MB)
    assert e.value.reason == "file_changed"


def test_growing_past_the_limit_while_reading_is_transient(inbox, store, monkeypatch):
    monkeypatch.setattr(archive, "CHUNK", 10)
    src = inbox / "download.jpg"
    src.write_bytes(b"x" * 50)
    original = archive._copy_and_hash

    class GrowingReader:
        """Appends to the file each time it is read, like a download still arriving."""

        def __init__(self, f):
            self.f = f

        def read(self, n):
            with open(src, "ab") as g:
                g.write(b"y" * 30)
            return self.f.read(n)

    monkeypatch.setattr(
        archive, "_copy_and_hash", lambda f, out, s, limit: original(GrowingReader(f), out, s, limit)
    )
    with pytest.raises(TransientError) as e:
        archive_file(src, store, max_bytes=100)
    assert e.value.reason == "file_changed"


def test_disk_full_waits(inbox, store, monkeypatch):
    (inbox / "a.jpg").write_bytes(b"data")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(archive, "_copy_and_hash", full)
    with pytest.raises(WaitingError) as e:
        archive_file(inbox / "a.jpg", store, max_bytes=MB)
    assert e.value.reason == "disk_full"
    assert _leftovers(store) == []


def test_remove_stale_temps(store):
    store.mkdir()
    old = store / f"{archive.TEMP_PREFIX}crashed"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 7200,) * 2)
    fresh = store / f"{archive.TEMP_PREFIX}in-progress"
    fresh.write_bytes(b"x")
    assert remove_stale_temps(store) == 1
    assert not old.exists() and fresh.exists()
    assert remove_stale_temps(store / "missing") == 0


# --- move_to_done ------------------------------------------------------------------------------


def test_move_to_done_keeps_the_relative_path(inbox, tmp_path):
    done = tmp_path / "done"
    src = inbox / "receipts" / "2026" / "a.jpg"
    src.parent.mkdir(parents=True)
    src.write_bytes(b"a")
    moved = move_to_done(src, inbox, done)
    assert moved == done / "receipts" / "2026" / "a.jpg"
    assert moved.read_bytes() == b"a" and not src.exists()


def test_move_to_done_never_overwrites(inbox, tmp_path):
    done = tmp_path / "done"
    done.mkdir()
    (done / "a.jpg").write_bytes(b"first")
    (done / "a (1).jpg").write_bytes(b"second")
    (inbox / "a.jpg").write_bytes(b"third")
    moved = move_to_done(inbox / "a.jpg", inbox, done)
    assert moved == done / "a (2).jpg"
    assert [(done / n).read_bytes() for n in ("a.jpg", "a (1).jpg", "a (2).jpg")] == [
        b"first", b"second", b"third"]


def test_move_to_done_copies_across_filesystems(inbox, tmp_path, monkeypatch):
    def no_hard_links(*args, **kwargs):
        raise OSError(18, "Invalid cross-device link")       # EXDEV

    monkeypatch.setattr(os, "link", no_hard_links)
    done = tmp_path / "done"
    done.mkdir()
    (done / "a.jpg").write_bytes(b"first")
    (inbox / "a.jpg").write_bytes(b"second")
    moved = move_to_done(inbox / "a.jpg", inbox, done)
    assert moved == done / "a (1).jpg" and moved.read_bytes() == b"second"
    assert (done / "a.jpg").read_bytes() == b"first" and not (inbox / "a.jpg").exists()


def test_move_to_done_leaves_a_changed_or_odd_file_alone(inbox, tmp_path):
    done = tmp_path / "done"
    src = inbox / "a.jpg"
    src.write_bytes(b"new version")
    st = os.stat(src)
    assert move_to_done(src, inbox, done, expected_size=3) is None
    assert move_to_done(src, inbox, done, expected_mtime_ns=st.st_mtime_ns - 1) is None
    assert move_to_done(inbox / "gone.jpg", inbox, done) is None
    os.symlink(src, inbox / "link.jpg")
    assert move_to_done(inbox / "link.jpg", inbox, done) is None
    assert src.read_bytes() == b"new version"
    moved = move_to_done(src, inbox, done, expected_size=st.st_size, expected_mtime_ns=st.st_mtime_ns)
    assert moved == done / "a.jpg"


def test_move_to_done_refuses_paths_outside_the_inbox(inbox, tmp_path):
    other = tmp_path / "elsewhere.jpg"
    other.write_bytes(b"x")
    with pytest.raises(ValueError):
        move_to_done(other, inbox, tmp_path / "done")
    assert other.exists()


def test_a_folder_swapped_for_a_symlink_is_refused_beneath_the_inbox(tmp_path):
    """The race of issue 13 class 1, at its end state: inbox/sub/ became a link to a folder
    elsewhere holding a private file of the same name. O_NOFOLLOW alone guards only the last
    component, so the outside file used to be archived."""
    from mustelid.archive import archive_file

    inbox, outside, archive = tmp_path / "inbox", tmp_path / "private", tmp_path / "archive"
    inbox.mkdir()
    outside.mkdir()
    (outside / "a.txt").write_text("the user's secret")
    (outside / "a.txt").chmod(0o600)
    (inbox / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PermanentError) as e:
        archive_file(inbox / "sub" / "a.txt", archive, max_bytes=1 << 20, root=inbox)
    assert e.value.reason == "symlink_refused"
    assert not archive.exists() or not any(p.is_file() for p in archive.rglob("*"))
    # a real subfolder is fine, and the inbox root itself may be a link (the user's choice)
    (inbox / "real").mkdir()
    (inbox / "real" / "b.txt").write_text("fine")
    linked = tmp_path / "inbox-link"
    linked.symlink_to(inbox, target_is_directory=True)
    assert archive_file(linked / "real" / "b.txt", archive, 1 << 20, root=linked).size == 4


def test_a_folder_swapped_after_the_copy_is_caught_by_the_recheck(tmp_path, monkeypatch):
    """Swapped between the open and the end of the copy: the re-check walks beneath the inbox
    again and finds another file (or a link) there, so nothing is published."""
    from mustelid import archive as archive_mod

    inbox, outside = tmp_path / "inbox", tmp_path / "elsewhere"
    (inbox / "sub").mkdir(parents=True)
    outside.mkdir()
    (inbox / "sub" / "a.txt").write_text("the inbox file")
    (outside / "a.txt").write_text("the inbox file")
    real_copy = archive_mod._copy_and_hash

    def copy_then_swap(*args, **kw):
        out = real_copy(*args, **kw)
        (inbox / "sub").rename(tmp_path / "moved")
        (inbox / "sub").symlink_to(outside, target_is_directory=True)
        return out

    monkeypatch.setattr(archive_mod, "_copy_and_hash", copy_then_swap)
    with pytest.raises(TransientError) as e:
        archive_mod.archive_file(inbox / "sub" / "a.txt", tmp_path / "archive", 1 << 20,
                                 root=inbox)
    assert e.value.reason == "file_changed"
