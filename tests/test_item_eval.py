"""Line items in `mustelid eval receipts`: the name normalisation and matching rules
(plugins/receipts/evaluate_items.py, docs/EVAL.md), labels merged from a folder outside the
images (`--labels`), and the command on a tiny folder with a fake model and OCR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mustelid.evaluate import EvalError, load_cases
from mustelid.plugins.receipts import Receipts
from mustelid.plugins.receipts import evaluate_items as items_eval
from mustelid.testing import FakeBackend, TaskRunner
from test_eval import image, labelled, main_group
from test_receipts import NOW, SHOP, good_answer

LABELS = Path(__file__).resolve().parents[1] / "examples" / "eval" / "sroie-items"


def item(name: str, price: str, quantity: float = 1) -> dict:
    return {"name": name, "quantity": quantity, "price": price}


@pytest.mark.parametrize("label, produced", [
    ("KF MODELLING CLAY KIDDY FISH", "kf modelling clay  kiddy fish"),   # case, spaces
    ("GF-TABLE LAMP/STITCH <i>", "GF TABLE LAMP STITCH I"),             # punctuation
    ("BRAISED PORK RICE WITH PEANUT", "(T02) BRAISED PORK RICE WITH PEANUT"),  # a code inside
    ("CBE A4 SIZE 20 POCKETS REFILLABLE NEW", "CBE A4 SIZE 20 POCKETS REFILLABLE NE"),  # cut
])
def test_names_that_match(label, produced):
    assert items_eval.names_match(label, produced)


@pytest.mark.parametrize("label, produced", [
    ("DOUBLE SIDED TISSUE TAPE 18MM", "TAPE"),            # contained, but far too short
    ("HH GUINESS 12 GLASSES", "HH TIGER 12 GLASSES"),     # another item of the same shape
    ("Pork", "4 Vege"),
    ("SEAFOOD", ""), ("", ""),                            # nothing never matches
])
def test_names_that_must_not_match(label, produced):
    assert not items_eval.names_match(label, produced)


def test_name_key_keeps_letters_and_digits_only():
    assert items_eval.name_key('11" PROWESS H/DUTY G-D2') == "11prowesshdutygd2"


def test_price_must_be_the_same_amount_exactly():
    label = item("PLASTIC", "31.00", 2)
    assert items_eval.same_item(label, item("Plastic", "31.000"))
    assert items_eval.same_item(label, item("Plastic", "RM 31.00"))
    assert not items_eval.same_item(label, item("Plastic", "15.50"))   # the unit price
    assert not items_eval.same_item(label, item("Plastic", "31.01"))


def test_matching_is_one_to_one_and_maximal():
    labels = [item("VEGETABLES", "2.20"), item("VEGETABLES", "1.00"), item("SEAFOOD", "8.50")]
    produced = [item("VEGETABLES", "2.20"), item("VEGETABLES", "2.20"), item("SEAFOOD", "8.50")]
    counters, detail = items_eval.score_items(labels, {"items": produced})
    assert counters == {"items_precision": (2, 3), "items_recall": (2, 3),
                        "items_quantity": (2, 2)}
    assert "missed VEGETABLES x1 1.00" in detail["why"]
    assert "extra VEGETABLES x1 2.20" in detail["why"]
    # Greedy pairing would give label 0 the first produced line and leave label 1 nothing.
    labels = [item("ROAST PORK", "12.00"), item("ROAST PORK SMALL", "12.00")]
    produced = [item("ROAST PORK SMALL", "12.00"), item("ROAST PORK", "12.00")]
    assert items_eval.match(labels, produced) == [(0, 1), (1, 0)]


def test_quantity_is_judged_among_matched_items_only():
    labels = [item("HEINEKEN (5 BTL)", "190.00", 2), item("CHIPS", "5.00")]
    counters, detail = items_eval.score_items(labels, {"items": [
        item("HEINEKEN (5 BTL)", "190.00", 1)]})
    assert counters["items_quantity"] == (0, 1) and counters["items_recall"] == (1, 2)
    assert "x1 for x2" in detail["why"] and not detail["match"]


def test_no_answer_misses_every_labelled_item_and_costs_no_precision():
    counters, detail = items_eval.score_items([item("A", "1.00")], None)
    assert counters == {"items_precision": (0, 0), "items_recall": (0, 1),
                        "items_quantity": (0, 0)}


def test_wilson_interval():
    low, high = items_eval.wilson(40, 50)
    assert low == pytest.approx(0.6696, abs=1e-4) and high == pytest.approx(0.8875, abs=1e-4)
    assert items_eval.wilson(0, 0) is None and items_eval.wilson(5, 5)[1] == 1.0


def test_item_labels_are_checked_and_kept_beside_the_sroie_fields():
    sroie = {"company": "X", "date": "1/2/2019", "total": "9.00", "items": [item("A", "9.00")]}
    assert Receipts().eval_truth(sroie)["items"] == [item("A", "9.00")]
    with pytest.raises(ValueError, match="items"):
        Receipts().eval_truth({**sroie, "items": [{"name": "A"}]})


def test_the_repository_labels_follow_their_own_format():
    files = sorted(LABELS.glob("*.json"))
    assert len(files) >= 40
    halves = {n: 0 for n in ("odd", "even")}
    for f in files:
        labels = json.loads(f.read_text())
        assert set(labels) == {"items"}, f
        for i in labels["items"]:
            assert set(i) == {"name", "quantity", "price"} and i["name"].strip(), f
            assert items_eval.amount(i["price"]) is not None and i["quantity"] > 0, f
        halves["odd" if int(f.stem) % 2 else "even"] += 1
    assert min(halves.values()) >= 20, halves


# -- --labels: labels from a folder outside the images ------------------------------------------


def test_extra_labels_merge_over_the_folders_own(tmp_path):
    images, extra = tmp_path / "images", tmp_path / "extra"
    images.mkdir(), extra.mkdir()
    labelled(images, "001", {"company": "A", "date": "01/02/2019", "total": "1.00"})
    labelled(images, "002", {"company": "B", "date": "01/02/2019", "total": "2.00"})
    image(images / "003.png")                    # labelled only in the extra folder
    (extra / "001.json").write_text(json.dumps({"items": [item("PEN", "1.00")]}))
    (extra / "003.json").write_text(json.dumps({"total": "3.00"}))
    cases, unlabelled = load_cases(images, Receipts(), labels=extra)
    truth = {c.name: c.truth for c in cases}
    assert truth["001"]["items"] == [item("PEN", "1.00")] and truth["001"]["total"] == "1.00"
    assert "items" not in truth["002"] and truth["003"] == {"total": "3.00"}
    assert unlabelled == []
    with pytest.raises(EvalError, match="not a folder"):
        load_cases(images, Receipts(), labels=tmp_path / "missing")
    with pytest.raises(EvalError, match="no NAME.json in"):
        load_cases(images, Receipts(), names="002", labels=extra)
    (extra / "002.json").write_text(json.dumps({"items": "PEN 2.00"}))
    with pytest.raises(EvalError, match="002.json.*items"):
        load_cases(images, Receipts(), labels=extra)


def test_eval_command_scores_items_from_extra_labels(home, tmp_path, monkeypatch):
    """`mustelid eval receipts FOLDER --labels DIR --split --json` through the worker's code
    path (fake model and OCR): SHOP prints HAMMER 19.90 and NAILS 100PCS 2 X 4.00; the labels
    name both and a third line the receipt does not have."""
    images, extra = tmp_path / "images", tmp_path / "extra"
    images.mkdir(), extra.mkdir()
    truth = {"company": "Corner Hardware Sdn Bhd", "date": "05/01/2026", "total": "RM27.90"}
    for name in ("001", "002"):
        labelled(images, name, truth)
    (extra / "001.json").write_text(json.dumps({"items": [
        item("Hammer", "19.90"), item("NAILS 100PCS", "4.00", 2), item("SCREWS", "3.00")]}))
    (extra / "002.json").write_text(json.dumps({"items": [item("HAMMER", "19.90", 3)]}))

    runner = TaskRunner(backend=FakeBackend(good_answer()), ocr=SHOP, now=NOW)
    with runner:
        monkeypatch.setattr("mustelid.worker.WorkerContext", lambda cfg, host: runner.ctx)
        monkeypatch.setattr(runner.ctx, "close", lambda: None)
        result = CliRunner().invoke(main_group(), ["eval", "receipts", str(images), "--labels",
                                                   str(extra), "--split", "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        text = CliRunner().invoke(main_group(), ["eval", "receipts", str(images), "--labels",
                                                 str(extra), "--misses"])
    assert report["labels"] == str(extra)
    produced = report["results"][0]["fields"]["items"]["produced"]
    assert produced == 2, report["results"][0]["fields"]["items"]   # what the code reads
    assert report["fields"]["items_recall"] == {"matched": 3, "of": 4, "rate": 0.75}
    assert report["fields"]["items_precision"] == {"matched": 3, "of": 4, "rate": 0.75}
    assert report["fields"]["items_quantity"] == {"matched": 2, "of": 3, "rate": 0.6667}
    assert report["items_recall"] == 0.75 and report["items_labelled"] == 4
    assert report["items_wilson95"]["recall"] == items_eval.wilson(3, 4)
    assert report["split"]["odd"]["items_recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["split"]["even"]["fields"]["items_precision"]["of"] == 2
    # The fields are scored as before, and the items do not count as a field of acceptance.
    assert report["fields"]["total"]["rate"] == 1.0
    assert report["acceptance_rate"] == 1.0 and report["accepted_accuracy"] == 1.0
    assert text.exit_code == 0, text.output
    assert "items_recall" in text.output and "75.0%" in text.output
    assert "missed SCREWS x1 3.00" in text.output and "x1 for x3" in text.output
