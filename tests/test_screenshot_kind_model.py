"""The learned kind of screen (plugins/screenshots/kind_model.py, train_kinds.py)."""

import json

import pytest

from mustelid import OcrLine
from mustelid.plugins.screenshots import kind_model, train_kinds
from mustelid.plugins.screenshots.task import Screenshots

from test_screenshots import KIND_CASES, FakeCtx, dialog_job


def _lines(texts):
    """Left-aligned lines down the screen, as OCR reads a window's text."""
    return [{"text": t, "box": [20, 30 + 40 * i, 20 + 8 * len(t), 55 + 40 * i]}
            for i, t in enumerate(texts)]


def test_the_shipped_model_reads_every_feature_the_task_computes():
    model = kind_model.fitted()
    assert model is not None, "kind_model.json is missing beside kind_model.py"
    assert sorted(kind_model.features(_lines(["a line"]))) == model["features"]
    assert set(model["kinds"]) == set(kind_model.k.KIND_HELP)
    assert len(model["weights"]) == len(model["kinds"])
    assert all(len(w) == len(model["features"]) for w in model["weights"])


@pytest.mark.parametrize("kind", ["chat", "email", "code", "document"])
def test_the_shipped_model_names_screens_whose_signs_are_clear(kind):
    assert kind_model.learned_kind(kind_model.features(_lines(KIND_CASES[kind])))[0] == kind


def test_probabilities_are_a_distribution_over_the_models_kinds():
    probs = kind_model.probabilities(kind_model.features(_lines(KIND_CASES["chat"])),
                                     kind_model.fitted())
    assert set(probs) == set(kind_model.fitted()["kinds"])
    assert sum(probs.values()) == pytest.approx(1.0)
    assert all(0 <= p <= 1 for p in probs.values())


def test_a_screen_without_text_has_features_and_the_task_offers_one_kind():
    assert set(kind_model.features([])) == set(kind_model.fitted()["features"])
    task = Screenshots()
    lines = [OcrLine(t, (40, 40 + 30 * i, 600, 60 + 30 * i), 0.99)
             for i, t in enumerate(KIND_CASES["email"])]
    evidence = task.prepare(dialog_job(), FakeCtx(lines))
    assert task.schema(evidence)["properties"]["kind"]["enum"] == ["email"]
    assert evidence.data["kind_features"]["mail_headers"] >= 3


def _report(rows):
    return {"results": [{"name": f"s{i}", "fields": {"kind": {"expected": kind,
                                                             "features": feats}}}
                        for i, (feats, kind) in enumerate(rows)]}


def test_training_separates_kinds_and_scores_each_batch_left_out(tmp_path, capsys):
    # Two features that tell three kinds apart, in three batches: every left-out batch is
    # predicted right by a fit on the other two, and the fitted model says so too.
    def rows(shift):
        return [({"a": 1.0 + shift, "b": 0.0}, "chat"), ({"a": 0.0, "b": 1.0 + shift}, "code"),
                ({"a": -1.0 - shift, "b": -1.0}, "other")]
    paths = []
    for n in range(3):
        path = tmp_path / f"batch{n}.json"
        path.write_text(json.dumps(_report(rows(n * 0.1))))
        paths.append(str(path))
    train_kinds.main(paths)
    out = capsys.readouterr()
    model = json.loads(out.out)
    assert model["kinds"] == ["chat", "code", "other"] and model["features"] == ["a", "b"]
    assert "left out, all: 9/9" in out.err
    probs = kind_model.probabilities({"a": 0.0, "b": 2.0}, model)
    assert max(probs, key=probs.get) == "code"


def test_training_reads_only_rows_with_features_and_a_label():
    report = _report([({"a": 1.0}, "chat")])
    report["results"].append({"name": "failed", "fields": {"kind": {"expected": "chat"}}})
    report["results"].append({"name": "unlabelled", "fields": {}})
    assert train_kinds.samples(report) == [({"a": 1.0}, "chat")]


def test_an_eval_report_row_carries_the_screens_kind_features():
    task = Screenshots()
    labels = {"kind": "email", "title": "Quarterly figures", "must_mention": []}
    feats = {"code": 0.1}
    _, detail = task.eval_score(task.eval_truth(labels), {"kind": "email", "title": "x"},
                                evidence={"kind_features": feats})
    assert detail["kind"]["features"] == feats and detail["kind"]["expected"] == "email"
    _, failed = task.eval_score(task.eval_truth(labels), None, reason="no_text", evidence=None)
    assert "features" not in failed["kind"]
