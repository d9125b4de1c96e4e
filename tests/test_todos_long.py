"""A note longer than one review (a whole TODO file) is reviewed in parts, and every part's
todos are kept: before, only its first 40 lines were ever read."""

from __future__ import annotations

import json

import pytest

from mustelid import Evidence, JobInput
from mustelid.execute import NeedsReview, run_job
from mustelid.plugins.todos import Todos
from mustelid.plugins.todos.lines import MAX_LINES, MAX_PARTS, source_layout
from mustelid.plugins.todos.output import MAX_CANDIDATES
from mustelid.plugins.todos.parts import spans
from mustelid.testing import FakeBackend
from test_todos import SEEN, FakeCtx

# A project's TODO file: sections of items, one wrapped over two lines, a done section.
SECTIONS = ["Parser", "Network", "Storage", "Docs", "Release"]


def todo_file(items_per_section: int = 14) -> str:
    out = ["TODO for frobnicate", ""]
    for s in SECTIONS:
        out += [f"{s}:", ""]
        for n in range(items_per_section):
            out.append(f"- fix the {s.lower()} bug number {n} in the next release")
        out.append(f"- rewrite the {s.lower()} tests so that they run without the network and")
        out.append("  without root")
        out.append("")
    out += ["Done:", "- fix the build on arm64", ""]
    return "\n".join(out)


def text_job(text: str) -> JobInput:
    return JobInput("J", "todos", params={"text": text, "seen_at": SEEN})


def all_todo(messages, schema):
    """Every offered line is a todo (the ``yes`` branch of each entry, in order)."""
    entries = schema["properties"]["review"]["prefixItems"]
    return {"review": [{"source_quote": e["anyOf"][1]["properties"]["source_quote"]["const"],
                        "is_todo": True, "due_phrase": None} for e in entries]}


def test_a_long_note_is_cut_into_parts_between_items():
    ev = Todos().prepare(text_job(todo_file()), FakeCtx())
    layout = source_layout(todo_file().splitlines(), limit=None)
    cuts = [tuple(c) for c in ev.data["parts"]]
    assert len(cuts) == len(ev.parts) >= 3
    assert cuts[0][0] == 0 and cuts[-1][1] == len(layout) and ev.data["lines_unread"] == 0
    for (a, b), (c, _) in zip(cuts, cuts[1:]):
        assert b == c and 0 < b - a <= MAX_LINES
        assert not layout[b].text.startswith("without root")   # an item stays whole
    # each part holds what one review can: at most MAX_CANDIDATES items
    assert all(0 < len(p.data["quotes"]) <= MAX_CANDIDATES for p in ev.parts)
    assert ev.data["quotes"] == [q for p in ev.parts for q in p.data["quotes"]]


def test_without_many_items_a_part_ends_before_an_item_in_its_second_half():
    prose = ["A line of prose that says what the module does"] * 100
    layout = source_layout(prose[:30] + [""] + prose[30:], limit=None)
    assert spans(layout, []) == [(0, 30), (30, 70), (70, 100)]
    # A short note is one part: exactly the lines it had before.
    assert spans(layout[:MAX_LINES], list(range(MAX_CANDIDATES))) == [(0, MAX_LINES)]


def test_every_part_of_a_long_note_is_reviewed_and_its_todos_joined():
    backend = FakeBackend(all_todo)
    out = run_job(Todos(), text_job(todo_file()), FakeCtx(backend=backend))
    titles = [t["title"] for t in out["data"]["todos"]]
    # 5 sections of 15 items: more than one review can hold (16), all of them found, in order
    assert len(titles) == 5 * 15 > MAX_CANDIDATES
    assert titles[0] == "Fix the parser bug number 0 in the next release"
    assert titles[-1] == ("Rewrite the release tests so that they run without the network and "
                          "without root")
    assert not any("arm64" in t for t in titles)          # the done section, at the very end
    assert out["stats"]["generations"] == len(backend.calls) == out["stats"]["parts"] >= 3
    ev = out["evidence"]
    assert ev["lines_unread"] == 0 and len(ev["quotes"]) == len(titles)
    json.dumps(out)                                       # stored as JSON: no Evidence inside


def test_a_short_note_is_one_review_as_before():
    backend = FakeBackend(all_todo)
    out = run_job(Todos(), text_job("Shopping\n- buy bread\n- call mom\n"),
                  FakeCtx(backend=backend))
    assert [t["title"] for t in out["data"]["todos"]] == ["Buy bread", "Call mom"]
    assert len(backend.calls) == 1 and "parts" not in out["stats"]
    assert "parts" not in out["evidence"]


def test_a_note_longer_than_all_parts_says_how_much_was_not_read():
    text = "\n".join(f"- water plant {n}" for n in range(
        MAX_LINES * MAX_PARTS + 25))
    ev = Todos().prepare(text_job(text), FakeCtx())
    assert len(ev.parts) == MAX_PARTS
    assert ev.data["lines_unread"] == MAX_LINES * MAX_PARTS + 25 - MAX_PARTS * MAX_CANDIDATES


def test_a_part_held_for_review_holds_the_note_with_what_the_parts_before_found():
    def second_part_invents(messages, schema):
        answer = all_todo(messages, schema)
        if len(backend.calls) >= 2:                       # the second part, asked and re-asked
            answer["review"][0]["source_quote"] = "- walk the dog"
            answer["review"] = answer["review"][:1]
        return answer

    backend = FakeBackend(second_part_invents)
    with pytest.raises(NeedsReview) as e:
        run_job(Todos(), text_job(todo_file()), FakeCtx(backend=backend))
    held = e.value.review
    assert held["data"]["todos"][0]["title"].startswith("Fix the parser bug number 0")
    assert "parts" in held["evidence"] and len(backend.calls) == 3


def test_the_router_reads_a_long_note_whole():
    ev = Todos().prepare(text_job(todo_file()), FakeCtx())
    assert isinstance(ev, Evidence) and len(ev.parts) >= 3
    hint = Todos().router_hint(ev)
    assert hint.startswith(f"{len(ev.data['quotes'])} of {len(ev.data['lines'])} lines")


@pytest.mark.real
def test_real_model_reads_a_long_note_to_its_end(home, real_model):
    """Seven real TODO excerpts one after another (~100 lines): the model reviews every part,
    and todos come from the last excerpt too, each quoting a line that is there."""
    from pathlib import Path

    from mustelid.plugins.todos.lines import squash
    from test_todos import real_ctx

    tune = Path(__file__).resolve().parent.parent / "examples" / "eval" / "notes-tune"
    texts = [(tune / f"tune0{n}.txt").read_text(encoding="utf-8") for n in range(1, 8)]
    ctx = real_ctx()
    try:
        out = run_job(Todos(), text_job("\n\n".join(texts)), ctx)
    finally:
        ctx.close()
    todos, ev = out["data"]["todos"], out["evidence"]
    assert len(ev["parts"]) >= 3 and out["stats"]["generations"] >= len(ev["parts"])
    assert ev["lines_unread"] == 0
    whole = squash("\n".join(texts))
    assert todos and all(squash(t["source_quote"]) in whole for t in todos)
    last = squash(texts[-1])
    assert any(squash(t["source_quote"]) in last for t in todos), "nothing read at the end"


def test_a_licence_at_the_end_of_a_long_note_rules_out_only_itself():
    text = todo_file() + ("\nCopyright 2026 The Frobnicate Authors\n"
                          "This program is free software; you can redistribute it.\n"
                          "You should have received a copy of the licence with it.\n")
    ev = Todos().prepare(text_job(text), FakeCtx())
    assert len(ev.data["quotes"]) == 5 * 15
    assert not any("received a copy" in q for q in ev.data["quotes"])
    # At the top of a note, a licence still makes all of it a licence.
    short = "This program is free software; you can redistribute it.\n- fix the build\n"
    assert Todos().prepare(text_job(short), FakeCtx()).data["quotes"] == []
