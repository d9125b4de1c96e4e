"""`mustelid search`: FTS5 over every stored result (migration m006, mustelid.store.search)."""

import json

import pytest
from click.testing import CliRunner
from sqlite_utils.migrations import Migrations

from mustelid.store import Ledger, migrate, open_db
from mustelid.store import files as store_files
from mustelid.store import migrations as core_migrations
from mustelid.store.search import SearchError, search


def store_result(ledger, task, data, *, sha=None, name=None, key=None, filed_as=None):
    """A done job with ``data`` as its result, the way the daemon commits one (``filed_as``:
    what ``Task.filed_as`` says, for a task that files its answer as another's)."""
    if sha:
        store_files.record_ingest(ledger, sha256=sha, size=1, mime="image/png",
                                  archived_path=f"/archive/{sha}", original_path=f"/in/{name}",
                                  original_name=name, mtime_ns=1, jobs=[])
    job_id, _ = ledger.enqueue(task, idempotency_key=key or f"{task}:{json.dumps(data)}",
                               input_sha256=sha)
    assert ledger.claim("test", 30, tasks=[task])["id"] == job_id
    assert ledger.complete(job_id, "test", data, filed_as=filed_as)
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
    assert "[Bakery]" in hit["snippet"]


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
    assert "[Northwind]" in hit["snippet"]
    assert json.loads(runner.invoke(cli, ["search", "northwind", "--task", "todos",
                                          "--json"]).output) == []
    bad = runner.invoke(cli, ["search", "--raw", 'a OR "'])
    assert bad.exit_code != 0 and "not a valid FTS5 query" in bad.output
    plain = runner.invoke(cli, ["search", "outdoors"])          # piped: TSV with a header
    assert plain.output.splitlines()[0].split("\t") == ["job_id", "task", "file", "snippet"]
