"""The one commit path (``mustelid.commit.commit``): every way a worker's reply can end."""

import sqlite3

import pytest
from pydantic import BaseModel, Field

from mustelid import Evidence, Task, hookimpl
from mustelid.commit import PersistFailed, commit
from mustelid.host import Host
from mustelid.scheduler import run_now
from mustelid.store import Ledger, migrate, open_db
from mustelid.store import reviews

OWNER = "daemon"


class Note(BaseModel):
    text: str = Field(max_length=50)


class Notes(Task):
    name = "notes"
    Output = Note
    fail_with: Exception | None = None

    def persist(self, db, job, result):
        if self.fail_with is not None:
            raise self.fail_with
        db["notes"].insert({"job_id": job["id"], "text": result.text})


class Dispatcher(Notes):
    """Files its answer as another task's, as the inbox router does."""

    name = "dispatch"

    def filed_as(self, result):
        return "notes"


@pytest.fixture
def ledger(tmp_path):
    db = open_db(tmp_path / "c.db")
    migrate(db)
    return Ledger(db, backoff_seconds=10)


def claimed(ledger, task="notes", key="k"):
    ledger.enqueue(task, idempotency_key=key)
    return ledger.claim(OWNER, 60)


def answer(text="hello"):
    return {"ok": True, "data": {"text": text}, "evidence": {"seen": 1},
            "stats": {"model_id": "m", "prompt_tokens": 3, "completion_tokens": 2}}


def test_an_answer_is_stored_with_the_tasks_rows_and_done(ledger):
    job = claimed(ledger)
    outcome = commit(ledger, Notes(), job, answer())
    assert (outcome.kind, outcome.state, outcome.error) == ("done", "done", None)
    row = ledger.get(job["id"])
    assert row["state"] == "done" and row["lease_owner"] is None and row["prompt_tokens"] == 3
    result = ledger.result(job["id"])
    assert result["data"] == '{"text": "hello"}' and result["evidence"] == '{"seen": 1}'
    assert result["model_id"] == "m" and result["filed_as"] is None      # its own task
    assert [r["text"] for r in ledger.db["notes"].rows] == ["hello"]


def test_a_dispatchers_answer_is_filed_as_the_task_it_names(ledger):
    job = claimed(ledger, "dispatch")
    assert commit(ledger, Dispatcher(), job, answer()).state == "done"
    assert ledger.result(job["id"])["filed_as"] == "notes"


def test_an_answer_that_does_not_validate_here_is_dead(ledger):
    job = claimed(ledger)
    outcome = commit(ledger, Notes(), job, answer("x" * 51))
    assert (outcome.kind, outcome.state, outcome.reason) == ("failed", "dead", "schema_violation")
    assert ledger.result(job["id"]) is None and not ledger.db["notes"].exists()


def test_a_persist_that_raises_rolls_back_and_is_retried(ledger):
    job = claimed(ledger)
    task = Notes()
    task.fail_with = KeyError("merchant")
    outcome = commit(ledger, task, job, answer())
    assert (outcome.kind, outcome.state, outcome.reason) == ("failed", "queued", "persist_failed")
    assert isinstance(outcome.error, PersistFailed)
    assert isinstance(outcome.error.__cause__, KeyError)                 # the plugin's own error
    assert "KeyError" in ledger.get(job["id"])["last_error"]
    assert ledger.result(job["id"]) is None                              # nothing half-stored


def test_a_full_disk_during_persist_propagates_and_the_reply_commits_later(ledger):
    job = claimed(ledger)
    task = Notes()
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13                                           # SQLITE_FULL
    task.fail_with = full
    with pytest.raises(sqlite3.OperationalError):
        commit(ledger, task, job, answer())
    row = ledger.get(job["id"])
    assert row["state"] == "running" and row["lease_owner"] == OWNER     # still ours, unharmed
    assert ledger.result(job["id"]) is None
    task.fail_with = None                                                # the disk was freed
    assert commit(ledger, task, job, answer()).state == "done"


def test_a_valid_answer_failing_its_checks_is_held_for_review(ledger):
    job = claimed(ledger)
    reply = {"ok": False, "kind": "review", "reason": "check_failed", "message": "total?",
             "review": {"data": {"text": "hello"}, "raw": '{"text": "hello"}',
                        "problems": ["total?"], "evidence": {}, "stats": {"model_id": "m"}}}
    outcome = commit(ledger, Notes(), job, reply)
    assert (outcome.kind, outcome.state, outcome.reason) == ("review", "needs_review",
                                                             "check_failed")
    assert reviews.get(ledger.db, job["id"])["problems"] == ["total?"]
    assert ledger.result(job["id"]) is None


@pytest.mark.parametrize("kind, state", [("transient", "queued"), ("permanent", "dead"),
                                         ("waiting", "waiting")])
def test_a_failure_is_recorded_with_its_kind(ledger, kind, state):
    job = claimed(ledger)
    reply = {"ok": False, "kind": kind, "reason": "r", "message": "m"}
    outcome = commit(ledger, Notes(), job, reply)
    assert (outcome.kind, outcome.state, outcome.reason) == ("failed", state, "r")
    assert ledger.get(job["id"])["reason"] == "r"


def test_nothing_is_written_once_the_lease_is_lost(ledger):
    job = claimed(ledger)
    ledger.release(job["id"], OWNER)
    assert ledger.claim("someone-else", 60)["id"] == job["id"]             # taken over
    outcome = commit(ledger, Notes(), job, answer())
    assert (outcome.kind, outcome.state) == ("done", None)
    assert ledger.result(job["id"]) is None and not ledger.db["notes"].exists()
    assert ledger.get(job["id"])["lease_owner"] == "someone-else"


# -- run_inline (mustelid summary --now) commits the same way -------------------------------------


class Checked(BaseModel):
    text: str = Field(max_length=50)


class NeedsAPerson(Task):
    """A model task whose check never passes: the second answer goes to review."""

    name = "picky"
    Output = Checked

    def prepare(self, job, ctx):
        return Evidence(text="")

    def messages(self, job, evidence, ctx):
        return [{"role": "user", "content": "say hi"}]

    def check(self, result, evidence):
        return ["never good enough"]

    def persist(self, db, job, result):
        db["picky"].insert({"job_id": job["id"]})


def test_run_now_holds_an_answer_that_fails_its_checks_for_review(home):
    from mustelid.config import load_config
    from mustelid.home import open_store
    from mustelid.testing_fakes import FakeBackend, FakesPlugin

    class Plugin:
        @hookimpl
        def register_tasks(self, register):
            register(NeedsAPerson())

    cfg = load_config()
    cfg.model.backend = "testing-fake"
    host = Host(load=False)
    host.register(Plugin(), "picky")
    host.register(FakesPlugin(FakeBackend({"text": "hi"}), None), "fakes")
    db, ledger = open_store(cfg, host)
    job = run_now(cfg, host, ledger, "picky", {})
    assert job["state"] == "needs_review" and job["reason"] == "check_failed"
    assert reviews.get(db, job["id"])["problems"] == ["never good enough"]
