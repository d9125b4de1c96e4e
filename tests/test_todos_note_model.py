"""Whether a note holds to-dos at all, learned (plugins/todos/note_model.py, train_notes.py)."""

from __future__ import annotations

import json

import pytest

from mustelid import JobInput
from mustelid.plugins.todos import note_model, note_words, train_notes
from mustelid.plugins.todos.task import Todos

from test_todos import FakeCtx

LICENCE = """This program is free software: you can redistribute it and/or modify
it under the terms of the GNU General Public License as published by
the Free Software Foundation, either version 3 of the License, or
(at your option) any later version.
This program is distributed in the hope that it will be useful,
but WITHOUT ANY WARRANTY; without even the implied warranty of
MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE."""
NEWS = """Noteworthy changes in release 1.4 (2022-03-01)
The --color option now accepts 'auto'.
The manual was rewritten and the examples were updated.
Builds on FreeBSD work again."""
TODO = """TODO
- add a --quiet option
- fix the crash when the config file is missing
- write tests for the parser"""
CODE = """def main():
    # TODO: handle the empty case
    return run(args)"""


def _prepared(tmp_path, text, settings=None):
    note = tmp_path / "note.txt"
    note.write_text(text, encoding="utf-8")
    job = JobInput(id="j", task="todos", path=str(note), mime="text/plain",
                   seen_at="2026-12-01T10:00:00+00:00")
    return Todos().prepare(job, FakeCtx(settings=settings))


def test_the_shipped_model_reads_every_feature_the_task_computes():
    model = note_model.fitted()
    assert model is not None, "note_model.json is missing beside note_model.py"
    hand = note_model.features([])            # no words: the hand-written features only
    words = [n for n in model["features"] if n.startswith(note_words.PREFIX)]
    assert sorted(hand) + words == model["features"] and len(words) == model["words"] > 0
    assert model["kinds"] == [note_model.NONE, note_model.TODOS]
    assert set(note_model.features(["a line"])) == set(hand) | {"w_line"}


@pytest.mark.parametrize("text, holds", [(LICENCE, False), (NEWS, False), (TODO, True),
                                         (CODE, True)])
def test_the_shipped_model_tells_clear_notes_apart(text, holds):
    p = note_model.has_todos(note_model.features(text.splitlines()))
    assert (p >= note_model.THRESHOLD) == holds


def test_a_note_set_aside_offers_nothing_and_says_why(tmp_path):
    evidence = _prepared(tmp_path, NEWS)
    assert evidence.data["quotes"] == []
    assert evidence.data["note"]["has_todos"] < note_model.THRESHOLD
    assert evidence.data["note"]["features"]["changelog"] == 1.0
    listed = _prepared(tmp_path, TODO)
    assert len(listed.data["quotes"]) == 3 and listed.data["note"]["has_todos"] > 0.9


README = """Foo is a small library for parsing INI files.
It supports sections, comments and interpolation, and it is written in C.
Build it with make and install it with make install.
Send bug reports to the mailing list."""


def test_a_threshold_of_zero_reviews_every_note(tmp_path, monkeypatch):
    # Whatever the model says of this README, a note it doubts is not offered, unless the
    # threshold is 0.
    monkeypatch.setattr(note_model, "has_todos", lambda feats: 0.05)
    assert _prepared(tmp_path, README).data["quotes"] == []
    everything = {"note_threshold": 0, "note_doubt": 0}
    assert _prepared(tmp_path, README, everything).data["quotes"] != []


MIXED = """Foo is a small library for parsing INI files.
Build it with make and install it with make install.
Known problems:
- fix the crash when the config file is missing
TODO: write tests for the parser
Send bug reports to the mailing list."""


def test_a_doubted_note_offers_its_marked_items_not_its_prose(tmp_path, monkeypatch):
    monkeypatch.setattr(note_model, "has_todos", lambda feats: 0.3)
    doubted = _prepared(tmp_path, MIXED).data["quotes"]
    assert doubted == ["- fix the crash when the config file is missing",
                       "TODO: write tests for the parser"]
    monkeypatch.setattr(note_model, "has_todos", lambda feats: 0.9)
    trusted = _prepared(tmp_path, MIXED).data["quotes"]
    assert set(doubted) < set(trusted) and "Send bug reports to the mailing list." in trusted


def test_without_a_fitted_model_every_note_is_reviewed(tmp_path, monkeypatch):
    monkeypatch.setattr(note_model, "fitted", lambda: None)
    evidence = _prepared(tmp_path, README)
    assert evidence.data["quotes"] != []
    assert evidence.data["note"]["has_todos"] is None


def _report(rows):
    return {"results": [{"name": f"n{i}", "fields": {"todos": {
        "expected": [] if none else ["x"], "none": none, "features": feats}}}
        for i, (feats, none) in enumerate(rows)]}


def test_training_learns_the_note_level_label_and_scores_each_batch_left_out(tmp_path, capsys):
    def rows(shift):
        return 3 * [({"a": 3.0 + shift, "b": 0.0}, False), ({"a": -3.0 - shift, "b": 0.5}, True),
                    ({"a": 2.5, "b": 0.1 + shift}, False)]
    paths = []
    for n in range(3):
        path = tmp_path / f"batch{n}.json"
        path.write_text(json.dumps(_report(rows(n * 0.1))))
        paths.append(str(path))
    train_notes.main(paths)
    out = capsys.readouterr()
    model = json.loads(out.out)
    assert model["kinds"] == ["none", "todos"] and model["notes"] == 27
    assert "left out, all: with to-dos kept 18/18, without set aside 9/9" in out.err
    assert note_model.has_todos({"a": -2.0, "b": 0.5}, model) < 0.5


def test_training_reads_only_rows_with_features_and_a_label():
    report = _report([({"a": 1.0}, True)])
    report["results"].append({"name": "failed", "fields": {"todos": {"expected": ["x"]}}})
    report["results"].append({"name": "neither", "fields": {"todos": {
        "expected": [], "none": False, "features": {"a": 0.0}}}})
    assert train_notes.samples(report) == [({"a": 1.0}, "none")]


def test_an_eval_report_row_carries_the_notes_features_and_label():
    task = Todos()
    feats = {"tags": 1.0}
    _, detail = task.eval_score(task.eval_truth({"todos": [], "none": True}), {"todos": []},
                                evidence={"lines": [], "note": {"features": feats,
                                                                "has_todos": 0.1}})
    assert detail["todos"]["features"] == feats and detail["todos"]["none"] is True


def test_a_note_set_aside_still_reads_as_a_note_to_the_router(tmp_path, monkeypatch):
    monkeypatch.setattr(note_model, "has_todos", lambda feats: 0.05)
    evidence = _prepared(tmp_path, TODO)
    assert evidence.data["quotes"] == [] and len(evidence.data["note"]["set_aside"]) == 3
    assert Todos().router_fit(evidence) == 0.95


def test_a_note_too_short_to_judge_is_always_read(tmp_path, monkeypatch):
    monkeypatch.setattr(note_model, "has_todos", lambda feats: 0.05)
    evidence = _prepared(tmp_path, "* fix documentation for the new -7 switch\n")
    assert evidence.data["note"]["has_todos"] is None
    assert evidence.data["quotes"] == ["* fix documentation for the new -7 switch"]


INSTALL = """Installing
If you want to build from source, you can use the usual configure script.
You may have to set PREFIX to the directory you want to install to.
See the INSTALL file for more information on the options.
The default PREFIX is /usr/local."""
MAIL = """Hi Sam,
Thanks for your help yesterday. Could you send me the signed lease by Friday?
Please also book the meeting room for Tuesday and add your notes to the shared doc.
If you have time, call the plumber about the leak.
Cheers, Jo"""


def test_a_manual_speaking_to_its_reader_is_set_aside_but_a_mail_asking_is_not():
    install = note_model.features(INSTALL.splitlines())
    assert install["reader"] == pytest.approx(0.6)
    assert note_model.has_todos(install) < note_model.THRESHOLD
    # The same note without the feature, and without the words that say what it is about
    # (building, options, install), would be kept: those two decide it.
    hand = {name: value for name, value in install.items() if not name.startswith("w_")}
    assert note_model.has_todos({**hand, "reader": 0.0}) >= note_model.THRESHOLD
    assert note_model.has_todos(hand) < note_model.THRESHOLD
    # A mail asks its reader with "please", "could you" and "your": not the manual's words.
    assert note_model.has_todos(note_model.features(MAIL.splitlines())) >= note_model.THRESHOLD


def test_a_notes_words_are_features_but_not_how_it_addresses_someone():
    feats = note_words.word_features(["Please fix YOUR copyright notice,", "fix it: café 42"])
    assert feats == {"w_fix": 1.0, "w_copyright": 1.0, "w_notice": 1.0, "w_café": 1.0}


def test_training_keeps_the_words_enough_notes_hold_and_fits_them(tmp_path, capsys):
    def rows(n):   # "licence" in every note without to-dos, "crash" in every note with
        return [({"a": 0.0, "w_licence": 1.0, f"w_rare{n}": 1.0}, True),
                ({"a": 0.0, "w_crash": 1.0}, False)] * 4
    paths = []
    for n in range(3):
        path = tmp_path / f"batch{n}.json"
        path.write_text(json.dumps(_report(rows(n))))
        paths.append(str(path))
    train_notes.main(paths)
    out = capsys.readouterr()
    model = json.loads(out.out)
    # A word in fewer than MIN_NOTES notes (each "rare" word is in 4) is not a feature.
    assert model["features"] == ["a", "w_crash", "w_licence"] and model["words"] == 2
    assert "left out, all: with to-dos kept 12/12, without set aside 12/12" in out.err
    assert note_model.has_todos({"a": 0.0, "w_licence": 1.0}, model) < 0.2
    assert note_model.has_todos({"a": 0.0, "w_crash": 1.0, "w_unknown": 1.0}, model) > 0.8


def test_vocabulary_and_dense_give_every_sample_the_same_words():
    samples = [{"a": 1.0, "w_x": 1.0}, {"a": 2.0, "w_x": 1.0, "w_y": 1.0}]
    assert note_words.vocabulary(samples, min_notes=2) == ["w_x"]
    assert note_words.dense({"a": 2.0, "w_y": 1.0}, ["w_x"]) == {"a": 2.0, "w_x": 0.0}
