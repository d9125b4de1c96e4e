"""Receipts' calibrated confidence and the receipt's decision, accepted or needs_review (issue 11):
signals and confidence in provenance, holding a doubtful receipt for a person, the review list
most doubtful first, doubtful rows marked in `mustelid expenses`, the eval's acceptance figures
and the calibration fit."""

import json

import pytest
from PIL import Image
from test_receipts import NOW, SHOP, good_answer, prepared, result_of

from mustelid.execute import NeedsReview
from mustelid.plugins.receipts import Receipts, calibrate
from mustelid.plugins.receipts import confidence as conf
from mustelid.plugins.receipts.cli import expense_rows
from mustelid.plugins.receipts.evaluate import acceptance
from mustelid.store import reviews
from mustelid.store.db import open_db
from mustelid.store.ledger import Ledger
from mustelid.store.migrations import migrate
from mustelid.tasks import Generation
from mustelid.testing import FakeBackend, TaskRunner

CALIBRATION = {"threshold": 0.8, "weights": {
    field: {"bias": -1.0, "model": 1.0, "first": 2.0, "alone": 0.0, "ocr": 1.0, "agrees": 1.0}
    for field in conf.FIELDS}}


@pytest.fixture
def calibrated(monkeypatch):
    monkeypatch.setattr(conf, "calibration", lambda: CALIBRATION)


def sure(**p):
    return {"total": 0.99, "date": 0.99, "merchant": 0.99, **p}


def test_each_field_carries_its_signals_and_confidence(calibrated):
    ev = prepared()
    ev.data["model_confidence"] = sure()
    result = result_of(good_answer())
    assert Receipts().check(result, ev) == []
    for field in conf.FIELDS:
        where = result.provenance[field]
        assert set(where["signals"]) == {"found", "plausible", *conf.SIGNALS}
        assert 0 < where["confidence"] < 1
    fields = [result.provenance[f]["confidence"] for f in conf.FIELDS]
    assert result.provenance["confidence"] == pytest.approx(
        fields[0] * fields[1] * fields[2], abs=1e-3)
    # the total is the first candidate and its rounding adds up: the code agrees
    assert result.provenance["total"]["signals"]["first"] == 1.0
    assert Receipts().review_needed(result, ev) is None


def test_a_doubtful_choice_holds_the_receipt_and_says_which_field(calibrated):
    ev = prepared()
    ev.data["model_confidence"] = sure(total=0.05)
    result = result_of(good_answer(total="27.92"))       # not the first-ranked total
    assert Receipts().check(result, ev) == []
    why = Receipts().review_needed(result, ev)
    assert why and "least sure: total" in why and "accept_threshold 0.8" in why
    # the threshold is the user's to move
    ev_low = prepared(accept_threshold=0.0)
    ev_low.data["model_confidence"] = sure(total=0.05)
    result = result_of(good_answer(total="27.92"))
    Receipts().check(result, ev_low)
    assert Receipts().review_needed(result, ev_low) is None


def test_a_field_left_null_is_an_even_chance_however_sure_the_model_was(calibrated):
    ev = prepared()
    ev.data["model_confidence"] = sure()
    result = result_of(good_answer(date=None))
    Receipts().check(result, ev)
    assert result.provenance["date"]["confidence"] == conf.NOT_FOUND
    assert result.provenance["total"]["confidence"] > conf.NOT_FOUND
    assert Receipts().review_needed(result, ev)      # the threshold (0.8) holds it


def test_a_name_that_shows_its_misreading_or_reads_as_an_address_is_held(calibrated):
    from mustelid.plugins.receipts.merchants import doubtful_name
    for name in ("BOOK TA _K (TAMAN DAYA) SDN BHD", "MR. D.I.. (M) SDN BHD",
                 "K3-113,JL IBRAHIM SULTAN", "SHOP | MART"):
        assert doubtful_name(name), name
    for name in ("BOOK TA .K (TAMAN DAYA) SDN BHD", "MR. D.I.Y. (M) SDN BHD",
                 "99 SPEED MART S/B", "RESTORAN WAN SHENG", "7-ELEVEN", "GL HANDICRAFT & TAILORING",
                 "NO. 1 JALAN KOPI ENTERPRISE", "CAFE 88", "Ottogo Enterprise"):
        assert not doubtful_name(name), name
    sig = {"found": 1.0, "plausible": 0.0, "model": 9.2, "first": 1.0, "alone": 1.0,
           "ocr": 0.99, "agrees": 1.0}
    assert conf.probability("merchant", {**sig, "plausible": 1.0}) > 0.9
    assert conf.probability("merchant", sig) == conf.DOUBTFUL
    assert conf.fitted_probability(CALIBRATION["weights"]["merchant"], sig) == conf.DOUBTFUL
    # In a job: the receipt waits, and the reason says why the name is doubted.
    from test_receipts import receipt_lines
    lines = receipt_lines("BOOK TA _K SDN BHD", "12 JALAN MAJU, 43000 KAJANG",
                          "Date: 05/01/2026 14:02", "TOTAL RM|27.90", "CASH|50.00",
                          "CHANGE|22.10")
    ev = prepared(lines)
    ev.data["model_confidence"] = sure()
    result = result_of(good_answer(merchant="BOOK TA _K SDN BHD"))
    assert Receipts().check(result, ev) == []
    assert result.provenance["merchant"]["signals"]["plausible"] == 0.0
    why = Receipts().review_needed(result, ev)
    assert why and "least sure: merchant 0.50; the name looks misread" in why


def test_a_backend_without_probabilities_claims_no_confidence(calibrated):
    ev = prepared()          # no model_confidence: not a choice decoder
    result = result_of(good_answer())
    assert Receipts().check(result, ev) == []
    assert "confidence" not in result.provenance
    assert Receipts().review_needed(result, ev) is None


def test_the_job_waits_in_needs_review_with_reason_low_confidence(calibrated, tmp_path):
    image = tmp_path / "r.png"
    Image.new("RGB", (60, 60), "white").save(image)
    doubtful = Generation(json.dumps(good_answer(total="27.92")), "stop",
                          confidence=sure(total=0.05))
    with TaskRunner(backend=FakeBackend(doubtful), ocr=SHOP, now=NOW) as runner:
        with pytest.raises(NeedsReview) as held:
            runner.run("receipts", image)
    assert held.value.reason == "low_confidence"
    assert held.value.review["stats"]["confidence"] < 0.8
    assert held.value.review["data"]["total"] == "27.92"
    confident = Generation(json.dumps(good_answer()), "stop", confidence=sure())
    with TaskRunner(backend=FakeBackend(confident), ocr=SHOP, now=NOW) as runner:
        run = runner.run("receipts", image)
        assert run.stats["confidence"] >= 0.8 and run.stats["generations"] == 1
        [filed] = expense_rows(runner.persist(run), None, history=False, limit=10)
    assert filed["check"] is None and filed["total"] == good_answer()["total"]


def _held_db(tmp_path, confidences):
    db = open_db(tmp_path / "m.db")
    migrate(db)
    ledger = Ledger(db)
    ids = []
    for i, c in enumerate(confidences):
        job_id, _ = ledger.enqueue("receipts", idempotency_key=f"k{i}")
        ledger.claim("me", 60, tasks=["receipts"])
        data = {**good_answer(total=f"{10 + i}.00"), "items": [], "provenance": {}}
        stats = {} if c is None else {"confidence": c}
        reason = "check_failed" if c is None else "low_confidence"
        ledger.hold_for_review(job_id, "me", reason, "why", {"data": data, "stats": stats,
                                                             "problems": ["why"]})
        ids.append(job_id)
    return db, ids


def test_review_lists_the_most_doubtful_first(tmp_path):
    db, ids = _held_db(tmp_path, [0.7, None, 0.2])
    order = [r["job_id"] for r in reviews.pending(db)]
    # a failed check first, then by confidence, lowest first
    assert order == [ids[1], ids[2], ids[0]]
    assert [r["confidence"] for r in reviews.pending(db)] == [None, 0.2, 0.7]


def test_expenses_show_held_receipts_marked_for_review(tmp_path):
    db, ids = _held_db(tmp_path, [0.4])
    rows = expense_rows(db, None, history=False, limit=10)
    assert [(r["job_id"], r["check"], r["total"]) for r in rows] == [(ids[0], "review", "10.00")]
    assert expense_rows(db, "2027-01-01", history=False, limit=10) == []


def test_eval_reports_acceptance_and_a_reliability_table():
    def row(accepted, *fields):
        return {"accepted": accepted,
                "fields": {name: {"match": ok, "confidence": c}
                           for name, (ok, c) in zip(conf.FIELDS, fields)}}
    rows = [row(True, (True, 0.99), (True, 0.995), (True, 0.999)),
            row(True, (False, 0.97), (True, 0.999), (True, 0.999)),
            row(False, (False, 0.3), (True, 0.99), (True, 0.6)),
            {"accepted": False, "fields": {"total": {"match": False}}}]      # failed: no answer
    report = acceptance(rows)
    assert report["acceptance_rate"] == 0.5
    assert report["accepted_accuracy"] == round(5 / 6, 4)
    bins = {(b["from"], b["to"]): (b["fields"], b["accuracy"]) for b in report["reliability"]}
    assert bins[(0.0, 0.5)] == (1, 0.0) and bins[(0.5, 0.8)] == (1, 1.0)
    assert bins[(0.95, 0.99)] == (1, 0.0) and bins[(0.99, 1.0)] == (6, 1.0)


def test_calibration_learns_which_signal_predicts_a_right_field_and_picks_a_threshold():
    results = []
    for i in range(60):
        first = i % 3 != 0             # the code's first choice: right; otherwise often wrong
        right = first or i % 2 == 0
        fields = {f: {"match": right, "signals": {"model": 0.0, "first": float(first),
                                                  "alone": 0.5, "ocr": 0.9, "agrees": 0.0}}
                  for f in conf.FIELDS}
        results.append({"fields": fields})
    report = {"results": results}
    weights = {f: calibrate.fit(calibrate.samples(report, f)) for f in conf.FIELDS}
    assert weights["total"]["first"] > 1.0
    table = calibrate.trade_off(report, weights)
    everything = next(t for t in table if t["threshold"] == 0.0)
    assert everything["acceptance_rate"] == 1.0 and everything["accepted_accuracy"] < 0.9
    strict = [t for t in table if t["accepted_accuracy"] == 1.0]
    assert strict and strict[0]["acceptance_rate"] == pytest.approx(40 / 60, abs=0.01)


def test_the_shipped_calibration_is_fitted_for_every_field():
    shipped = conf.calibration()
    assert set(shipped["weights"]) == set(conf.FIELDS)
    assert all(set(w) == {"bias", *conf.SIGNALS} for w in shipped["weights"].values())
    assert 0 < shipped["threshold"] < 1 and shipped["cases"] >= 50


def test_a_field_right_on_every_tuning_receipt_still_gets_a_bounded_confidence():
    """Plain 0/1 targets with no wrong sample drive the bias to infinity: every later answer,
    wrong ones included, would then be 1.0 sure. Platt's smoothed targets keep it below
    (N+1)/(N+2)."""
    data = [([0.9, float(i % 2), 0.5, 0.9, 1.0, 1.0], 1) for i in range(100)]
    data = [(x[:len(conf.SIGNALS)], y) for x, y in data]
    weights = calibrate.fit(data)
    sure = conf.fitted_probability(weights, dict(zip(conf.SIGNALS, data[0][0])))
    assert 0.9 < sure <= 101 / 102 + 1e-6
    assert abs(weights["bias"]) < 10
