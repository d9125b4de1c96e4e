"""mustelid.testing: the kit plugin authors test their tasks with. Fast tests use its fakes; the
real one runs a task with the real model and real OCR through it."""

import json
import os
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from mustelid import Evidence, Generation, PermanentError, Task, hookimpl
from mustelid.testing import (
    FakeBackend,
    FakeOcr,
    PluginLoadError,
    TaskRunner,
    persist_into_temp_db,
    run_task,
    schema_problems,
    temp_home,
)


class Shout(BaseModel):
    text: str = Field(max_length=80)
    words: int = Field(ge=0, le=1000)


class Shouter(Task):
    """A text task, as a plugin author would write one."""

    name = "shout"
    function = "shout"
    description = "Shout the text."
    input_kind = "text"
    accepts = ("text/plain",)
    Output = Shout

    def prepare(self, job, ctx):
        text = Path(job.path).read_text(encoding="utf-8")
        if not text.strip():
            raise PermanentError("empty", "nothing to shout")
        return Evidence(text=text, data={"chars": len(text)})

    def messages(self, job, evidence, ctx):
        return [{"role": "user", "content": f"Shout: {evidence.text}"}]

    def check(self, result, evidence):
        return [] if result.text.isupper() else ["not shouted"]

    def persist(self, db, job, result):
        db["shouts"].insert({"job_id": job["id"], "sha": job["input_sha256"], **result.model_dump()})


class ShoutPlugin:
    @hookimpl
    def register_tasks(self, register):
        register(Shouter())

    @hookimpl
    def register_migrations(self, register):
        from sqlite_utils.migrations import Migrations

        m = Migrations("shouts")

        @m()
        def m001_shouts(db):
            db["shouts"].create({"id": int, "job_id": str, "sha": str, "text": str,
                                 "words": int}, pk="id")

        register(m)


LOUD = {"text": "HELLO THERE", "words": 2}


def test_temp_home_points_mustelid_at_a_fresh_folder_and_restores_the_environment(monkeypatch):
    monkeypatch.setenv("MUSTELID_HOME", "/nonexistent/original")
    monkeypatch.setenv("MUSTELID_MODELS_DIR", "/shared/models")
    with temp_home(config={"model": {"threads": 1}}) as home:
        from mustelid.config import load_config

        cfg = load_config()
        assert cfg.db_path == home / "data" / "mustelid.db"
        assert cfg.models_dir == Path("/shared/models")     # one model copy for every home
        assert cfg.model.threads == 1
    assert not home.exists()
    assert os.environ["MUSTELID_HOME"] == "/nonexistent/original"


def test_models_dir_follows_the_callers_home_when_not_set(monkeypatch, tmp_path):
    monkeypatch.setenv("MUSTELID_HOME", str(tmp_path))
    monkeypatch.delenv("MUSTELID_MODELS_DIR")
    with temp_home():
        assert os.environ["MUSTELID_MODELS_DIR"] == str(tmp_path / "models")
    assert "MUSTELID_MODELS_DIR" not in os.environ


def test_run_task_returns_the_validated_result_from_text():
    result = run_task(Shouter(), "hello there", backend=FakeBackend(LOUD))
    assert isinstance(result, Shout) and result == Shout(**LOUD)


def test_runner_exposes_evidence_stats_and_what_the_model_was_sent(tmp_path):
    backend = FakeBackend({"text": "quiet", "words": 1}, LOUD)   # first answer fails check
    source = tmp_path / "in.txt"
    source.write_text("hello there")
    with TaskRunner([ShoutPlugin()], backend=backend) as runner:
        run = runner.run("shout", source)
    assert run.evidence == {"chars": 11, "source_text": "hello there"}   # stored for search
    assert run.stats["reasked"] and run.stats["generations"] == 2
    assert run.stats["model_id"] == "fake-model"
    assert backend.calls[0].messages == [{"role": "user", "content": "Shout: hello there"}]
    assert backend.calls[0].schema == Shout.model_json_schema()
    assert "not shouted" in backend.calls[1].messages[-1]["content"]     # the host's re-ask
    assert run.job.path == str(source) and run.job.mime == "text/plain"


@pytest.mark.parametrize("reply, reason", [
    (Generation('{"text": "HEL', "length"), "truncated_output"),
    ("not json", "invalid_json"),
    ({"text": "HI", "words": -1}, "schema_violation"),
])
def test_fake_replies_go_through_the_hosts_fail_closed_parsing(reply, reason):
    with pytest.raises(PermanentError) as e:
        run_task(Shouter(), "hi", backend=FakeBackend(reply))
    assert e.value.reason == reason


def test_replies_can_be_computed_from_the_prompt():
    def shout_back(messages, schema):
        words = messages[-1]["content"].removeprefix("Shout: ")
        return {"text": words.upper(), "words": len(words.split())}

    assert run_task(Shouter(), "a b c", backend=FakeBackend(shout_back)).text == "A B C"


def test_fake_ocr_stands_in_for_the_engine(tmp_path):
    class Reader(Task):
        name, function, description = "reader", "read", "read lines"
        Output = Shout

        def prepare(self, job, ctx):
            lines = ctx.ocr(job.path)
            return Evidence(text=" ".join(l.text for l in lines), data={"box": lines[1].box})

        def messages(self, job, evidence, ctx):
            return [{"role": "user", "content": evidence.text}]

    ocr = FakeOcr(["FIRST", "SECOND"])
    image = tmp_path / "x.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    with TaskRunner(backend=FakeBackend(LOUD), ocr=ocr) as runner:
        run = runner.run(Reader, image)
    assert ocr.paths == [str(image)]
    assert run.evidence["box"] == (10, 50, 82, 80)
    assert run.job.mime == "image/png"


def test_persist_runs_migrations_ingest_and_the_completing_transaction(tmp_path):
    with TaskRunner([ShoutPlugin()], backend=FakeBackend(LOUD), home=tmp_path) as runner:
        run = runner.run("shout", "hello there")
        db = runner.persist(run)
        again = runner.persist(run)          # same bytes + task: committed once
    [row] = list(db["shouts"].rows)
    assert row["text"] == "HELLO THERE" and row["sha"]           # input_sha256 from ingest
    [job] = list(again["jobs"].rows)
    assert job["state"] == "done" and job["task"] == "shout"
    assert json.loads(next(again["results"].rows)["evidence"]) == {"chars": 11,
                                                                "source_text": "hello there"}
    assert len(list(again["shouts"].rows)) == 1


def test_persist_into_temp_db_checks_a_result_without_a_run(tmp_path):
    db = persist_into_temp_db("shout", Shout(**LOUD), plugins=[ShoutPlugin()], home=tmp_path)
    assert [r["words"] for r in db["shouts"].rows] == [2]
    assert db.conn.execute("SELECT state FROM jobs").fetchone()[0] == "done"


def test_a_broken_migration_is_an_error_not_a_silent_skip(tmp_path):
    class Broken(ShoutPlugin):
        @hookimpl
        def register_migrations(self, register):
            from sqlite_utils.migrations import Migrations

            m = Migrations("broken")

            @m()
            def m001(db):
                raise ValueError("bad column")

            register(m)

    with pytest.raises(RuntimeError, match="bad column"):
        persist_into_temp_db("shout", Shout(**LOUD), plugins=[Broken()], home=tmp_path)


def test_a_plugin_that_does_not_load_is_reported():
    class Typo:
        @hookimpl
        def register_taks(self, register):
            pass

    with pytest.raises(PluginLoadError, match="register_taks"):
        TaskRunner([Typo()])


def test_a_register_tasks_that_raises_is_named_when_its_task_is_missing():
    class Raising:
        @hookimpl
        def register_tasks(self, register):
            raise ValueError("oops in my plugin")

    with TaskRunner([Raising()]) as runner:
        with pytest.raises(KeyError, match="Raising: register_tasks raised ValueError: oops"):
            runner.task("mine")


def test_the_plugin_under_test_wins_over_an_installed_one_with_the_same_task():
    class MyReceipts(Shouter):
        name = "receipts"                      # the built-in plugin registers it too

    class Plugin:
        @hookimpl
        def register_tasks(self, register):
            register(MyReceipts())

    with TaskRunner([Plugin()], backend=FakeBackend(LOUD)) as runner:
        assert type(runner.task("receipts")) is MyReceipts
        assert runner.run("receipts", "hi there").result.text == "HELLO THERE"


class Item(BaseModel):
    name: str                                                  # unbounded, behind a $ref


class Loose(BaseModel):
    code: str = Field(pattern=r"^\d{3}[.]$")                 # an escape: llama.cpp rejects it
    tags: list[str] = Field(max_length=3)                      # items unbounded
    notes: list[str]                                           # no maxItems either
    counts: dict[str, int]                                     # open-ended keys
    word: str = Field(pattern="^[a-z]+$")                      # repeats without a bound
    fine: str = Field(pattern="^[A-Z+]{1,3}$")                 # '+' inside a class is literal
    kind: str = Field(json_schema_extra={"enum": ["a", "b"]})  # an enum bounds itself
    items: list[Item] = Field(max_length=2)


def test_schema_problems_names_every_field_a_small_model_could_run_away_in():
    assert schema_problems(Shout.model_json_schema()) == []
    assert schema_problems(Loose.model_json_schema()) == [
        r"code: pattern '^\\d{3}[.]$' has a regex escape; use [0-9], [.]",
        "tags[]: string without maxLength",
        "notes: array without maxItems",
        "notes[]: string without maxLength",
        "counts: object with open-ended keys",
        "word: string without maxLength",
        "items[].name: string without maxLength",
    ]


@pytest.mark.real
def test_real_model_and_real_ocr_through_the_kit(real_model, tmp_path):
    from PIL import Image, ImageDraw, ImageFont

    class Word(BaseModel):
        word: str = Field(pattern="^[A-Za-z]{1,20}$", max_length=20)

    class Reader(Task):
        name, function, description = "word", "record_word", "the word on a sign"
        Output = Word
        max_tokens = 32

        def prepare(self, job, ctx):
            text = " ".join(l.text for l in ctx.ocr(job.path))
            return Evidence(text=text, variables={"text": text})

        def messages(self, job, evidence, ctx):
            return [{"role": "system", "content": "Reply with JSON only."},
                    {"role": "user", "content": "The sign says: " + evidence.text
                     + "\nRecord the animal named on the sign as {\"word\": ...}."}]

    sign = Image.new("RGB", (700, 200), "white")
    ImageDraw.Draw(sign).text((40, 60), "Beware of the OTTER", fill="black",
                              font=ImageFont.load_default(size=48))
    sign.save(tmp_path / "sign.png")
    with TaskRunner(config={"model": {"threads": 2}}) as runner:
        run = runner.run(Reader(), tmp_path / "sign.png")
    assert run.result.word.lower() == "otter"
    assert run.stats["model_id"].startswith("qwen2.5-coder-0.5b")
    assert runner.ctx.backend_loaded is False           # closed with the runner
