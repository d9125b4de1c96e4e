"""Inbox: ignore rules, the stability tracker, the scan, and the watchdog hint watcher."""

from __future__ import annotations

import errno
import logging
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from mustelid.inbox import InboxWatcher, StabilityTracker, is_ignored, scan

# --- ignore rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relpath",
    [
        ".DS_Store", "._receipt.jpg", "Thumbs.db", "THUMBS.DB", "desktop.ini", "Icon\r",
        "photo.jpg.part", "photo.jpg.crdownload", "Unconfirmed 123.crdownload",
        "photo.jpg.download", "scan.tmp", "~$report.docx", ".~lock.sheet.ods#", "notes.txt.swp",
        "photo.jpg~", ".syncthing.photo.jpg.tmp", ".dropbox.cache/x.jpg", ".sync/ID",
        ".hidden.jpg", ".git/objects/ab", "receipts/.DS_Store", "receipts/a.jpg.PART",
        "$RECYCLE.BIN/x.jpg", "@eaDir/a.jpg/SYNOFILE_THUMB_M.jpg", "x.jpg.icloud",
        "../outside.jpg",
    ],
)
def test_junk_and_partial_downloads_are_ignored(relpath):
    assert is_ignored(relpath)


@pytest.mark.parametrize(
    "relpath",
    ["receipt.jpg", "IMG_0001.HEIC", "receipts/2026/lunch.png", "a.b.c.webp", "part.jpg",
     "tmp.png", "download.jpg", "my receipts/scan 1.tiff", "Screenshot 2026-11-22 at 10.00.png"],
)
def test_normal_files_are_not_ignored(relpath):
    assert not is_ignored(relpath)


def test_extra_patterns_match_names_and_paths_case_insensitively():
    assert is_ignored("drafts/a.jpg", ["Drafts"])            # a folder name ignores its contents
    assert is_ignored("x/IMG.RAW", ["*.raw"])
    assert is_ignored("x/a.jpg", ["**/*.JPG"])               # watchdog-style pattern still works
    assert is_ignored("scans/old/a.png", ["scans/old/*"])
    assert not is_ignored("other/old/a.png", ["scans/old/*"])
    assert not is_ignored("a.jpg", ["", "   "])


def test_accepts_path_objects_but_only_relative_ones():
    assert is_ignored(Path("sub") / ".DS_Store")
    assert not is_ignored(Path("sub") / "a.jpg")
    with pytest.raises(ValueError):
        is_ignored("/home/me/.config/mustelid/inbox/a.jpg")   # would be "hidden" by .config


# --- stability tracker -------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_tracker_reports_a_file_once_it_held_still():
    clock = FakeClock()
    tracker = StabilityTracker(2.0, clock=clock)
    tracker.observe("a.jpg", 10, 111)
    assert tracker.ready() == []
    clock.now += 1.9
    tracker.observe("a.jpg", 10, 111)                        # unchanged: timer keeps running
    assert tracker.ready() == []
    clock.now += 0.1
    assert tracker.ready() == ["a.jpg"]
    assert tracker.ready() == []                             # each version is reported once
    clock.now += 100
    tracker.observe("a.jpg", 10, 111)                        # a rescan of the same version
    assert tracker.ready() == []


@pytest.mark.parametrize("change", [(20, 111), (10, 222)], ids=["size", "mtime"])
def test_any_change_restarts_the_timer(change):
    clock = FakeClock()
    tracker = StabilityTracker(2.0, clock=clock)
    tracker.observe("a.jpg", 10, 111)
    clock.now += 1.5
    tracker.observe("a.jpg", *change)
    clock.now += 1.5
    assert tracker.ready() == []                             # 3 s since first seen, 1.5 since change
    clock.now += 0.5
    assert tracker.ready() == ["a.jpg"]


def test_a_new_version_after_reporting_is_reported_again():
    clock = FakeClock()
    tracker = StabilityTracker(1.0, clock=clock)
    tracker.observe("a.jpg", 10, 111)
    clock.now += 1
    assert tracker.ready() == ["a.jpg"]
    tracker.observe("a.jpg", 12, 333)
    clock.now += 1
    assert tracker.ready() == ["a.jpg"]


def test_forget_drops_the_path_and_lets_it_be_reported_again():
    clock = FakeClock()
    tracker = StabilityTracker(1.0, clock=clock)
    tracker.observe("a.jpg", 10, 111)
    clock.now += 1
    assert tracker.ready() == ["a.jpg"]
    tracker.forget("a.jpg")
    tracker.forget("never-seen.jpg")                         # harmless
    assert "a.jpg" not in tracker
    tracker.observe("a.jpg", 10, 111)                        # e.g. after a transient ingest failure
    assert tracker.ready() == []                             # the timer starts afresh
    clock.now += 1
    assert tracker.ready() == ["a.jpg"]


def test_empty_files_wait_and_retain_prunes_deleted_paths():
    clock = FakeClock()
    tracker = StabilityTracker(1.0, clock=clock)
    tracker.observe("empty.jpg", 0, 1)
    tracker.observe("b.jpg", 5, 1)
    tracker.observe("c.jpg", 5, 1)
    clock.now += 5
    assert tracker.ready() == ["b.jpg", "c.jpg"]
    tracker.retain(["c.jpg", "empty.jpg"])
    assert len(tracker) == 2 and "b.jpg" not in tracker


def test_tracker_defaults_to_the_monotonic_clock():
    tracker = StabilityTracker(0.0)
    tracker.observe("a", 1, 1)
    assert tracker.ready() == ["a"]


# --- scan --------------------------------------------------------------------------------------


def _write(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_scan_walks_nested_folders_and_reports_links_and_specials(tmp_path):
    inbox = tmp_path / "inbox"
    _write(inbox / "a.jpg", b"12345")
    _write(inbox / "receipts" / "2026" / "b.png")
    _write(inbox / ".DS_Store")
    _write(inbox / "c.jpg.part")
    _write(inbox / ".hidden" / "d.jpg")                      # hidden folders are not entered
    outside = _write(tmp_path / "outside" / "secret.jpg")
    os.symlink(outside, inbox / "link.jpg")
    os.symlink(outside.parent, inbox / "linked-folder")      # reported, never entered
    os.mkfifo(inbox / "pipe.jpg")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(inbox / "sock"))
    try:
        found = {c.relpath: c for c in scan(inbox)}
    finally:
        sock.close()

    assert sorted(found) == [
        "a.jpg", "link.jpg", "linked-folder", "pipe.jpg", "receipts/2026/b.png", "sock"
    ]
    a = found["a.jpg"]
    assert a.kind == "file" and a.size == 5 and a.path == inbox / "a.jpg"
    assert a.mtime_ns == os.stat(inbox / "a.jpg").st_mtime_ns
    assert found["receipts/2026/b.png"].path.is_absolute()
    assert found["link.jpg"].kind == "symlink"
    assert found["linked-folder"].kind == "symlink"
    assert found["pipe.jpg"].kind == "special"
    assert found["sock"].kind == "special"


def test_scan_skips_the_done_folder_and_extra_patterns(tmp_path):
    inbox = tmp_path / "inbox"
    _write(inbox / "new.jpg")
    _write(inbox / "done" / "2026" / "old.jpg")
    _write(inbox / "drafts" / "x.jpg")
    found = [c.relpath for c in scan(inbox, ["drafts"], done_dir=inbox / "done")]
    assert found == ["new.jpg"]
    # Same folder spelled differently still counts as the done folder.
    found = [c.relpath for c in scan(inbox, done_dir=str(inbox / "done") + "/../done/")]
    assert sorted(found) == ["drafts/x.jpg", "new.jpg"]


def test_scan_of_a_missing_inbox_yields_nothing(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert list(scan(tmp_path / "nope")) == []
    assert "does not exist" in caplog.text


def test_scan_skips_unreadable_folders(tmp_path, monkeypatch, caplog):
    inbox = tmp_path / "inbox"
    _write(inbox / "ok.jpg")
    _write(inbox / "locked" / "x.jpg")
    real_scandir = os.scandir

    def scandir(path):                                       # chmod 0 does not stop root
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with caplog.at_level(logging.WARNING):
        assert [c.relpath for c in scan(inbox)] == ["ok.jpg"]
    assert "cannot read inbox folder" in caplog.text


# --- watcher -----------------------------------------------------------------------------------


class Hints:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self._changed = threading.Condition()

    def __call__(self, path: str) -> None:
        with self._changed:
            self.paths.append(path)
            self._changed.notify_all()

    def wait_for(self, path: Path, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while str(path) not in self.paths:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True


def test_watcher_hints_created_and_renamed_in_files(tmp_path):
    inbox = tmp_path / "inbox"                               # does not exist yet: created
    hints = Hints()
    watcher = InboxWatcher(inbox, hints)
    try:
        assert watcher.start() == "native"
        assert inbox.is_dir()
        _write(inbox / "sub" / "created.jpg", b"data")
        assert hints.wait_for(inbox / "sub" / "created.jpg")
        staged = _write(tmp_path / "staging" / "tmpname", b"data")
        os.rename(staged, inbox / "renamed.jpg")             # a download finishing elsewhere
        assert hints.wait_for(inbox / "renamed.jpg")
    finally:
        watcher.stop()
    assert watcher.mode == "stopped"


def test_watcher_survives_a_failing_hint_callback(tmp_path, caplog):
    calls = Hints()

    def flaky(path: str) -> None:
        calls(path)
        raise RuntimeError("boom")

    watcher = InboxWatcher(tmp_path, flaky)
    watcher.start()
    try:
        _write(tmp_path / "one.jpg")
        assert calls.wait_for(tmp_path / "one.jpg")
        _write(tmp_path / "two.jpg")
        assert calls.wait_for(tmp_path / "two.jpg")          # the dispatcher thread is still alive
    finally:
        watcher.stop()
    assert "hint handler failed" in caplog.text


def _refusing_observer(err: int):
    class Refusing:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def schedule(self, *args, **kwargs) -> None:
            pass

        def start(self) -> None:
            raise OSError(err, "inotify watch limit reached")

    return Refusing


def test_watcher_falls_back_to_polling_at_the_inotify_limit(tmp_path, monkeypatch, caplog):
    import watchdog.observers

    monkeypatch.setattr(watchdog.observers, "Observer", _refusing_observer(errno.ENOSPC))
    hints = Hints()
    watcher = InboxWatcher(tmp_path, hints, polling_interval=0.1)
    try:
        assert watcher.start() == "polling"
        _write(tmp_path / "polled.jpg")
        assert hints.wait_for(tmp_path / "polled.jpg")
    finally:
        watcher.stop()
    assert "max_user_watches" in caplog.text


def test_watcher_degrades_to_rescans_only(tmp_path, monkeypatch, caplog):
    import watchdog.observers
    import watchdog.observers.polling

    monkeypatch.setattr(watchdog.observers, "Observer", _refusing_observer(errno.EMFILE))
    monkeypatch.setattr(watchdog.observers.polling, "PollingObserver", _refusing_observer(errno.EIO))
    watcher = InboxWatcher(tmp_path, Hints())
    assert watcher.start() == "none"
    watcher.stop()                                           # nothing to stop: no error
    assert "periodic rescans only" in caplog.text


def test_a_file_routed_to_a_task_nobody_provides_is_refused_with_the_reason(fake_home):
    """It used to be ingested with 0 jobs: in no listing, nothing said (issue 13 class 7)."""
    from daemonproc import cli, cli_json

    (fake_home / "config.toml").write_text(
        (fake_home / "config.toml").read_text().replace('default_tasks = ["echo"]',
                                                        'default_tasks = ["no_such_task"]'))
    (fake_home / "inbox").mkdir(exist_ok=True)
    (fake_home / "inbox" / "a.md").write_text("hello")    # the fake plugin routes only .txt
    cli("run", "--once")
    refused = cli_json("files", "--refused")
    assert [(r["reason"], "no_such_task" in r["message"]) for r in refused] == \
        [("unknown_task", True)]


def test_an_unreadable_subfolder_is_listed_as_refused_until_it_can_be_read(fake_home, monkeypatch):
    """It was only a log line: its files waited unseen (issue 13 class 7)."""
    from mustelid.config import load_config
    from mustelid.host import Host
    from mustelid.runner import Daemon
    from mustelid.store import files as store_files
    from mustelid.store import open_db

    inbox = fake_home / "inbox"
    (inbox / "locked").mkdir(parents=True)
    (inbox / "ok.txt").write_text("hello")
    (inbox / "locked" / "later.txt").write_text("later")
    real_scandir = os.scandir

    def scandir(path):                                       # chmod 0 does not stop root
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    def run_once() -> tuple[Daemon, list]:
        config = load_config()
        daemon = Daemon(config, Host(config.plugins_path), once=True)
        daemon.run()
        return daemon, store_files.inbox_files(open_db(config.db_path), refused_only=True)

    monkeypatch.setattr(os, "scandir", scandir)
    daemon, refused = run_once()
    assert [(Path(r["path"]).name, r["reason"]) for r in refused] == [("locked", "unreadable_folder")]
    assert "Permission denied" in refused[0]["message"]
    monkeypatch.setattr(os, "scandir", real_scandir)
    daemon, refused = run_once()
    assert refused == []
    assert daemon.stats["done"] == 1                          # locked/later.txt, now readable
