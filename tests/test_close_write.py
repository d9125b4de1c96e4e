"""A file its writer closed is ready at once; every other arrival still waits out the window.

The daemon runs with a stability window of an hour, so a file can only be taken before the
window by its close: the assertions are on the path each file took (``ready_by_close`` /
``ready_by_window`` in `mustelid status`), never on timing.
"""

from __future__ import annotations

import os
import sys

import pytest

from conftest import write_config
from daemonproc import DaemonProcess, cli_json
from daemonproc import wait_for as _wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="close-write events come from inotify (Linux)")

HOUR = 'stable_seconds = 3600'


def wait_for(predicate, what, timeout=30.0):
    return _wait_for(predicate, timeout=timeout, what=what)


def inbox_files():
    return cli_json("status")["inbox_files"]


def test_closed_files_skip_the_window_renamed_and_open_ones_wait(fake_home):
    text = (fake_home / "config.toml").read_text()
    write_config(fake_home, text.replace("stable_seconds = 0.3", HOUR))
    inbox = fake_home / "inbox"
    d = DaemonProcess(fake_home)
    try:
        wait_for(lambda: cli_json("status")["state"] == "running", "the first scan")

        # Written and closed in place (a copy, a save): taken by its close.
        (inbox / "closed.txt").write_text("written and closed in the inbox")
        files = wait_for(lambda: (f := inbox_files()).get("ready_by_close") == 1 and f,
                         "the closed file to be taken by its close")
        assert files["ready_by_window"] == 0, files
        wait_for(lambda: cli_json("status")["jobs"].get("done") == 1, "its job to finish")

        # Renamed in (a download finishing elsewhere): no close in the inbox, so it waits.
        staged = fake_home / "staged.txt"
        staged.write_text("written elsewhere, then renamed in")
        staged.rename(inbox / "renamed.txt")
        # Still open for writing: seen (created, modified) but never taken while open.
        with open(inbox / "open.txt", "w") as writer:
            writer.write("half of it")
            writer.flush()
            os.fsync(writer.fileno())
            files = wait_for(lambda: (f := inbox_files()).get("settling") == 2 and f,
                             "the renamed and the open file to be tracked")
            assert (files["ready_by_close"], files["ready_by_window"]) == (1, 0), files
            assert files["ready"] == 0, files
            writer.write(", and the rest")
        # Closed now: taken by its close, with all of its content.
        files = wait_for(lambda: (f := inbox_files()).get("ready_by_close") == 2 and f,
                         "the file to be taken once closed")
        assert files["settling"] == 1 and files["ready_by_window"] == 0, files   # renamed waits
        wait_for(lambda: cli_json("status")["jobs"].get("done") == 2, "its job to finish")
    finally:
        d.stop()


def test_a_file_changed_after_its_close_waits_again():
    """The tracker side: a close marks that version ready; any later change must hold still."""
    from mustelid.inbox import StabilityTracker

    now = [100.0]
    tracker = StabilityTracker(60.0, clock=lambda: now[0])
    tracker.observe("a.jpg", 0, 1)             # created, empty
    tracker.closed("a.jpg", 10, 2)             # written and closed
    assert tracker.closed_at("a.jpg") == (10, 2)
    tracker.observe("a.jpg", 20, 3)            # reopened and appended before it was taken
    assert tracker.closed_at("a.jpg") is None and tracker.ready() == []
    tracker.closed("b.jpg", 0, 1)              # an empty file closed: a placeholder, it waits
    assert tracker.ready() == []
    tracker.closed("c.jpg", 5, 1)
    assert tracker.ready() == ["c.jpg"]
    now[0] += 60
    assert tracker.ready() == ["a.jpg"]
