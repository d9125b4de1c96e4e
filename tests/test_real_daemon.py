"""The product path, for real: the daemon process, the default model, RapidOCR, a real SQLite
file, real receipts from ../shared/data/sroie-dev, kill -9, and bad files."""

import json
import shutil
import signal
import time
from decimal import Decimal

import pytest
from conftest import SROIE, write_config
from daemonproc import DaemonProcess, cli, cli_json, jobs_by_file, wait_for

pytestmark = pytest.mark.real

RECEIPTS = ["000", "001", "002"]


@pytest.fixture
def real_home(home, real_model):
    write_config(home, """
[inbox]
stable_seconds = 0.5
[model]
threads = 2
[jobs]
timeout_seconds = 240
""")
    (home / "inbox").mkdir()
    return home


def drop_receipt(home, stem, name=None):
    src = SROIE / f"{stem}.jpg"
    dest = home / "inbox" / (name or f"receipt-{stem}.jpg")
    tmp = dest.with_name(dest.name + ".part")      # written like a browser download
    shutil.copy(src, tmp)
    tmp.rename(dest)
    return dest


def truth(stem):
    return json.loads((SROIE / f"{stem}.json").read_text())


def test_three_receipts_dropped_into_the_inbox_land_as_expenses(real_home):
    d = DaemonProcess(real_home)
    try:
        started = time.monotonic()
        for stem in RECEIPTS:
            drop_receipt(real_home, stem)
        jobs = wait_for(
            lambda: (j := jobs_by_file()) and len(j) == 3
            and all(x["state"] in ("done", "dead", "needs_review") for x in j.values()) and j,
            timeout=600, interval=1, what="3 receipts to be processed")
        elapsed = time.monotonic() - started
        # Filed, or held for a person when not sure enough (issue 11): never dead.
        assert all(j["state"] in ("done", "needs_review") for j in jobs.values()), {
            f: (j["state"], j["reason"], j["last_error"]) for f, j in jobs.items()}
        expenses = cli_json("expenses")     # held receipts are listed, marked "review"
        assert len(expenses) == 3
        assert sum(e["check"] == "review" for e in expenses) == sum(
            j["state"] == "needs_review" for j in jobs.values())
        by_file = {e["file"]: e for e in expenses}
        right = sum(Decimal(by_file[f"receipt-{s}.jpg"]["total"]) == Decimal(truth(s)["total"])
                    for s in RECEIPTS)
        print(f"\n3 receipts in {elapsed:.1f}s ({elapsed / 3:.1f}s each incl. model load); "
              f"totals right: {right}/3")
        assert right >= 2
        for e in expenses:   # every stored total is grounded in an OCR line
            assert e["provenance"].get("total"), e
        assert d.alive()
    finally:
        d.stop()


def test_kill9_mid_receipt_then_restart_gives_exactly_one_expense(real_home):
    d = DaemonProcess(real_home)
    # Into receipts/ (routed by folder, no router call): this test is about recovery, and one
    # receipts job is the shortest real job that writes an expense.
    (real_home / "inbox" / "receipts").mkdir()
    drop_receipt(real_home, "003", name="receipts/receipt-003.jpg")
    wait_for(lambda: any(j["state"] == "running" for j in cli_json("jobs")),
             timeout=120, what="the receipt job to start")
    time.sleep(1.0)          # inside OCR or generation
    d.kill9()
    d2 = DaemonProcess(real_home)
    try:
        job = wait_for(lambda: (j := cli_json("jobs")[0])["state"] in ("done", "dead",
                                                                        "needs_review") and j,
                       timeout=300, interval=1, what="the recovered job to finish")
        assert job["state"] in ("done", "needs_review"), job
        assert len(cli_json("expenses")) == 1
        events = [e["event"] for e in cli_json("show", job["id"])["events"]]
        assert "recovered" in events
    finally:
        d2.stop()


def test_corrupt_image_ends_dead_and_text_named_jpg_is_read_as_text(real_home):
    # Files are typed by their bytes, never by their names: text named .jpg is a text note,
    # offered to the tasks that read text; a truncated JPEG is a corrupt image.
    d = DaemonProcess(real_home)
    try:
        good = (SROIE / "004.jpg").read_bytes()
        (real_home / "inbox" / "truncated.jpg").write_bytes(good[: len(good) // 3])
        (real_home / "inbox" / "notes.jpg").write_text("this is just text, not an image\n")
        jobs = wait_for(
            lambda: (j := jobs_by_file()) and len(j) == 2
            and all(x["state"] in ("done", "dead") for x in j.values()) and j,
            timeout=180, interval=1, what="both files to end")
        assert jobs["truncated.jpg"]["state"] == "dead"
        assert jobs["truncated.jpg"]["reason"] == "unreadable_image"
        assert jobs["notes.jpg"]["state"] == "done", jobs["notes.jpg"]
        assert d.alive() and cli_json("status")["pid"] == d.pid
        assert (real_home / "inbox" / "truncated.jpg").exists()
        assert cli_json("expenses") == []
    finally:
        d.stop()
