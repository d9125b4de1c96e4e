"""Disk full: the daemon stops claiming, says why, deletes nothing, and resumes by itself.

The data dir lives on a 4 MiB tmpfs (needs root to mount; CI runs as root). A filler file eats
the space; files dropped meanwhile stay in the inbox and are processed once space returns.
"""

import os
import shutil
import subprocess

import pytest
from conftest import TESTS, write_config
from daemonproc import DaemonProcess, cli_json, wait_for


@pytest.fixture
def small_home(tmp_path, monkeypatch):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        if os.environ.get("MUSTELID_REQUIRE_REAL"):
            pytest.fail("cannot mount a tmpfs (CI runs as root and must)")
        pytest.skip("mounting a tmpfs needs root")
    try:
        home = mnt / "home"
        home.mkdir()
        (home / "plugins").mkdir()
        shutil.copy(TESTS / "plugins" / "fakeplugin.py", home / "plugins")
        inbox = tmp_path / "inbox"          # on the normal disk: the user's folder
        inbox.mkdir()
        write_config(home, f"""
[model]
backend = "fake"
[inbox]
path = "{inbox}"
stable_seconds = 0.3
rescan_seconds = 300
default_tasks = ["echo"]
""")
        monkeypatch.setenv("MUSTELID_HOME", str(home))
        yield home, inbox
    finally:
        subprocess.run(["umount", "-l", str(mnt)])


def fill(path):
    # Unbuffered: a buffered file would try to flush its leftover bytes again on close and raise
    # ENOSPC out of the with-block.
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass


def test_disk_full_pauses_then_resumes_without_losing_anything(small_home):
    home, inbox = small_home
    d = DaemonProcess(home)
    try:
        (inbox / "first.txt").write_text("before the disk filled")
        wait_for(lambda: cli_json("status")["jobs"]["done"] == 1, what="first job done")
        filler = home / "filler.bin"
        fill(filler)
        for i in range(5):
            (inbox / f"note-{i}.txt").write_text(f"dropped while full {i} " + "x" * 2000)
        wait_for(lambda: "(disk_full)" in d.output() or "paused: database" in d.output(),
                 timeout=30,
                 what="the daemon to notice the full disk")
        assert d.alive()
        print("".join(l + "\n" for l in d.output().splitlines() if "(disk_full)" in l or "paused" in l))
        assert len(list(inbox.iterdir())) == 6            # nothing deleted
        status = cli_json("status")
        assert status["jobs"]["done"] == 1
        filler.unlink()
        wait_for(lambda: cli_json("status")["jobs"]["done"] == 6, timeout=60,
                 what="all jobs done after space returned")
        assert d.alive()
        assert len(list(inbox.iterdir())) == 6
    finally:
        d.stop()
