"""The inbox router (task ``auto``): it chooses the task, from the tasks' own evidence when one
is sure, else by one constrained question to the model; the chosen task then answers with its
own prompt, as from its own folder. Fast tests use ``mustelid.testing`` fakes (fixed OCR lines,
canned model answers); one test runs the kind question and the ignore call through llama.cpp on
a tiny random model; the real test runs the default model and RapidOCR on SROIE receipts and a
chat screenshot."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from mustelid import Evidence, PermanentError, Task, hookimpl
from mustelid.plugins import router as router_plugin
from mustelid.plugins.router import choice
from mustelid.plugins.router.ignore import OTHER
from mustelid.plugins.router.task import RoutedCall, Router
from mustelid.testing import FakeBackend, FakeOcr, TaskRunner

REPO = Path(__file__).resolve().parent.parent
SROIE = REPO.parent / "shared" / "data" / "sroie-dev"
SAMPLES = REPO / "examples" / "samples"
NOW = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.timezone.utc)

RECEIPT = [
    "CORNER HARDWARE SDN BHD",
    "12 JALAN MAJU, 43000 KAJANG",
    "Date: 05/01/2026 14:02",
    "HAMMER 1 X 19.90",
    "TOTAL RM 27.90",
    "CASH 50.00",
    "CHANGE 22.10",
]
EXPENSE = {"is_receipt": True, "merchant": "CORNER HARDWARE SDN BHD", "date": "2026-01-05",
           "total": "27.90", "currency": "MYR", "category": "household", "items": []}


def kind(name):
    return {"kind": name}


def ignore(reason):
    return {"kind": OTHER, "name": "ignore", "arguments": {"reason": reason}}


@pytest.fixture
def unsure(monkeypatch):
    """No task's evidence is sure of any file, nor finds it likely: the model is asked."""
    monkeypatch.setattr(choice, "SURE", 1.01)
    monkeypatch.setattr(choice, "LIKELY", 1.01)


# -- a third-party task, registered in code like an installed plugin -----------------------


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40)
    email: str = Field(max_length=60)


class Cards(Task):
    name = "cards"
    function = "record_contact"
    description = "A business card: record the contact."
    Output = Contact
    prompt = "unused"
    fit = None

    def prepare(self, job, ctx):
        text = "\n".join(l.text for l in ctx.ocr(job.path))
        if "@" not in text:
            raise PermanentError("not_a_card", "no e-mail address")
        return Evidence(text=text, data={"chars": len(text)})

    def messages(self, job, evidence, ctx):
        return [{"role": "user", "content": f"Read this business card:\n{evidence.text}"}]

    def router_fit(self, evidence):
        return self.fit

    def persist(self, db, job, result):
        db["contacts"].insert({"job_id": job["id"], **result.model_dump()})


class CardsPlugin:
    def __init__(self, fit=None):
        self.task = Cards()
        self.task.fit = fit

    @hookimpl
    def register_tasks(self, register):
        register(self.task)

    @hookimpl
    def register_migrations(self, register):
        from sqlite_utils.migrations import Migrations

        m = Migrations("cards-test")

        @m()
        def m001_contacts(db):
            db["contacts"].create({"id": int, "job_id": str, "name": str, "email": str}, pk="id")

        register(m)


class Broken(Task):
    name = "broken"
    function = "explode"
    description = "A task whose prepare has a bug."
    Output = Contact

    def prepare(self, job, ctx):
        raise RuntimeError("plugin bug")


class BrokenPlugin:
    @hookimpl
    def register_tasks(self, register):
        register(Broken())


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "IMG_0001.png"
    Image.new("RGB", (64, 48), "white").save(path)
    return path


def runner(backend, lines=RECEIPT, plugins=()):
    return TaskRunner(list(plugins), backend=backend, ocr=lines, now=NOW)


def expected_kinds(host, mime="image/png"):
    """What the router must consider: every routable, model-using image task but itself."""
    return {t.name for t in host.tasks.values()
            if t.name != "auto" and t.routable and t.input_kind == "image" and t.uses_model
            and mime in t.accepts}


def offered(schema):
    return schema["properties"]["kind"]["enum"]


# -- the kind question -----------------------------------------------------------------------


def test_the_model_chooses_among_every_candidate_and_other(image, unsure):
    backend = FakeBackend(kind(OTHER), ignore("test"))
    with runner(backend) as r:
        run = r.run("auto", image)
        expected = expected_kinds(r.host)
        assert "receipts" in expected                      # the built-ins are installed
        kinds = offered(backend.calls[0].schema)
        # every candidate is offered unless its own prepare refused this file (with a reason)
        assert kinds[-1] == OTHER and set(kinds[:-1]) == set(run.evidence["candidates"])
        assert set(run.evidence["candidates"]) | set(run.evidence["dropped"]) == expected
        assert "receipts" in kinds
        assert backend.calls[0].max_tokens <= 16            # a choice, not an answer
        prompt = backend.calls[0].messages[-1]["content"]
        assert "[5] TOTAL RM 27.90" in prompt and "- receipts:" in prompt and "- other:" in prompt
        assert run.evidence["route"]["by"] == "model" and run.evidence["route"]["kind"] == OTHER


def test_the_chosen_task_answers_with_its_own_prompt_and_schema(image, unsure):
    backend = FakeBackend(kind("receipts"), EXPENSE)
    with runner(backend) as r:
        routed = r.run("auto", image)
        direct_backend = FakeBackend(EXPENSE)
    with runner(direct_backend) as r:
        r.run("receipts", image)
    assert len(backend.calls) == 2
    answer, direct = backend.calls[1], direct_backend.calls[0]
    assert answer.messages == direct.messages and answer.schema == direct.schema
    assert answer.max_tokens == direct.max_tokens
    assert routed.data["task"] == "receipts" and routed.stats["delegated_to"] == "receipts"


def test_a_third_party_task_joins_the_choice_and_its_persist_runs(image, unsure):
    lines = ["Alice Moreno", "Head of Widgets", "alice@example.com"]
    backend = FakeBackend(kind("cards"), {"name": "Alice Moreno", "email": "alice@example.com"})
    with runner(backend, lines, plugins=[CardsPlugin()]) as r:
        run = r.run("auto", image)
        assert "cards" in offered(backend.calls[0].schema)
        assert backend.calls[1].messages[0]["content"].startswith("Read this business card")
        assert run.data["task"] == "cards" and run.data["name"] == "record_contact"
        db = r.persist(run)
        (row,) = db["contacts"].rows
        assert row["name"] == "Alice Moreno" and row["job_id"] == db["jobs"].get(row["job_id"])["id"]
        assert db["jobs"].get(row["job_id"])["task"] == "auto"


def test_a_task_that_refuses_the_file_is_not_offered(image, unsure):
    backend = FakeBackend(kind(OTHER), ignore("test"))
    with runner(backend, plugins=[CardsPlugin()]) as r:      # a receipt: no e-mail on it
        run = r.run("auto", image)
    assert "cards" not in offered(backend.calls[0].schema)
    assert run.evidence["dropped"]["cards"].startswith("not_a_card")


def test_a_broken_candidate_is_dropped_not_fatal(image):
    backend = FakeBackend(EXPENSE)
    with runner(backend, plugins=[BrokenPlugin()]) as r:
        run = r.run("auto", image)
    assert run.data["task"] == "receipts"
    assert run.evidence["dropped"]["broken"].startswith("plugin_error: RuntimeError")


# -- the tasks' own evidence decides when one is sure ---------------------------------------


def test_a_receipt_is_sure_of_itself_and_the_model_is_not_asked_which_kind(image):
    backend = FakeBackend(EXPENSE)
    with runner(backend) as r:
        run = r.run("auto", image)
    assert len(backend.calls) == 1 and "kind" not in backend.calls[0].schema["properties"]
    route = run.evidence["route"]
    assert route["by"] == "evidence" and route["kind"] == "receipts"
    assert route["fits"]["receipts"] >= choice.SURE


@pytest.mark.parametrize("fit, asked", [(0.99, True), (0.5, False), (None, False)])
def test_two_sure_tasks_leave_the_choice_to_the_model(image, fit, asked):
    lines = [*RECEIPT, "bob@corner"]                   # a receipt that is also a card
    answers = [kind("receipts"), EXPENSE] if asked else [EXPENSE]
    backend = FakeBackend(*answers)
    with runner(backend, lines, plugins=[CardsPlugin(fit)]) as r:
        run = r.run("auto", image)
    assert run.data["task"] == "receipts" and len(backend.calls) == len(answers)
    assert run.evidence["route"]["by"] == ("model" if asked else "evidence")


@pytest.mark.parametrize("fit", [float("nan"), 7, "sure"])
def test_a_fit_out_of_range_or_broken_is_no_opinion(image, fit):
    backend = FakeBackend(EXPENSE)
    with runner(backend, [*RECEIPT, "bob@corner"], plugins=[CardsPlugin(fit)]) as r:
        run = r.run("auto", image)
    assert "cards" not in run.evidence["route"]["fits"] and run.data["task"] == "receipts"


# -- failing closed, as the chosen task would ------------------------------------------------


@pytest.mark.parametrize("answer, reason", [
    ({**EXPENSE, "total": "not money"}, "schema_violation"),
    ({k: v for k, v in EXPENSE.items() if k != "merchant"}, "schema_violation"),
    ({**EXPENSE, "total": "99.99"}, "check_failed"),
    ({**EXPENSE, "is_receipt": False}, "not_a_receipt"),
])
def test_a_bad_answer_from_the_chosen_task_fails_closed_as_a_direct_one_would(image, answer,
                                                                             reason):
    for task in ("auto", "receipts"):
        backend = FakeBackend(answer)
        with runner(backend) as r:
            with pytest.raises(PermanentError) as e:
                r.run(task, image)
        assert e.value.reason == reason
        assert len(backend.calls) == 2                # one re-ask, then dead: never stored


@pytest.mark.parametrize("answer", [kind("nosuchtask"), {"kind": "receipts", "x": 1}, {}])
def test_a_kind_answer_outside_the_choice_fails_closed(image, unsure, answer):
    backend = FakeBackend(answer)
    with runner(backend) as r:
        with pytest.raises(PermanentError) as e:
            r.run("auto", image)
    assert e.value.reason in ("schema_violation", "invalid_json")
    assert len(backend.calls) == 1


@pytest.mark.parametrize("answer", [ignore(""), {"kind": "receipts", "name": "record_expense",
                                                 "arguments": EXPENSE}])
def test_the_routers_own_call_only_ignores(image, unsure, answer):
    backend = FakeBackend(kind(OTHER), answer)
    with runner(backend) as r:
        with pytest.raises(PermanentError) as e:
            r.run("auto", image)
    assert e.value.reason == "schema_violation"


def test_ignore_ends_done_with_no_task_rows(image, unsure):
    backend = FakeBackend(kind(OTHER), ignore("a photo of a cat"))
    with runner(backend) as r:
        run = r.run("auto", image)
        assert run.data == {"kind": OTHER, "name": "ignore", "task": None,
                            "arguments": {"reason": "a photo of a cat"}}
        assert backend.calls[1].schema["properties"]["name"] == {"const": "ignore"}
        db = r.persist(run)
        assert db["expenses"].count == 0
        assert db.execute("SELECT state FROM jobs").fetchone()[0] == "done"


def test_a_file_no_task_accepts_ends_dead_without_a_model_call(image):
    backend = FakeBackend(kind(OTHER))
    with runner(backend, lines=[]) as r:              # no text: every built-in refuses
        with pytest.raises(PermanentError) as e:
            r.run("auto", image)
    assert e.value.reason == "no_task_applies" and "receipts:" in e.value.message
    assert backend.calls == []


def test_a_textless_screen_capture_is_a_screenshot_and_a_textless_photo_no_ones(tmp_path):
    """Without text, a capture of a whole display is still a screen (a game, a desktop): the
    screenshots task records it with code's words. A photo without text is nobody's kind:
    screenshots says so (fit 0) and the job ends dead, as when every task refuses."""
    capture = tmp_path / "Screenshot 2026-12-07.png"
    Image.new("RGB", (1920, 1080), (10, 40, 120)).save(capture)
    backend = FakeBackend({"title": "(no text)", "summary": "A picture: no text was found on it.",
                           "kind": "other"})
    with runner(backend, lines=[]) as r:
        run = r.run("auto", capture)
        assert run.data["task"] == "screenshots" and run.data["arguments"]["kind"] == "other"
        assert run.evidence["route"]["by"] == "evidence"
    photo = tmp_path / "IMG_2041.jpg"
    Image.new("RGB", (4032, 3024), (90, 120, 60)).save(photo)
    backend = FakeBackend(kind(OTHER))
    with runner(backend, lines=[]) as r, pytest.raises(PermanentError) as e:
        r.run("auto", photo)
    assert e.value.reason == "no_task_applies" and "not_its_kind" in e.value.message
    assert backend.calls == []


def test_an_unreadable_image_is_dead_before_any_candidate_runs(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    ocr = FakeOcr(RECEIPT)
    backend = FakeBackend(kind(OTHER))
    with runner(backend, lines=ocr) as r:
        with pytest.raises(PermanentError) as e:
            r.run("auto", bad)
    assert e.value.reason == "unreadable_image" and ocr.paths == [] and backend.calls == []


def test_expense_chosen_by_the_router_lands_in_expenses_like_a_direct_one(image):
    backend = FakeBackend(EXPENSE, EXPENSE)
    with runner(backend) as r:
        routed = r.run("auto", image)
        db = r.persist(routed)
        (expense,) = db["expenses"].rows
        job = db["jobs"].get(expense["job_id"])
        assert job["task"] == "auto" and job["state"] == "done"
        assert (expense["merchant"], expense["total"], expense["date"], expense["currency"]) == \
            ("CORNER HARDWARE SDN BHD", "27.90", "2026-01-05", "MYR")
        # receipts' check ran on the router's path too: provenance points at the OCR line
        assert json.loads(expense["provenance"])["total"]["text"] == "TOTAL RM 27.90"
        # what is stored with the router's job: the choice, the answer, the evidence
        result = json.loads(db.execute("SELECT data FROM results WHERE job_id = ?",
                                       [job["id"]]).fetchone()[0])
        assert result["kind"] == "receipts" and result["name"] == "record_expense"
        assert result["arguments"]["total"] == "27.90" and result["task"] == "receipts"
        assert routed.evidence["task_evidence"]["amounts"]       # receipts' own evidence
        assert routed.evidence["chosen"] == {"kind": "receipts", "function": "record_expense"}
        # the same file routed directly stores the same expense
        direct = r.run("receipts", image)
        assert direct.data == routed.data["arguments"]


def test_persist_uses_the_daemons_host_after_startup():
    router = Router()
    result = RoutedCall(kind="cards", name="record_contact", task="cards",
                        arguments={"name": "Alice", "email": "a@example.com"})
    with pytest.raises(PermanentError) as e:        # no host bound: fail, never guess one
        router.persist(None, {"id": "j"}, result)
    assert e.value.reason == "unknown_task"
    host = SimpleNamespace(tasks={"auto": router, "cards": Cards()})
    router_plugin.startup(SimpleNamespace(host=host))
    assert router._chosen_task("cards") is host.tasks["cards"]


def test_default_config_sends_the_inbox_root_to_the_router(home):
    from mustelid.config import load_config
    from mustelid.host import Host
    from mustelid.ingest import route

    cfg, host = load_config(), Host()
    assert route(host, cfg, "IMG_0001.jpg", "image/jpeg") == ["auto"]
    assert route(host, cfg, "receipts/a.jpg", "image/jpeg") == ["receipts"]
    assert route(host, cfg, "screenshots/a.png", "image/png") == ["screenshots"]
    assert route(host, cfg, "notes/a.jpg", "image/jpeg") == ["todos"]
    assert route(host, cfg, "holiday/a.jpg", "image/jpeg") == ["auto"]   # unclaimed folder


@pytest.mark.parametrize("inbox, root, receipts", [
    ('default_tasks = ["echo"]', ["echo"], ["receipts"]),      # the user's default, not auto
    ("default_tasks = []", [], ["receipts"]),                  # set empty: root files left alone
    ('[inbox.routes]\nreceipts = ["todos"]', ["auto"], ["todos"]),   # the user's route wins
])
def test_the_router_takes_only_what_nothing_else_claims(home, inbox, root, receipts):
    from mustelid.config import load_config
    from mustelid.host import Host
    from mustelid.ingest import route

    (home / "config.toml").write_text(f"[inbox]\n{inbox}\n")
    cfg, host = load_config(), Host()
    assert route(host, cfg, "IMG_0001.jpg", "image/jpeg") == root
    assert route(host, cfg, "receipts/a.jpg", "image/jpeg") == receipts



# -- the kind question and the ignore call through llama.cpp (tiny random model: noise, but
# -- grammatical) ---------------------------------------------------------------------------


def test_the_kind_question_and_the_ignore_call_build_and_bind(image, tmp_path, unsure):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    from tinygguf import write_tiny_gguf

    from mustelid.backend import BackendContext
    from mustelid.config import Config
    from mustelid.plugins.llama_cpp import LlamaCppBackend

    cfg = Config()
    cfg.model.path = write_tiny_gguf(tmp_path / "tiny.gguf", context_length=4096)
    cfg.model.threads, cfg.backend["llama_cpp"] = 1, {"n_ctx": 4096}

    class Recording(LlamaCppBackend):
        texts: list[str] = []

        def generate(self, messages, schema, max_tokens):
            gen = super().generate(messages, schema, max_tokens)
            self.texts.append(gen.text)
            return gen

    backend = Recording(BackendContext.from_config(cfg))
    chosen = set()
    try:
        with runner(backend, plugins=[CardsPlugin()]) as r:
            for seed in range(4):
                backend.seed = seed
                try:
                    run = r.run("auto", image)
                    chosen.add(run.data["kind"])
                except PermanentError as e:    # noise rarely passes receipts' checks
                    assert e.reason not in ("grammar_unavailable", "invalid_json",
                                            "truncated_output", "schema_violation"), e
                    chosen.add(e.reason)
    finally:
        backend.close()
    kinds = [json.loads(t) for t in backend.texts if list(json.loads(t)) == ["kind"]]
    assert kinds and all(k["kind"] in {"receipts", "screenshots", "todos", OTHER}
                         for k in kinds)
    for text in backend.texts:
        out = json.loads(text)
        if out.get("kind") == OTHER and "name" in out:
            assert out["name"] == "ignore" and 1 <= len(out["arguments"]["reason"]) <= 60


# -- the real model ----------------------------------------------------------------------------


@pytest.mark.real
def test_real_router_files_receipts_as_expenses_and_a_chat_as_something_else(real_model):
    # Threshold 0: this test is about routing and filing; holding doubtful receipts for a
    # person is tested in test_confidence.py.
    with TaskRunner(config={"plugin": {"receipts": {"accept_threshold": 0.0}}}) as r:
        runs = {}
        for path in (SROIE / "000.jpg", SROIE / "001.jpg", SAMPLES / "chat.png"):
            started = time.monotonic()
            runs[path.name] = r.run("auto", path)      # a PermanentError fails the test
            print(f"\n{path.name}: {runs[path.name].data['name']} by "
                  f"{runs[path.name].evidence['route']['by']} "
                  f"in {time.monotonic() - started:.1f}s")
        assert runs["000.jpg"].data["name"] == "record_expense"
        assert runs["001.jpg"].data["name"] == "record_expense"
        assert runs["chat.png"].data["name"] != "record_expense"
        for run in runs.values():
            db = r.persist(run)
        files = {row["job_id"]: row for row in db["expenses"].rows}
        assert len(files) == 2                          # the two receipts, not the chat
        totals = {e["total"] for e in files.values()}
        truth = {json.loads((SROIE / f"{s}.json").read_text())["total"] for s in ("000", "001")}
        print(f"totals {sorted(totals)} vs truth {sorted(truth)}")


def test_a_doubtful_routed_receipt_waits_for_a_person_as_a_direct_one_would(image, monkeypatch):
    """The model's per-field probabilities reach the chosen task's check: a receipt routed
    from the inbox root gets the same confidence and decision as one dropped in receipts/, and
    what waits for review is the router's result, so approving it files it through the router."""
    from mustelid.execute import NeedsReview
    from mustelid.plugins.receipts import confidence
    from mustelid.tasks import Generation

    weights = {"bias": -1.0, "model": 1.0, "first": 2.0, "alone": 0.0, "ocr": 1.0, "agrees": 1.0}
    monkeypatch.setattr(confidence, "calibration", lambda: {
        "threshold": 0.8, "weights": {f: weights for f in confidence.FIELDS}})

    def answer(total_p):
        sure = {"merchant": 0.99, "date": 0.99, "total": total_p}
        return Generation(json.dumps(EXPENSE), "stop", confidence=sure)

    for task in ("auto", "receipts"):
        with runner(FakeBackend(answer(0.01))) as r:
            with pytest.raises(NeedsReview) as held:
                r.run(task, image)
        assert held.value.reason == "low_confidence" and "total" in held.value.message
    data = held.value.review["data"]
    with runner(FakeBackend(answer(0.01))) as r:
        with pytest.raises(NeedsReview) as held:
            r.run("auto", image)
    routed = RoutedCall.model_validate(held.value.review["data"])
    assert routed.task == "receipts" and routed.arguments == data
    assert held.value.review["evidence"]["task_evidence"]["amounts"]
    with runner(FakeBackend(answer(0.99))) as r:
        run = r.run("auto", image)
    assert run.stats["confidence"] >= 0.8
    assert run.data["arguments"]["provenance"]["total"]["signals"]["model"] > 4


class Letters(Task):
    """A third-party task that reads text files too."""

    name = "letters"
    function = "file_letter"
    description = "A letter: file it."
    Output = Contact
    accepts = ("text/plain",)

    def prepare(self, job, ctx):
        return Evidence(text=Path(job.path).read_text())


class LettersPlugin:
    @hookimpl
    def register_tasks(self, register):
        register(Letters())


def test_a_text_note_goes_to_the_only_task_that_reads_text(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("Shopping\n- call the plumber tomorrow\n- buy milk\n")
    review = {"review": [{"source_quote": q, "is_todo": True, "due_phrase": None,
                          "priority": "normal"} for q in ("call the plumber tomorrow",
                                                          "buy milk")]}
    backend = FakeBackend(review)
    with runner(backend) as r:
        run = r.run("auto", note)
        readers = {t.name for t in r.host.tasks.values() if t.name != "auto" and t.routable
                   and t.uses_model and "text/plain" in t.accepts}
    assert readers == {"todos"} and run.data["task"] == "todos" and len(backend.calls) == 1
    assert run.evidence["route"]["by"] == "evidence"


def test_a_text_note_is_offered_to_every_task_that_reads_text(tmp_path, unsure):
    note = tmp_path / "note.txt"
    note.write_text("Shopping\n- call the plumber tomorrow\n- buy milk\n")
    backend = FakeBackend(kind(OTHER), ignore("test"))
    with runner(backend, plugins=[LettersPlugin()]) as r:
        r.run("auto", note)
    assert set(offered(backend.calls[0].schema)) == {"todos", "letters", OTHER}
    assert "[2] - call the plumber tomorrow" in backend.calls[0].messages[-1]["content"]


def test_a_note_that_calls_itself_a_todo_list_goes_to_todos_without_the_kind_question(tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("TODO\n- call the plumber tomorrow\n- buy milk\n- renew the passport\n")
    review = {"review": [{"source_quote": q, "is_todo": True, "due_phrase": None,
                          "priority": "normal"} for q in ("call the plumber tomorrow",
                                                          "buy milk", "renew the passport")]}
    backend = FakeBackend(review)
    with runner(backend) as r:
        run = r.run("auto", note)
    assert run.evidence["route"] == {**run.evidence["route"], "by": "evidence", "kind": "todos"}
    assert run.data["task"] == "todos" and len(backend.calls) == 1


@pytest.mark.parametrize("fits, chosen", [
    ({"a": 0.95, "b": 0.5, "c": 0.8}, "a"),     # the one sure candidate
    ({"a": 0.95, "b": 0.9}, None),               # two sure: the model chooses
    ({"a": 0.8, "b": 0.4, "c": None}, "a"),      # likely, and nobody argues
    ({"a": 0.8, "b": 0.5}, None),                # likely, but another argues
    ({"a": 0.8, "b": 0.75}, None),               # two likely
    ({"a": 0.4, "b": 0.4}, None),                # nobody likely
    ({"a": 0.1}, "a"),                           # the only candidate
    ({"a": None, "b": None}, None),              # no opinions
])
def test_the_evidence_decides_only_when_one_task_stands_out(fits, chosen):
    assert choice.decided_by_evidence(fits) == chosen


def test_a_note_that_is_mostly_a_list_of_tasks_is_likely_a_todo_note():
    from mustelid.plugins.todos.routing import todo_fit

    lines = ["Shopping", "call the plumber", "buy milk", "renew the passport", "Monday"]
    note = Evidence(data={"lines": lines, "quotes": lines[1:4]})
    screen = Evidence(data={"lines": lines + [f"menu {i}" for i in range(10)],
                            "quotes": lines[1:4]})
    assert todo_fit(note) >= choice.LIKELY > todo_fit(screen) >= 0.1


def test_a_short_picture_of_a_note_with_a_task_is_likely_a_todo_note():
    """A photo or drawing of a note is likely a to-do note when the picture is no capture of a
    whole display and the note model reads it as one, however few of its lines the rules offer
    (OCR joins and splits a hand's lines); too short for the model to judge, one task line in
    five says so. Not a screen capture, a long page, or a text the note model doubts."""
    from mustelid.plugins.todos.routing import todo_fit

    lines = ["Before the release", "fix the build on arm64", "thanks, Ann"]
    note = {"has_todos": 0.8}

    def fit(**data):
        return todo_fit(Evidence(data={"lines": lines, "quotes": lines[1:2], "note": note,
                                       "display_capture": False, **data}))

    assert fit() >= choice.LIKELY
    assert fit(note={"has_todos": None}) >= choice.LIKELY          # too short to judge
    assert fit(display_capture=True) < choice.DOUBT                 # a screenshot's size
    assert fit(note={"has_todos": 0.3}) < choice.DOUBT              # doubted by the note model
    assert fit(lines=lines + [f"row {i}" for i in range(30)]) < choice.DOUBT   # a long page
    assert fit(quotes=[]) >= choice.LIKELY                          # the model's yes is enough
    short = {"has_todos": None}
    assert fit(quotes=[], note=short) < choice.DOUBT                # no task line, no judgement
    assert fit(lines=lines + [f"row {i}" for i in range(2)], note=short) >= choice.LIKELY  # 1 in 5
    assert fit(lines=lines + [f"row {i}" for i in range(3, 10)], note=short) < choice.DOUBT  # 1/10
    text = Evidence(data={"lines": lines, "quotes": lines[1:2], "note": note})
    assert todo_fit(text) < choice.DOUBT                            # not a picture


def test_a_capture_of_an_editor_showing_a_tagged_to_do_is_a_todo_note():
    """A whole-display capture is likely a screenshot (0.8), but one whose offered items include
    a tagged to-do is sure to be a note: the tag is its author's mark."""
    from mustelid.plugins.todos.routing import todo_fit

    lines = ["TODO: reload only the changed files"]
    capture = Evidence(data={"lines": lines, "quotes": lines, "display_capture": True})
    assert todo_fit(capture) >= choice.SURE
    assert choice.decided_by_evidence({"todos": todo_fit(capture), "screenshots": 0.8}) == "todos"
    # An item without a tag on a screen decides nothing; nor does a window's title.
    untagged = Evidence(data={"lines": ["reload only the changed files"],
                              "quotes": ["reload only the changed files"], "display_capture": True})
    assert todo_fit(untagged) < choice.DOUBT
    title = Evidence(data={"lines": ["TODO - Mousepad"], "quotes": ["TODO - Mousepad"],
                           "display_capture": True})
    assert todo_fit(title) < choice.DOUBT


def test_a_picture_with_a_dialogs_buttons_argues_for_the_screenshot():
    """A window cut out of a screen is no display's size, but its OK / Cancel say it is a
    screen: enough doubt that a short note's reading does not take it without the model."""
    from mustelid.plugins.screenshots.kind_model import features
    from mustelid.plugins.screenshots.task import Screenshots

    def fit(texts, whole=False):
        lines = [{"text": t, "box": (0, 100 * i, 900, 100 * i + 40)} for i, t in enumerate(texts)]
        return Screenshots().router_fit(Evidence(data={
            "whole_screen": whole, "lines": lines, "kind_features": features(lines)}))

    dialog = ["Running IRC as root is stupid! You should create a user account.", " OK "]
    assert fit(dialog) >= choice.DOUBT
    assert fit(["buy milk", "call Ann: ok to meet on Monday?"]) < choice.DOUBT
    assert fit(["buy milk"], whole=True) >= choice.LIKELY
