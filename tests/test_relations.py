"""Foreign keys between files, jobs, results and the task tables (store migration m010 and each
plugin's own): converting a database the previous release made keeps every row, sets the rows
that name nothing aside instead of dropping them, and from then on SQLite refuses a row that
names a missing job or file."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest
from sqlite_utils.migrations import Migrations
from test_receipts import good_answer

from mustelid.config import load_config
from mustelid.host import Host
from mustelid.store import Ledger, immediate, migrate, open_db
from mustelid.store.files import record_ingest, record_refusal
from mustelid.store.migrations import core
from mustelid.store.schedules import record_fire

# This change's migrations: the previous release stopped before them.
NEW = {"m010_foreign_keys", "m004_foreign_keys", "m003_foreign_keys", "m002_foreign_keys"}

# (table, column) -> (parent table, parent column, ON DELETE)
KEYS = {
    ("jobs", "input_sha256"): ("files", "sha256", "RESTRICT"),
    ("jobs", "reprocess_of"): ("jobs", "id", "RESTRICT"),
    ("job_events", "job_id"): ("jobs", "id", "CASCADE"),
    ("results", "job_id"): ("jobs", "id", "RESTRICT"),
    ("results", "input_sha256"): ("files", "sha256", "RESTRICT"),
    ("reviews", "job_id"): ("jobs", "id", "RESTRICT"),
    ("corrections", "job_id"): ("jobs", "id", "RESTRICT"),
    ("inbox_files", "sha256"): ("files", "sha256", "RESTRICT"),
    ("schedule_state", "last_job_id"): ("jobs", "id", "SET NULL"),
    ("expenses", "job_id"): ("jobs", "id", "RESTRICT"),
    ("expenses", "file_sha256"): ("files", "sha256", "RESTRICT"),
    ("todos", "job_id"): ("jobs", "id", "RESTRICT"),
    ("screenshots", "job_id"): ("jobs", "id", "RESTRICT"),
    ("screenshots", "file_sha256"): ("files", "sha256", "RESTRICT"),
    ("summaries", "job_id"): ("jobs", "id", "RESTRICT"),
}


@pytest.fixture
def host(home):
    return Host(load_config().plugins_path)


def previous_release(path, host):
    """The schema the current release makes: every set's migrations up to this change's."""
    db = open_db(path)
    for migrations in [core, *host.migrations()]:
        with immediate(db):
            migrations.apply(db, stop_before=NEW)
    assert keys_of(db) == {}
    return db


def keys_of(db):
    out = {}
    for table in db.table_names():
        for fk in db.execute(f"PRAGMA foreign_key_list([{table}])").fetchall():
            out[(table, fk[3])] = (fk[2], fk[4], fk[6])
    return out


def fill(db, host):
    """Real-looking rows written by the store's own functions and the tasks' own persist, as the
    daemon writes them; then four orphans as a hand edit (datasette, sqlite3) could leave them.
    Returns the orphans: (table, column, value, action)."""
    ledger = Ledger(db)
    receipts, todos, shots = (host.task(n) for n in ("receipts", "todos", "screenshots"))

    def ingest(name, task):
        sha = hashlib.sha256(name.encode()).hexdigest()
        [(job_id, _)] = record_ingest(
            ledger, sha256=sha, size=1234, mime="image/png", archived_path=f"ab/{sha}.png",
            original_path=f"inbox/{name}", original_name=name, mtime_ns=1,
            jobs=[{"task": task, "idempotency_key": f"{sha}:{task}"}])
        return job_id

    def done(job_id, task, answer, text):
        result = task.Output.model_validate(answer)
        assert ledger.claim_job(job_id, "t", 60) is not None
        assert ledger.complete(job_id, "t", result.model_dump(mode="json"),
                               evidence={"source_text": text},
                               persist=lambda d, row: task.persist(d, row, result))

    receipt = ingest("receipt.jpg", "receipts")
    done(receipt, receipts, good_answer(), "CORNER HARDWARE taxi 27.90")
    again = ledger.start_reprocess(ledger.get(receipt), "t", 60, task_version="1", model_id="m")
    result = receipts.Output.model_validate(good_answer(total="27.92"))
    ledger.complete(again["id"], "t", result.model_dump(mode="json"),
                    persist=lambda d, row: receipts.persist(d, row, result))

    held = ingest("blurred.jpg", "receipts")
    ledger.claim_job(held, "t", 60)
    ledger.hold_for_review(held, "t", "check_failed", "total not printed",
                           {"problems": ["total"], "raw": "{}", "data": good_answer(),
                            "evidence": {"source_text": "blurred"}})
    corrected = receipts.Output.model_validate(good_answer(total="27.95"))
    assert ledger.resolve_review(
        held, corrected.model_dump(mode="json"), example_key="CORNERHARDWARE",
        corrections=[{"field": "total", "was": "27.90", "value": "27.95"}],
        persist=lambda d, row: receipts.persist(d, row, corrected))

    done(ingest("screen.png", "screenshots"), shots,
         {"title": "Flight KUL-SIN", "summary": "Departs 08:10 from gate C3", "kind": "app"},
         "Flight KUL-SIN Departs 08:10")
    note, _ = ledger.enqueue("todos", idempotency_key="text:1", params={"text": "call Bob"})
    done(note, todos, {"todos": [{"title": "Call Bob", "source_quote": "call Bob"}]}, "call Bob")
    dead = ingest("broken.png", "screenshots")
    ledger.claim_job(dead, "t", 60)
    ledger.fail(dead, "t", "permanent", "unreadable", "truncated PNG")
    record_refusal(db, "inbox/evil.eps", 10, 1, "unsupported_type", "EPS is not read")
    fired, _ = record_fire(ledger, "daily_summary", "2026-11-20T18:00:00+00:00", "2026-11-20",
                           {"task": "summaries", "idempotency_key": "daily_summary:2026-11-20"})
    db["summaries"].insert({"id": "day:2026-11-20", "period": "day", "key": "2026-11-20",
                            "start": "2026-11-20", "end": "2026-11-21", "job_id": fired,
                            "data": "{}", "markdown": "# 20 November"})

    # Orphans: the tables had no keys, so nothing stopped these.
    lost_file, _ = ledger.enqueue("receipts", idempotency_key="lost", input_sha256="ff" * 32)
    db.execute("INSERT INTO results (job_id, task, version, data, evidence, created_at)"
               " VALUES ('01GONE', 'receipts', 1, '{\"merchant\": \"GHOST\"}', '{}', 'x')")
    db["expenses"].insert({"job_id": "01HANDTYPED", "merchant": "By hand", "total": "5.00",
                           "total_milli": 5000, "currency": "EUR", "category": "other"})
    db["todos"].insert({"job_id": "01DELETED", "title": "Orphan", "priority": "normal",
                        "source_quote": "orphan", "done": 0})
    return {("jobs", "input_sha256", "ff" * 32, "nulled"),
            ("results", "job_id", "01GONE", "nulled"),
            ("expenses", "job_id", "01HANDTYPED", "moved"),
            ("todos", "job_id", "01DELETED", "moved")}


def snapshot(db):
    """Every row of every ordinary table, keyed by its primary key (not the rowid: a table
    without an INTEGER PRIMARY KEY may get new rowids when it is rebuilt)."""
    out = {}
    for table in db.table_names():
        if "_fts" in table or table in ("_sqlite_migrations", "broken_references"):
            continue
        pks = db[table].pks
        out[table] = {tuple(r[k] for k in pks): r for r in db[table].rows}
    return out


def search(db, fts, word):
    return sorted(r[0] for r in db.execute(f"SELECT rowid FROM {fts} WHERE {fts} MATCH ?",
                                           [word]))


def test_upgrading_a_current_release_database_keeps_every_row_and_adds_the_keys(home, host):
    path = load_config().db_path
    db = previous_release(path, host)
    orphans = fill(db, host)
    before = snapshot(db)
    assert len(before["jobs"]) == 8 and len(before["expenses"]) == 4
    found = {w: search(db, "results_fts", w) for w in ("CORNER", "taxi", "GHOST", "Bob")}
    shot = search(db, "screenshots_fts", "gate")
    assert all(found.values()) and shot

    assert migrate(db, host.migrations()) == []

    # Every row survived as it was, but the orphans: a dangling reference that may be NULL is
    # NULL now, a row whose reference may not be NULL has moved; both are in broken_references.
    expected = {t: {k: dict(r) for k, r in rows.items()} for t, rows in before.items()}
    for table, column, value, action in orphans:
        [key] = [k for k, r in expected[table].items() if r[column] == value]
        if action == "moved":
            del expected[table][key]
        else:
            expected[table][key][column] = None
    assert snapshot(db) == expected
    side = list(db["broken_references"].rows)
    assert {(r["table_name"], r["column_name"], r["value"], r["action"]) for r in side} == orphans
    for r in side:
        row = json.loads(r["row"])
        assert row in [dict(x) for x in before[r["table_name"]].values()]

    assert {k: v for k, v in keys_of(db).items() if k in KEYS} == KEYS
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    # Indexes, triggers and the full-text indexes came through the rebuild.
    assert {w: search(db, "results_fts", w) for w in found} == found
    assert search(db, "screenshots_fts", "gate") == shot
    assert db.execute("SELECT COUNT(*) FROM sqlite_master WHERE name = 'idx_jobs_idempotency_key'"
                      ).fetchone()[0] == 1

    # A new connection, as the CLI or the daemon opens one: the keys are enforced.
    db2 = open_db(path)
    with pytest.raises(sqlite3.IntegrityError):
        db2.execute("INSERT INTO results (job_id, task, version, data) VALUES"
                    " ('01NOSUCHJOB', 'receipts', 1, '{}')")
    with pytest.raises(sqlite3.IntegrityError):
        db2["expenses"].insert({"job_id": "01NOSUCHJOB", "merchant": "X", "total": "1.00",
                                "currency": "EUR", "category": "other"})
    with pytest.raises(sqlite3.IntegrityError):      # RESTRICT: a job's answer is not lost
        db2.execute("DELETE FROM jobs WHERE id = ?", [expected["results"][(1,)]["job_id"]])
    [queued] = [j for j in expected["jobs"].values() if j["idempotency_key"] == "lost"]
    db2.execute("DELETE FROM jobs WHERE id = ?", [queued["id"]])          # CASCADE: its events
    assert db2.execute("SELECT COUNT(*) FROM job_events WHERE job_id = ?",
                       [queued["id"]]).fetchone()[0] == 0

    assert migrate(db2, host.migrations()) == []                         # applied once
    assert db2["broken_references"].count == len(orphans)


def test_a_failed_rebuild_rolls_back_whole(home, host):
    """The conversion runs in one transaction: a set that fails after rebuilding a table
    leaves the table as it was, without keys, its orphan still in place."""
    db = previous_release(load_config().db_path, host)
    migrate(db)                                  # the host's keys; plugins' sets still pending
    db["todos"].insert({"job_id": "01DELETED", "title": "Orphan", "priority": "normal",
                        "source_quote": "orphan", "done": 0})
    failing = Migrations("todos")
    failing._migrations = [m for m in next(s for s in host.migrations() if s.name == "todos")
                           ._migrations if m.name in NEW]

    @failing()
    def m999_breaks(db):
        raise RuntimeError("disk on fire")

    [error] = migrate(db, [failing])
    assert "disk on fire" in error
    assert keys_of(db).get(("todos", "job_id")) is None
    assert [r["job_id"] for r in db["todos"].rows] == ["01DELETED"]
    assert db["broken_references"].count == 0


def test_a_migration_that_leaves_a_broken_reference_is_refused(home, host):
    """Migrations run with the keys off; ``foreign_key_check`` before the commit catches a row
    they left pointing at nothing. A violation that was already there (a tool that ran with
    the keys off) does not stop the next set."""
    db = open_db(load_config().db_path)
    assert migrate(db, host.migrations()) == []
    raw = sqlite3.connect(load_config().db_path)          # keys off, as sqlite3's shell
    raw.execute("INSERT INTO results (job_id, task, version, data) VALUES ('old', 't', 1, '{}')")
    raw.commit()
    raw.close()

    bad = Migrations("bad")

    @bad()
    def m001_dangling(db):
        db.execute("INSERT INTO job_events (job_id, event) VALUES ('nobody', 'x')")

    good = Migrations("good")

    @good()
    def m001_fine(db):
        db["notes"].create({"id": int})

    [error] = migrate(db, [bad, good])
    assert "bad" in error and "missing" in error
    assert db["job_events"].count == 0
    assert db["notes"].exists()
