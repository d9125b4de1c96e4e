"""`mustelid eval`: the normalisation rules, folder loading, scoring through the worker's code
path (fake model and OCR), the CLI, the screenshots and todos scorers (the dev READMEs' rules),
and one run with the real model and OCR on SROIE receipts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from mustelid.cli import main  # noqa: F401  (assembles the CLI)
from mustelid.evaluate import EvalError, evaluate, half, load_cases, percentile
from mustelid.plugins.receipts import evaluate as receipts_eval
from mustelid.plugins.receipts import Receipts
from mustelid.plugins.screenshots import Screenshots
from mustelid.plugins.screenshots import evaluate as screens_eval
from mustelid.plugins.todos import Todos
from mustelid.plugins.todos import evaluate as todos_eval
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


# The keys of receipts' report as they were before tasks could score their own way: a reader of
# `mustelid eval receipts --json` sees exactly the same document.
REPORT_KEYS = {"task", "task_version", "cases", "fields", "json_valid_rate", "needs_review_rate",
               "failed_rate", "reask_rate", "failures", "latency_s", "peak_rss_mb",
               "model_load_s", "model", "results",
               # added by issue 11: the receipts' confidence and acceptance
               "accepted_accuracy", "acceptance_rate", "reliability"}
ROW_KEYS = {"name", "outcome", "reason", "message", "json_valid", "seconds", "reasked",
            "generations", "prepare_s", "prompt_tokens", "completion_tokens", "fields",
            "confidence", "accepted"}
FIELD_KEYS = {"expected", "got", "match", "expected_norm", "got_norm"}


def test_receipts_report_keeps_its_keys_and_table(tmp_path, capsys):
    from mustelid.cli.eval import _print_report

    truth = {"company": "Corner Hardware Sdn Bhd", "date": "05/01/2026", "total": "RM27.90"}
    labelled(tmp_path, "a", truth)
    with TaskRunner(backend=FakeBackend(good_answer()), ocr=SHOP, now=NOW) as runner:
        task = runner.task("receipts")
        report = evaluate(task, load_cases(tmp_path, task)[0], runner.ctx)
    assert set(report) == REPORT_KEYS
    row = report["results"][0]
    assert set(row) == ROW_KEYS
    assert set(row["fields"]) == {"merchant", "date", "total"}
    assert all(set(v) == FIELD_KEYS and v["match"] for v in row["fields"].values())
    assert row["fields"]["total"]["expected_norm"] == "27.90"
    assert report["fields"] == {f: {"matched": 1, "of": 1, "rate": 1.0}
                                for f in ("merchant", "date", "total")}
    report.update(folder=str(tmp_path), unlabelled=[])
    _print_report(report, "receipts", tmp_path, misses=True)
    out = capsys.readouterr().out
    assert "exact_match" in out and "100.0%" in out and "rate" not in out.split("json valid")[0]


# -- screenshots (screens-dev README) -----------------------------------------------------------

SHOT = {"kind": "error_dialog", "kind_also": ["app"], "title": "Install driver",
        "title_also": ["cannot access archive"],
        "must_mention": ["printer-driver_2.1_amd64.deb", "No such file or directory"]}


def shot(**over):
    return {"kind": "error_dialog", "title": "Install driver", "summary": "",
            "key_text": [], **over}


def screens(labels, data, reason=None):
    return Screenshots().eval_score(Screenshots().eval_truth(labels), data, reason=reason)[0]


def test_normalisation_follows_the_readme():
    assert screens_eval.tokens("#debian.de") == ["debian", "de"]
    assert screens_eval.tokens("PG_FUNCTION_INFO_V1") == ["pg", "function", "info", "v1"]
    assert screens_eval.tokens("Developer\u2019s Caf\u00e9 \uff21") == ["developers", "cafe", "a"]
    assert todos_eval.tokens("Developer's  D\u00e9j\u00e0") == ["developers", "deja"]


def test_kind_exact_and_lenient():
    assert screens(SHOT, shot())["kind"] == (1, 1)
    scores = screens(SHOT, shot(kind="app"))
    assert scores["kind"] == (0, 1) and scores["kind_lenient"] == (1, 1)
    assert screens(SHOT, shot(kind="chat"))["kind_lenient"] == (0, 1)
    blank = {"kind": "other", "title": "glxgears", "must_mention": ["glxgears"],
             "expect_no_text": True}
    scores = screens(blank, None, reason="no_text")
    assert scores["kind"] == (0, 1) and scores["kind_lenient"] == (1, 1)
    assert scores["failed_or_review"] == (1, 1) and scores["must_mention"] == (0, 1)
    # "no text" is only acceptable where the label says so, and only as that failure
    assert screens(SHOT, None, reason="no_text")["kind_lenient"] == (0, 1)
    assert screens(blank, None, reason="grammar_unavailable")["kind_lenient"] == (0, 1)


def test_title_against_title_alone_and_with_title_also():
    scores = screens(SHOT, shot(title="dpkg: cannot access archive"))
    assert scores["title"] == (1, 1) and scores["title_strict"] == (0, 1)
    # the wanted title contained in the produced one, and the produced one in the wanted one
    assert screens(SHOT, shot(title="Install driver - whiptail"))["title_strict"] == (1, 1)
    assert screens({**SHOT, "title": "2.5. Querying a Table"},
                   shot(title="Querying a Table"))["title_strict"] == (1, 1)
    # half of the wanted title's tokens
    assert screens(SHOT, shot(title="Driver setup"))["title_strict"] == (1, 1)
    assert screens({**SHOT, "title": "Use of Readline"},
                   shot(title="Readline notes"))["title_strict"] == (0, 1)
    # containment is of whole tokens: "top" is not in "desktop"
    top = {"kind": "app", "title": "top", "must_mention": ["top"]}
    assert screens(top, shot(title="Desktop"))["title"] == (0, 1)
    assert screens(top, shot(title="top - 12:00 up 3 days"))["title"] == (1, 1)
    assert screens(SHOT, shot(title=""))["title"] == (0, 1)


def test_must_mention_is_recall_at_a_word_boundary():
    data = shot(summary="dpkg: error processing archive printer-driver_2.1_amd64.deb",
                key_text=["No such file or directory"])
    assert screens(SHOT, data)["must_mention"] == (2, 2)
    assert screens(SHOT, shot(summary="No such file"))["must_mention"] == (0, 2)
    labels = {"kind": "app", "title": "ncdu", "must_mention": ["age", "dist"]}
    scores = screens(labels, shot(title="ncdu", summary="python3 dist-packages usage"))
    assert scores["must_mention"] == (1, 2)   # "dist" starts a word; "age" only ends one
    detail = Screenshots().eval_score(labels, shot(summary="dist-packages"))[1]
    assert detail["must_mention"]["why"] == "not mentioned: age"
    assert screens({"kind": "other", "title": "x", "must_mention": []},
                   shot())["must_mention"] == (0, 0)


def test_a_failed_screen_misses_everything():
    scores = screens(SHOT, None, reason="grammar_unavailable")
    assert scores == {"kind": (0, 1), "kind_lenient": (0, 1), "title": (0, 1),
                      "title_strict": (0, 1), "must_mention": (0, 2), "failed_or_review": (1, 1)}
    assert Screenshots().eval_truth({"summary": "s"}) == {}


# -- todos (notes-dev README) -------------------------------------------------------------------

def made(*pairs):
    """Produced todos from (title, quote) pairs, as the task stores them."""
    return {"todos": [{"title": t, "source_quote": q} for t, q in pairs]}


def todos(labels, data, lines=None):
    evidence = {"lines": lines} if lines is not None else None
    return Todos().eval_score(Todos().eval_truth(labels), data, evidence=evidence)[0]


def test_todos_match_by_jaccard_or_containment_one_to_one():
    labels = {"todos": ["Implement --default-key", "Check file permissions"]}
    scores = todos(labels, made(("Default key", "* Implement --default-key"),
                                ("Check permissions", "* Check file permissions on disk"),
                                ("Check permissions again", "* Check file permissions")))
    # both labels matched once; the third todo repeats the second label: a false todo
    assert scores["recall"] == (2, 2) and scores["precision"] == (2, 3)
    # containment needs two tokens in the shorter text; Jaccard 1/3 alone is no match
    one = {"todos": ["Provide unit tests"]}
    assert todos(one, made(("Tests", "tests")))["recall"] == (0, 1)
    assert todos(one, made(("Write them", "Provide unit tests for the parser module now")))[
        "recall"] == (1, 1)
    assert todos(one, made(("Tests", "unit tests")))["recall"] == (1, 1)   # Jaccard 2/3


def test_best_pairs_are_made_first():
    labels = {"todos": ["add lang and case-order", "add foreign sorting functions"]}
    produced = made(("add lang sorting functions", "x"), ("add lang and case-order", "y"))
    detail = Todos().eval_score(labels, produced)[1]["todos"]
    assert sorted(detail["matched"]) == [["add foreign sorting functions",
                                          "add lang sorting functions"],
                                         ["add lang and case-order", "add lang and case-order"]]


def test_alternatives_and_optional_todos():
    labels = {"todos": [["consider merging them", "Many of the test-crypt files repeat code"]],
              "todos_optional": ["Should we prefer nonRepudiation certs?"]}
    scores = todos(labels, made(("Merge the test files", "consider merging them"),
                                ("Prefer certs", "Should we prefer nonRepudiation certs?"),
                                ("Buy milk", "buy milk")))
    # the optional one is neither a hit nor a false todo; "buy milk" is false
    assert scores["recall"] == (1, 1) and scores["precision"] == (1, 2)


def test_none_inputs_count_every_todo_as_false():
    none = {"todos": [], "none": True}
    scores = todos(none, made(("Fix the return value", "- Fixed the return value")))
    assert scores["false_on_none"] == (1, 1) and scores["precision"] == (0, 1)
    assert scores["recall"] == (0, 0)
    assert todos(none, made())["false_on_none"] == (0, 1)
    assert todos({"todos": ["a b"]}, made())["false_on_none"] == (0, 0)


def test_a_failed_note_costs_recall_not_precision():
    scores = todos({"todos": ["Provide tests", "Fix docs"]}, None)
    assert scores == {"precision": (0, 0), "recall": (0, 2), "false_on_none": (0, 0),
                      "done_taken": (0, 0)}
    assert Todos().eval_truth({"title": "x"}) == {}


def test_done_items_taken_are_found_from_the_texts_own_marks():
    lines = ["Pattern scanner:", "  -> add error checks on all returns", "", "*  DONE  *",
             "", "Design:", "  - should transforms be thread clean,", "[x] buy milk"]
    labels = {"todos": ["add error checks on all returns"]}
    scores = todos(labels, made(("Add error checks", "-> add error checks on all returns"),
                                ("Thread-clean transforms", "- should transforms be thread clean,"),
                                ("Buy milk", "[x] buy milk")), lines)
    assert scores["done_taken"] == (2, 3) and scores["precision"] == (1, 3)
    detail = Todos().eval_score(labels, made(("Buy milk", "[x] buy milk")),
                                evidence={"lines": lines})[1]["todos"]
    assert detail["done_taken"] == ["Buy milk"] and "done item taken: Buy milk" in detail["why"]
    # the title counts too: a model may quote one line and title the next (a done one)
    shifted = ["- more object inspection", "- insert the directory into sys.path DoNE"]
    scores = todos({"todos": ["Filter region command"]},
                   made(("insert the directory into sys.path", "- more object inspection")),
                   shifted)
    assert scores["done_taken"] == (1, 1)


@pytest.mark.parametrize("lines, done", [
    (["[x] buy milk", "- [ ] call mum", "\u2611 paid", "x  fixed the gate"], {0, 2, 3}),
    (["DONE: release 1.0", "Done: the thing", "fix the parser (done in 2.1)", "~~old item~~",
      "[done] tidy", "- insert the directory into sys.path DoNE", "- menu item D0NE"],
     {0, 1, 2, 3, 4, 5, 6}),
    # prose that mentions doing is not a mark
    (["Check that all error code mapping is done.", "X Window support", "get it Done soon"],
     set()),
    # an underlined "Implemented features" section runs to the end (the heading is no item)
    ([". plug-in faculty", "Implemented features", "====", "* clickable URI", "* IPv6"],
     {2, 3, 4}),
    # a minor done section ends at the next heading; a major one only at a major heading
    (["Done:", "- a", "Todo:", "- b"], {1}),
    (["## Done", "- a", "Later:", "- b", "## Next", "- c"], {1, 2, 3}),
    (["********", "* DONE *", "********", "Design:", "- thread clean"], {2, 3, 4}),
])
def test_finished_lines(lines, done):
    assert todos_eval.finished_lines(lines) == done


# -- folders of screens and notes --------------------------------------------------------------

def test_text_notes_run_through_the_todos_scorer_with_halves(tmp_path):
    (tmp_path / "memo01.txt").write_text("- call the plumber tomorrow\n- buy milk\n")
    (tmp_path / "memo01.json").write_text(json.dumps({"todos": ["call the plumber",
                                                                "buy milk"]}))
    (tmp_path / "memo02.txt").write_text("Released 1.0 with a faster parser.\n")
    (tmp_path / "memo02.json").write_text(json.dumps({"todos": [], "none": True}))

    def answer(messages, schema):
        quotes = [item["properties"]["source_quote"]["const"]
                  for item in (e["anyOf"][1] for e in
                               schema["properties"]["review"]["prefixItems"])]
        return {"review": [{"source_quote": q, "is_todo": True,
                            "due_phrase": None, "priority": "normal"} for q in quotes]}

    with TaskRunner(backend=FakeBackend(answer), now=NOW) as runner:
        task = runner.task("todos")
        cases, _ = load_cases(tmp_path, task)
        report = evaluate(task, cases, runner.ctx, split=True)
        assert [c.name for c in load_cases(tmp_path, task, names="*[13579]")[0]] == ["memo01"]
    assert report["fields"]["recall"] == {"matched": 2, "of": 2, "rate": 1.0}
    assert report["fields"]["precision"] == {"matched": 2, "of": 2, "rate": 1.0}
    assert report["fields"]["false_on_none"] == {"matched": 0, "of": 1, "rate": 0.0}
    assert report["split"]["odd"]["cases"] == 1 and report["split"]["even"]["cases"] == 1
    assert report["split"]["even"]["fields"]["recall"]["of"] == 0
    assert report["split"]["even"]["fields"]["recall"]["rate"] is None


def test_halves_go_by_the_last_number_in_the_name():
    assert half("shot07") == "odd" and half("memo10") == "even" and half("v2-shot03") == "odd"
    assert half("readme") is None


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
    """The command itself, real OCR and the real model, on two SROIE receipts, with their
    line-item labels from the repository (--labels)."""
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
    items = Path(__file__).resolve().parents[1] / "examples" / "eval" / "sroie-items"
    result = CliRunner().invoke(main_group(), ["eval", "receipts", str(folder), "--json",
                                               "--threads", "1", "--labels", str(items)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["cases"] == 2 and set(report["fields"]) == {
        "merchant", "date", "total", "items_precision", "items_recall", "items_quantity"}
    assert report["items_labelled"] == 5 and report["items_receipts"] == 2   # 4 + 1 lines
    assert report["json_valid_rate"] == 1.0
    assert report["fields"]["total"]["rate"] == 1.0, report["results"]
    assert report["fields"]["date"]["rate"] == 1.0, report["results"]
    assert report["latency_s"]["p95"] > 0 and report["peak_rss_mb"] > 100


def test_the_router_is_scored_on_the_task_whose_labels_it_is_given():
    from types import SimpleNamespace
    from mustelid.plugins.router.task import Router
    router = Router()
    router.bind(SimpleNamespace(tasks={"auto": router, "screenshots": Screenshots(),
                                       "todos": Todos(), "receipts": Receipts()}))
    labels = {"kind": "chat", "title": "#ops", "must_mention": ["#ops"]}
    truth = router.eval_truth(labels)
    answer = {"title": "#ops", "summary": "A chat in #ops.", "kind": "chat", "key_text": []}
    counters, detail = router.eval_score(truth, {"task": "screenshots", "name": "x",
                                                 "arguments": answer})
    assert counters["route"] == (1, 1) and counters["kind"] == (1, 1)
    assert detail["route"]["expected"] == "screenshots"
    counters, detail = router.eval_score(truth, {"task": "todos", "name": "x",
                                                 "arguments": {"todos": []}})
    assert counters["route"] == (0, 1) and counters["kind"] == (0, 1)
    assert "routed to todos" in detail["route"]["why"]
    counters, _ = router.eval_score(router.eval_truth({"todos": ["buy milk"]}), None,
                                    reason="unreadable_image")
    assert counters["route"] == (0, 1) and counters["recall"] == (0, 1)
