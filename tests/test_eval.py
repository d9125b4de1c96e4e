"""`mustelid eval`: the normalisation rules, folder loading, scoring through the worker's code
path (fake model and OCR), the CLI, and one run with the real model and OCR on SROIE receipts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from mustelid.cli import main  # noqa: F401  (assembles the CLI)
from mustelid.evaluate import EvalError, evaluate, load_cases, percentile
from mustelid.plugins.receipts import evaluate as receipts_eval
from mustelid.plugins.receipts import Receipts
from mustelid.testing import FakeBackend, TaskRunner
from test_receipts import NOW, SHOP, SROIE, good_answer


@pytest.mark.parametrize("printed, amount", [
    ("33.90", "33.90"), ("RM 33.90", "33.90"), ("$1,234.50", "1234.50"), ("33.9", "33.90"),
    ("12,50", "12.50"), ("1.234,50 EUR", "1234.50"), ("1200", "1200.00"), ("¥1,200", "1200.00"),
])
def test_total_is_compared_as_a_decimal_amount(printed, amount):
    assert receipts_eval.money(printed) == amount


def test_different_totals_stay_different():
    assert receipts_eval.money("33.90") != receipts_eval.money("33.09")
    assert receipts_eval.money(None) is None


@pytest.mark.parametrize("printed, day", [
    ("25/12/2018", "2018-12-25"), ("29 MAR 2018", "2018-03-29"), ("17-03-18", "2018-03-17"),
    ("12-01-19", "2019-01-12"),   # day first
    ("12/28/2017", "2017-12-28"),  # only month-first is a real date
    ("2018-03-30", "2018-03-30"), ("March 5, 2018", "2018-03-05"),
])
def test_date_is_compared_as_the_calendar_day(printed, day):
    assert receipts_eval.day(printed) == day


def test_company_ignores_case_and_whitespace_only():
    a = Receipts().eval_normalise("merchant", "BOOK TA .K (TAMAN DAYA) SDN BHD")
    assert a == Receipts().eval_normalise("merchant", "book ta .k(taman  daya) sdn bhd")
    assert a != Receipts().eval_normalise("merchant", "BOOK TA _K (TAMAN DAYA) SDN BHD")


def test_sroie_labels_map_to_the_task_fields_and_own_fields_pass_through():
    sroie = {"company": "X SDN BHD", "date": "1/2/2019", "address": "LOT 1", "total": "9.00"}
    assert Receipts().eval_truth(sroie) == {"merchant": "X SDN BHD", "date": "1/2/2019",
                                            "total": "9.00"}
    own = {"merchant": "Y", "total": "1.00", "note": "ignored"}
    assert Receipts().eval_truth(own) == {"merchant": "Y", "total": "1.00"}


def test_percentile_is_an_observed_value():
    assert percentile([3.0, 1.0, 2.0, 10.0], 50) == 2.0
    assert percentile([3.0, 1.0, 2.0, 10.0], 95) == 10.0
    assert percentile([], 50) is None


# -- folders ------------------------------------------------------------------------------------


def image(path: Path) -> Path:
    Image.new("RGB", (200, 300), "white").save(path)
    return path


def labelled(folder: Path, name: str, labels: dict | str) -> None:
    image(folder / f"{name}.png")
    text = labels if isinstance(labels, str) else json.dumps(labels)
    (folder / f"{name}.json").write_text(text)


def test_load_cases_reports_unlabelled_and_refuses_bad_folders(tmp_path):
    with pytest.raises(EvalError, match="not a folder"):
        load_cases(tmp_path / "missing", Receipts())
    with pytest.raises(EvalError, match="no labelled inputs"):
        load_cases(tmp_path, Receipts())
    labelled(tmp_path, "001", {"company": "A", "date": "01/02/2019", "total": "1.00"})
    image(tmp_path / "002.png")
    cases, unlabelled = load_cases(tmp_path, Receipts())
    assert [c.name for c in cases] == ["001"] and unlabelled == ["002.png"]
    (tmp_path / "003.png").write_bytes(b"")
    (tmp_path / "003.json").write_text("{broken")
    with pytest.raises(EvalError, match="003.json"):
        load_cases(tmp_path, Receipts())
    (tmp_path / "003.json").write_text('{"colour": "red"}')
    with pytest.raises(EvalError, match="none of its keys"):
        load_cases(tmp_path, Receipts())


def test_evaluate_scores_each_field_through_run_job(tmp_path):
    """Two receipts read the same (fake OCR); the fake model gets the total right on the first
    answers an amount not printed on it on the second, both times (the re-ask too): that one is
    held for review, and its fields count as misses."""
    truth = {"company": "Corner Hardware Sdn Bhd", "date": "05/01/2026", "total": "RM27.90"}
    labelled(tmp_path, "a", truth)
    labelled(tmp_path, "b", truth)
    answers = iter([good_answer(), good_answer(total="31.00", items=[]),
                    good_answer(total="31.00", items=[])])
    backend = FakeBackend(lambda messages, schema: next(answers))
    with TaskRunner(backend=backend, ocr=SHOP, now=NOW) as runner:
        task = runner.task("receipts")
        cases, _ = load_cases(tmp_path, task)
        # The grammar would not offer 31.00; the fake ignores grammars, check() catches it.
        report = evaluate(task, cases, runner.ctx)
    assert report["cases"] == 2
    assert report["fields"]["total"] == {"matched": 1, "of": 2, "rate": 0.5}
    assert report["fields"]["merchant"]["rate"] == 0.5
    assert report["json_valid_rate"] == 1.0 and report["needs_review_rate"] == 0.5
    held = report["results"][1]
    assert held["outcome"] == "needs_review" and held["held"]["total"] == "31.00"
    assert report["latency_s"]["p50"] is not None and report["peak_rss_mb"] > 0


def test_eval_cli_errors_are_clear(home, tmp_path):
    result = CliRunner().invoke(main_group(), ["eval", "receipts", str(tmp_path / "nope")])
    assert result.exit_code != 0 and "not a folder" in result.output
    result = CliRunner().invoke(main_group(), ["eval", "nosuchtask", str(tmp_path)])
    assert result.exit_code != 0 and "unknown task" in result.output


def main_group():
    from mustelid.cli import _assembled

    return _assembled()


@pytest.mark.real
def test_real_eval_on_sroie_receipts(real_model, tmp_path, monkeypatch):
    """The command itself, real OCR and the real model, on two SROIE receipts."""
    if not SROIE.is_dir():
        pytest.skip(f"SROIE dev receipts not found at {SROIE}")
    pytest.importorskip("rapidocr")
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("002", "007"):
        for suffix in (".jpg", ".json"):
            shutil.copy(SROIE / f"{name}{suffix}", folder / f"{name}{suffix}")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MUSTELID_HOME", str(home))
    result = CliRunner().invoke(main_group(), ["eval", "receipts", str(folder), "--json",
                                               "--threads", "1"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cases"] == 2 and set(report["fields"]) == {"merchant", "date", "total"}
    assert report["json_valid_rate"] == 1.0
    assert report["fields"]["total"]["rate"] == 1.0, report["results"]
    assert report["fields"]["date"]["rate"] == 1.0, report["results"]
    assert report["latency_s"]["p95"] > 0 and report["peak_rss_mb"] > 100
