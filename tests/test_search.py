"""`mustelid search`: FTS5 over every stored result and its input's text (migrations m006 and
m009, mustelid.store.search)."""

import datetime as dt
import json
import os
import re

import pytest
from click.testing import CliRunner
from pydantic import BaseModel
from sqlite_utils.migrations import Migrations

from mustelid import Evidence, Task

from mustelid.store import Ledger, migrate, open_db
from mustelid.store import files as store_files
from mustelid.store import migrations as core_migrations
from mustelid.store.search import SearchError, search
from mustelid.testing import FakeBackend, TaskRunner


def store_result(ledger, task, data, *, sha=None, name=None, key=None, filed_as=None,
                 evidence=None):
    """A done job with ``data`` as its result, the way the daemon commits one (``filed_as``:
    what ``Task.filed_as`` says, for a task that files its answer as another's)."""
    if sha:
        store_files.record_ingest(ledger, sha256=sha, size=1, mime="image/png",
                                  archived_path=f"/archive/{sha}", original_path=f"/in/{name}",
                                  original_name=name, mtime_ns=1, jobs=[])
    job_id, _ = ledger.enqueue(task, idempotency_key=key or f"{task}:{json.dumps(data)}",
                               input_sha256=sha)
    assert ledger.claim("test", 30, tasks=[task])["id"] == job_id
    assert ledger.complete(job_id, "test", data, filed_as=filed_as, evidence=evidence)
    return job_id


def store_old_result(ledger, task, data):
    """A done job's result as a mustelid from before ``results.filed_as`` stored it."""
    job_id, _ = ledger.enqueue(task, idempotency_key=f"{task}:{json.dumps(data)}")
    assert ledger.claim("test", 30, tasks=[task])["id"] == job_id
    ledger.db.execute("INSERT INTO results (job_id, task, version, data, evidence, created_at)"
                      " VALUES (?, ?, 1, ?, '{}', '2026-01-01')", [job_id, task, json.dumps(data)])
    return job_id


def core_up_to(last: str) -> Migrations:
    """The host's migration set cut before ``last``: a database as an older mustelid left it."""
    older = Migrations("mustelid")
    for m in core_migrations.core._migrations:
        if m.name == last:
            break
        older._migrations.append(m)
    return older


@pytest.fixture
def db(tmp_path):
    db = open_db(tmp_path / "m.db")
    migrate(db)
    return db


def test_results_stored_before_and_after_the_migration_are_found(tmp_path):
    db = open_db(tmp_path / "old.db")
    older = core_up_to("m006_results_search")
    with db.conn:
        older.apply(db)
    assert not db["results_fts"].exists()
    ledger = Ledger(db)
    before = store_old_result(ledger, "receipts", {"merchant": "Kedai Buku Taman",
                                                   "total": "9.00"})

    migrate(db)                                   # the upgrade indexes what is already there
    after = store_result(ledger, "screenshots", {"title": "Taman Daya map", "kind": "web_page"})

    hits = search(db, "taman")
    assert {h["job_id"] for h in hits} == {before, after}
    assert [h["job_id"] for h in search(db, "kedai")] == [before]
    assert search(db, "nothing-like-this") == []


def test_values_are_indexed_not_json_keys_or_escapes(db):
    ledger = Ledger(db)
    job = store_result(ledger, "receipts", {"merchant": "Café Zürich", "total": "4.20",
                                            "items": [{"name": "croissant", "price": "2.10"}]})
    # results.data is stored with ensure_ascii ("Caf\u00e9"): the index must hold the text.
    assert "\\u00e9" in db.execute("SELECT data FROM results").fetchone()[0]
    assert [h["job_id"] for h in search(db, "café")] == [job]
    assert [h["job_id"] for h in search(db, "cafe zurich")] == [job]     # diacritics folded
    assert [h["job_id"] for h in search(db, "croissants")] == [job]      # porter stemming
    assert search(db, "merchant") == []                                  # a key, not a value


def test_a_huge_query_is_cut_to_its_first_words(db):
    """Thousands of words cost FTS5 quadratic time (issue 13): only the first
    MAX_QUERY_WORDS words are searched for."""
    from mustelid.store.search import MAX_QUERY_WORDS

    job = store_result(Ledger(db), "receipts", {"merchant": "Cafe Zurich"})
    filler = ["cafe"] * (MAX_QUERY_WORDS - 1)
    assert [h["job_id"] for h in search(db, " ".join(filler + ["zurich"]))] == [job]
    assert [h["job_id"] for h in search(db, " ".join(filler + ["cafe", "nomatch"]))] == [job]
    assert search(db, " ".join(filler + ["nomatch"])) == []              # word 32 is kept
    search(db, "word " * 20000)                                          # returns, bounded


def test_hit_has_job_task_file_and_snippet(db):
    ledger = Ledger(db)
    job = store_result(ledger, "screenshots", {"summary": "Maya asks to pick up the cake from "
                                               "Rosie's Bakery on Saturday morning"},
                       sha="ab" * 32, name="chat.png")
    (hit,) = search(db, "bakery")
    assert hit["job_id"] == job and hit["task"] == "screenshots" and hit["file"] == "chat.png"
    (start, end), = hit["marks"]                        # plain text, the match by offsets
    assert "Rosie's Bakery on" in hit["snippet"] and hit["snippet"][start:end] == "Bakery"


def test_task_filter_counts_router_filed_results_as_their_task(db):
    ledger = Ledger(db)
    direct = store_result(ledger, "receipts", {"merchant": "Luigi's", "total": "40.00"})
    routed = store_result(ledger, "auto", {"kind": "receipts", "name": "record_expense",
                                           "task": "receipts",
                                           "arguments": {"merchant": "Luigi's Pizza"}},
                          filed_as="receipts")
    store_result(ledger, "screenshots", {"title": "Dinner at Luigi's"})
    assert {h["job_id"] for h in search(db, "luigi", task="receipts")} == {direct, routed}
    assert len(search(db, "luigi")) == 3


def test_query_punctuation_is_quoted_and_raw_syntax_is_checked(db):
    ledger = Ledger(db)
    job = store_result(ledger, "screenshots", {"title": "Error code: 0x80070005 - access denied"})
    assert [h["job_id"] for h in search(db, 'code: 0x80070005 - "access')] == [job]
    assert [h["job_id"] for h in search(db, "acc*", raw=True)] == [job]
    with pytest.raises(SearchError):
        search(db, 'a OR "', raw=True)


def test_cli_search_json(home):
    from mustelid.cli import cli
    from mustelid.config import load_config

    db = open_db(load_config().db_path)
    migrate(db)
    job = store_result(Ledger(db), "receipts", {"merchant": "Northwind Outdoors",
                                                "total": "349.00"},
                       sha="cd" * 32, name="tent.jpg")
    runner = CliRunner()
    out = runner.invoke(cli, ["search", "northwind", "--json"])
    assert out.exit_code == 0, out.output
    (hit,) = json.loads(out.output)
    assert hit["job_id"] == job and hit["task"] == "receipts" and hit["file"] == "tent.jpg"
    assert hit["snippet"].startswith("Northwind Outdoors") and hit["marks"] == [[0, 9]]
    assert json.loads(runner.invoke(cli, ["search", "northwind", "--task", "todos",
                                          "--json"]).output) == []
    bad = runner.invoke(cli, ["search", "--raw", 'a OR "'])
    assert bad.exit_code != 0 and "not a valid FTS5 query" in bad.output
    plain = runner.invoke(cli, ["search", "outdoors"])          # piped: TSV with a header
    assert plain.output.splitlines()[0].split("\t") == ["job_id", "task", "file", "snippet"]


# -- the input's text (m009) -----------------------------------------------------------------

CAB_RECEIPT = ["COMFORT CABS SDN BHD", "Taxi fare KLIA - Bangsar", "Ref E-4012", "TOTAL RM 34.00"]


class Cab(BaseModel):
    merchant: str
    total: str


class ReadsReceipts(Task):
    """An image task as the shipped ones are: OCR lines in, a few fields out."""

    name = "cabs"
    function = "record_cab"
    description = "Record a cab receipt."
    accepts = ("image/png",)
    Output = Cab

    def prepare(self, job, ctx):
        lines = [line.text for line in ctx.ocr(job.path)]
        return Evidence(text="\n".join(lines), data={"lines": len(lines)})

    def messages(self, job, evidence, ctx):
        return [{"role": "user", "content": evidence.text}]


def png(path):
    from PIL import Image

    Image.new("RGB", (64, 48), "white").save(path)
    return path


def test_a_word_only_on_the_image_is_found_through_the_daemons_commit(tmp_path):
    """The OCR text the task read (Evidence.text) is stored with the result and searched:
    'taxi' and the error code are on the receipt, not in the answer."""
    answer = {"merchant": "Comfort Cabs", "total": "34.00"}
    with TaskRunner(backend=FakeBackend(answer), ocr=CAB_RECEIPT) as runner:
        run = runner.run(ReadsReceipts(), png(tmp_path / "cab.png"))
        assert "taxi" not in json.dumps(run.data).lower()
        db = runner.persist(run)
        (hit,) = search(db, "taxi")
        assert hit["task"] == "cabs" and hit["file"] == "cab.png"
        assert "Taxi fare" in hit["snippet"]
        assert [h["job_id"] for h in search(db, "E-4012")] == [hit["job_id"]]
        assert [h["job_id"] for h in search(db, "comfort cabs")] == [hit["job_id"]]
        assert search(db, "taxi", task="receipts") == []


def test_a_match_in_the_answer_ranks_above_one_only_in_the_text(db):
    ledger = Ledger(db)
    in_text = store_result(ledger, "screenshots", {"title": "Flight booking"},
                           evidence={"source_text": "Booking ref QX7 Grab taxi to the airport"})
    in_answer = store_result(ledger, "receipts", {"merchant": "Taxi Bintang"},
                             evidence={"source_text": "Taxi Bintang\nTOTAL 12.00"})
    assert [h["job_id"] for h in search(db, "taxi")] == [in_answer, in_text]


def test_the_upgrade_indexes_the_text_of_inputs_stored_before_it(tmp_path):
    """A database as the previous release left it (m006 indexed answers only): the evidence
    holds the OCR lines in the shapes the tasks stored them, and the migration backfills."""
    db = open_db(tmp_path / "old.db")
    with db.conn:
        core_up_to("m009_search_input_text").apply(db)
    ledger = Ledger(db)
    receipt = store_result(ledger, "receipts", {"merchant": "Comfort Cabs"}, evidence={
        "lines": [{"text": "Taxi fare KLIA", "box": [1, 2, 3, 4], "score": 0.9}],
        "rows": [{"text": "Taxi fare KLIA", "lines": [0]}]})
    note = store_result(ledger, "todos", {"todos": [{"task": "Call Ana"}]},
                        evidence={"lines": ["Call Ana", "plumber quote 0x80070005"]})
    routed = store_result(ledger, "auto", {"kind": "screenshots", "arguments": {"title": "Map"}},
                          filed_as="screenshots",
                          evidence={"chosen": {"kind": "screenshots"},
                                    "task_evidence": {"lines": [{"text": "Jalan Telawi 3"}]}})
    no_text = store_result(ledger, "summaries", {"period": "week"}, evidence={"key": "W47"})
    assert search(db, "taxi") == [] and search(db, "plumber") == []   # answers only, before

    migrate(db)
    assert [h["job_id"] for h in search(db, "taxi")] == [receipt]
    assert [h["job_id"] for h in search(db, "0x80070005")] == [note]
    assert [h["job_id"] for h in search(db, "telawi")] == [routed]
    assert [h["job_id"] for h in search(db, "week")] == [no_text]       # answers still found
    assert [h["job_id"] for h in search(db, "comfort")] == [receipt]
    # and results stored after the upgrade are indexed by the new triggers
    later = store_result(ledger, "screenshots", {"title": "Receipt"},
                         evidence={"source_text": "Bluebird taxi"})
    assert {h["job_id"] for h in search(db, "taxi")} == {receipt, later}
    db.execute("DELETE FROM results WHERE job_id = ?", [later])
    assert [h["job_id"] for h in search(db, "bluebird")] == []


def test_since_and_until_bound_when_the_input_was_first_seen(db):
    clock = {"now": 1_700_000_000.0}                         # 2023-11-14T22:13:20Z
    ledger = Ledger(db, clock=lambda: clock["now"])
    old = store_result(ledger, "receipts", {"merchant": "Taxi One"}, sha="01" * 32, name="a.png")
    clock["now"] += 3 * 86400                                # 2023-11-17
    new = store_result(ledger, "receipts", {"merchant": "Taxi Two"}, sha="02" * 32, name="b.png")
    assert {h["job_id"] for h in search(db, "taxi")} == {old, new}
    assert [h["job_id"] for h in search(db, "taxi", since="2023-11-16T00:00:00.000+00:00")] \
        == [new]
    assert [h["job_id"] for h in search(db, "taxi", until="2023-11-16T00:00:00.000+00:00")] \
        == [old]
    assert search(db, "taxi", since="2023-11-15", until="2023-11-16") == []


def test_cli_since_until_take_days_and_refuse_nonsense(home):
    from mustelid.cli import cli
    from mustelid.config import load_config

    db = open_db(load_config().db_path)
    migrate(db)
    job = store_result(Ledger(db), "receipts", {"merchant": "Northwind"},
                       evidence={"source_text": "taxi"})
    runner = CliRunner()
    today = dt.date.today().isoformat()

    def found(*args):
        out = runner.invoke(cli, ["search", "taxi", "--json", *args])
        assert out.exit_code == 0, out.output
        return [h["job_id"] for h in json.loads(out.output)]

    assert found("--since", today) == [job] and found("--until", today) == [job]
    assert found("--since", (dt.date.today() + dt.timedelta(days=2)).isoformat()) == []
    assert found("--until", (dt.date.today() - dt.timedelta(days=2)).isoformat()) == []
    bad = runner.invoke(cli, ["search", "taxi", "--since", "last tuesday"])
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output


def test_a_terminal_sees_the_match_highlighted_a_pipe_sees_plain_text(home):
    """The real command in a pseudo-terminal, then piped."""
    import pty
    import subprocess
    import sys

    from mustelid.config import load_config

    db = open_db(load_config().db_path)
    migrate(db)
    store_result(Ledger(db), "receipts", {"merchant": "Comfort Cabs"},
                 evidence={"source_text": "Taxi fare KLIA Bangsar"})
    cmd = [sys.executable, "-m", "mustelid", "search", "taxi"]
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    parent, child = pty.openpty()
    proc = subprocess.run(cmd, stdout=child, stderr=subprocess.PIPE, env=env, timeout=60)
    os.close(child)
    shown = b""
    while True:
        try:
            chunk = os.read(parent, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(parent)
    assert proc.returncode == 0, proc.stderr
    # the matched word, and only it, in bold reverse video (SGR 1 and 7)
    assert re.search(rb"\x1b\[1;7mTaxi\x1b\[0m fare KLIA", shown), shown
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b" not in piped.stdout
    assert piped.stdout.splitlines()[1].endswith("Taxi fare KLIA Bangsar")
