"""needs_review: a valid answer that fails its checks after the re-ask waits for a person;
`mustelid review` lists, accepts, corrects or rejects it; corrections come back as examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from parents import add_file

from mustelid.commit import commit
from mustelid.config import load_config
from mustelid.execute import NeedsReview
from mustelid.home import open_store
from mustelid.host import Host
from mustelid.store import reviews
from mustelid.testing import FakeBackend, TaskRunner
from mustelid.worker import handle
from test_receipts import NOW, SHOP, FakeCtx, good_answer, job, prepared
from mustelid.plugins.receipts import Receipts

UNPRINTED = good_answer(total="31.00")   # well-formed, but 31.00 is printed nowhere


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / "r.png"
    Image.new("RGB", (200, 300), "white").save(path)
    return path


def test_a_check_failure_after_the_reask_is_held_with_the_raw_answer(image):
    backend = FakeBackend(UNPRINTED)
    with TaskRunner(backend=backend, ocr=SHOP, now=NOW) as runner:
        with pytest.raises(NeedsReview) as e:
            runner.run("receipts", image)
        reply = handle(runner.ctx, runner._job_input(runner.task("receipts"), image, None))
    assert len(backend.calls) == 4                       # two jobs, each asked and re-asked
    held = e.value.review
    assert held["data"]["total"] == "31.00" and '"31.00"' in held["raw"]
    assert any("31.00" in p for p in held["problems"])
    assert "rows" in held["evidence"]
    # The worker tells the daemon to hold it, with everything needed to review it.
    assert reply["ok"] is False and reply["kind"] == "review"
    assert reply["review"]["data"]["total"] == "31.00"


def test_invalid_json_twice_is_still_dead_not_review(image):
    from mustelid.tasks import PermanentError

    with TaskRunner(backend=FakeBackend("{not json"), ocr=SHOP, now=NOW) as runner:
        with pytest.raises(PermanentError) as e:
            runner.run("receipts", image)
    assert not isinstance(e.value, NeedsReview) and e.value.reason == "invalid_json"


# -- the ledger, the daemon's routing and the CLI ---------------------------------------------


def held_job(home) -> tuple[object, object, str]:
    """A receipts job claimed as the daemon claims it and held for review through the daemon's
    commit (``mustelid.commit.commit``)."""
    cfg = load_config()
    host = Host(cfg.plugins_path)
    db, ledger = open_store(cfg, host)
    job_id, _ = ledger.enqueue("receipts", idempotency_key="k1",
                               input_sha256=add_file(db, "ab" * 32))
    row = ledger.claim("daemon", 60)
    evidence = prepared().data
    reply = {"ok": False, "kind": "review", "reason": "check_failed", "message": "total 31.00 ...",
             "review": {"data": {**UNPRINTED, "provenance": None}, "raw": json.dumps(UNPRINTED),
                        "problems": ["total 31.00 does not appear among the amounts printed"],
                        "evidence": evidence, "stats": {"duration_s": 1.5}}}
    assert commit(ledger, host.task("receipts"), row, reply).state == "needs_review"
    return db, ledger, job_id


def cli(*args: str):
    from mustelid.cli import _assembled

    return CliRunner().invoke(_assembled(), list(args))


def test_daemon_holds_it_and_every_listing_shows_it(home):
    db, ledger, job_id = held_job(home)
    job = ledger.get(job_id)
    assert job["state"] == "needs_review" and job["reason"] == "check_failed"
    assert ledger.counts()["needs_review"] == 1
    assert [e["event"] for e in ledger.events(job_id)][-1] == "needs_review"
    assert reviews.get(db, job_id)["raw"] == json.dumps(UNPRINTED)
    listed = json.loads(cli("jobs", "--state", "needs_review", "--json").stdout)
    assert [j["id"] for j in listed] == [job_id]
    status = json.loads(cli("status", "--json").stdout)
    assert status["jobs"]["needs_review"] == 1
    pending = json.loads(cli("review", "--json").stdout)
    assert pending[0]["job_id"] == job_id and "31.00" in pending[0]["problems"][0]


def test_review_corrects_a_field_stores_it_and_the_next_receipt_sees_it(home):
    db, ledger, job_id = held_job(home)
    preview = cli("review", job_id, "--set", "total=27.90", "--json")
    assert preview.exit_code == 0, preview.output
    assert json.loads(preview.stdout)["changes"] == [
        {"field": "total", "was": "31.00", "value": "27.90"}]
    assert ledger.get(job_id)["state"] == "needs_review"       # a preview changes nothing
    bad = cli("review", job_id, "--set", "total=lots", "--accept")
    assert bad.exit_code != 0 and "not saved" in bad.output
    unknown = cli("review", job_id, "--set", "colour=red", "--accept")
    assert unknown.exit_code != 0 and "not a field" in unknown.output
    assert ledger.get(job_id)["state"] == "needs_review"
    done = cli("review", job_id, "--set", "total=27.90", "--accept")
    assert done.exit_code == 0, done.output
    assert ledger.get(job_id)["state"] == "done"
    result = json.loads(ledger.result(job_id)["data"])
    assert result["total"] == "27.90"
    [expense] = list(db["expenses"].rows)
    assert expense["total"] == "27.90" and expense["job_id"] == job_id
    [c] = list(db["corrections"].rows)
    assert (c["field"], json.loads(c["value"]), c["example_key"]) == (
        "total", "27.90", "CORNERHARDWARESDNBHD")
    assert reviews.get(db, job_id)["resolution"] == "corrected"
    assert cli("review", job_id, "--accept").exit_code != 0     # not held any more

    # The next receipt from the same merchant gets the corrected example in its prompt, and
    # the total printed beside the same words is offered first.
    class Ctx(FakeCtx):
        def read_db(self):
            return db

    ctx = Ctx(SHOP)
    ctx.config = load_config()
    evidence = Receipts().prepare(job(), ctx)
    assert evidence.data["example"]["total"] == "27.90"
    assert evidence.data["example"]["total_label"] == "TOTAL ROUNDED RM"
    assert evidence.data["totals"][0] == "27.90"
    user = Receipts().messages(job(), evidence, ctx)[-1]["content"]
    assert "A person checked an earlier receipt from CORNER HARDWARE SDN BHD" in user


def test_no_example_for_another_merchant(home):
    db, ledger, job_id = held_job(home)
    assert cli("review", job_id, "--set", "total=27.90", "--accept").exit_code == 0
    assert reviews.examples(db, "receipts", ["SOMEOTHERSHOP"]) == []
    assert reviews.examples(db, "receipts", ["CORNERHARDWARESDNBHD"])[0]["job_id"] == job_id


def test_accept_as_is_and_reject(home):
    db, ledger, job_id = held_job(home)
    assert cli("review", job_id, "--reject", "--note", "blurred").exit_code == 0
    job = ledger.get(job_id)
    assert job["state"] == "dead" and job["reason"] == "rejected_in_review"
    assert reviews.get(db, job_id)["raw"]                     # the answer is kept
    job2, _ = ledger.enqueue("receipts", idempotency_key="k2",
                            input_sha256=add_file(db, "cd" * 32))
    owner = "t"
    ledger.claim(owner, 60)
    ledger.hold_for_review(job2, owner, "check_failed", "x",
                           {"data": good_answer(), "raw": "{}", "problems": ["p"],
                            "evidence": {}, "stats": {}})
    out = cli("review", job2, "--accept")
    assert out.exit_code == 0 and "accepted as is" in out.output
    assert ledger.get(job2)["state"] == "done" and list(db["corrections"].rows) == []
