"""The host's own tables, as numbered sqlite-utils migrations; plugins add their own named sets.

Each migration says why it exists. Never edit an applied migration: add the next one.
"""

from __future__ import annotations

from typing import Iterable

import logging
import sqlite3

import sqlite_utils
from sqlite_utils.migrations import Migrations

from mustelid.faults import crash_point
from mustelid.store.db import immediate

log = logging.getLogger("mustelid.store")

core = Migrations("mustelid")


@core()
def m001_files(db: sqlite_utils.Database) -> None:
    # One row per distinct content (sha256): the archive is content-addressed, so the same bytes
    # dropped twice under two names are one file with two sightings.
    db["files"].create(
        {
            "sha256": str,
            "size": int,
            "mime": str,
            "archived_path": str,
            "original_name": str,
            "original_path": str,
            "first_seen": str,
        },
        pk="sha256",
    )
    # What the inbox scanner has already handled, keyed by path, so a rescan does not re-hash
    # unchanged files; also where refused (quarantined) files and their reasons are listed.
    db["inbox_files"].create(
        {
            "path": str,
            "size": int,
            "mtime_ns": int,
            "sha256": str,
            "state": str,          # ingested | refused | moved
            "reason": str,
            "message": str,
            "updated_at": str,
        },
        pk="path",
    )


@core()
def m002_jobs(db: sqlite_utils.Database) -> None:
    # The lease ledger. Sources only insert rows here; the supervisor claims them with a lease.
    # idempotency_key is UNIQUE: the same bytes + task + task version + model never run twice.
    db["jobs"].create(
        {
            "id": str,                 # ULID: sortable by creation time
            "task": str,
            "task_version": str,
            "input_sha256": str,
            "params": str,             # JSON
            "state": str,              # queued | running | done | dead | waiting
            "priority": int,
            "attempts": int,
            "max_attempts": int,
            "lease_owner": str,
            "lease_expires": float,    # epoch seconds
            "run_after": float,        # epoch seconds; retry backoff and waiting re-checks
            "idempotency_key": str,
            "reason": str,             # machine-readable code of the last failure
            "last_error": str,
            "model_id": str,
            "prompt_tokens": int,
            "completion_tokens": int,
            "created_at": str,
            "updated_at": str,
            "started_at": str,
            "finished_at": str,
            "duration_s": float,
        },
        pk="id",
        defaults={"state": "queued", "priority": 0, "attempts": 0, "params": "{}"},
        not_null={"task", "state", "idempotency_key"},
    )
    db["jobs"].create_index(["idempotency_key"], unique=True)
    db["jobs"].create_index(["state", "run_after"])
    db["jobs"].create_index(["input_sha256"])
    # History of every transition: `mustelid show` prints it, and the reliability suite counts
    # re-executions from it.
    db["job_events"].create(
        {"id": int, "job_id": str, "event": str, "at": str, "detail": str},
        pk="id",
    )
    db["job_events"].create_index(["job_id"])


@core()
def m003_results(db: sqlite_utils.Database) -> None:
    # Validated output of every done job, whatever the task; each task also keeps its own table.
    # `version` lets a reprocess add a newer result without destroying the old one.
    db["results"].create(
        {
            "id": int,
            "job_id": str,
            "task": str,
            "input_sha256": str,
            "version": int,
            "data": str,       # validated JSON
            "evidence": str,   # JSON: OCR lines, boxes, provenance
            "model_id": str,
            "created_at": str,
        },
        pk="id",
    )
    db["results"].create_index(["job_id"], unique=True)
    db["results"].create_index(["task", "input_sha256"])


@core()
def m004_daemon_state(db: sqlite_utils.Database) -> None:
    # Small key/value facts the daemon publishes for `mustelid status` (pid, heartbeat, model
    # tier, memory), so the CLI can report without talking to the daemon.
    db["daemon_state"].create({"key": str, "value": str, "updated_at": str}, pk="key")


@core()
def m005_schedule_state(db: sqlite_utils.Database) -> None:
    # Where each schedule stands, in our own table rather than an APScheduler job store (those
    # pickle callables and hold SQLite locks; NOTES.md). `cursor` is the instant up to which
    # fire times are settled: a fire in (cursor, now] is due, so a restart after downtime catches
    # up exactly once. The ledger's idempotency key, not this row, is what makes a fire harmless
    # to repeat; this row only remembers what was last done (for catch-up and `mustelid schedules`).
    db["schedule_state"].create(
        {
            "name": str,
            "cursor": str,         # ISO instant with offset
            "armed_at": str,       # when the daemon first saw this schedule
            "last_fire": str,      # the scheduled instant last fired (not when we noticed)
            "last_key": str,       # its period key, e.g. 2026-11-22 or 2026-W47
            "last_job_id": str,
            "updated_at": str,
        },
        pk="name",
    )


# The searchable text of one result: the string values of its JSON. Not the JSON text itself:
# results.data is written with ensure_ascii, so "café" is stored as "caf\u00e9" and would never
# match, and its keys ("total", "name") would match every row. A row that is somehow not JSON is
# indexed as it is: a trigger must never make a result's commit fail.
_RESULT_TEXT = (
    "CASE WHEN json_valid({d}) THEN (SELECT group_concat(value, ' ') FROM json_tree({d})"
    " WHERE type = 'text') ELSE {d} END"
)


@core()
def m006_results_search(db: sqlite_utils.Database) -> None:
    # `mustelid search`: full-text search over every task's stored results. An FTS5 table kept
    # in step with `results` by triggers, so results stored before this migration (indexed by
    # the INSERT below) and after it are found alike. porter + remove_diacritics: "receipt"
    # finds "receipts", "cafe" finds "café".
    db.execute(
        "CREATE VIRTUAL TABLE results_fts USING fts5(text,"
        " tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    new = _RESULT_TEXT.format(d="new.data")
    db.execute(
        "CREATE TRIGGER results_fts_insert AFTER INSERT ON results BEGIN"
        f" INSERT INTO results_fts (rowid, text) VALUES (new.id, {new}); END"
    )
    db.execute(
        "CREATE TRIGGER results_fts_delete AFTER DELETE ON results BEGIN"
        " DELETE FROM results_fts WHERE rowid = old.id; END"
    )
    db.execute(
        "CREATE TRIGGER results_fts_update AFTER UPDATE OF data ON results BEGIN"
        " DELETE FROM results_fts WHERE rowid = old.id;"
        f" INSERT INTO results_fts (rowid, text) VALUES (new.id, {new}); END"
    )
    db.execute(
        "INSERT INTO results_fts (rowid, text) SELECT id, "
        + _RESULT_TEXT.format(d="results.data") + " FROM results"
    )


@core()
def m007_review_and_versions(db: sqlite_utils.Database) -> None:
    # needs_review: an answer that is well-formed but fails the task's checks after the re-ask
    # waits for a person instead of dying. One row per held job keeps what the model said (raw
    # text and parsed fields), the problems and the evidence, so nothing is lost and a person
    # can accept or correct it (`mustelid review`).
    db["reviews"].create(
        {
            "job_id": str,
            "task": str,
            "problems": str,       # JSON list
            "raw": str,            # the model's last reply, verbatim
            "data": str,           # JSON: that reply, parsed and schema-valid
            "evidence": str,       # JSON: what prepare found
            "stats": str,          # JSON
            "created_at": str,
            "resolved_at": str,
            "resolution": str,     # accepted | corrected | rejected
        },
        pk="job_id",
    )
    # A person's corrections, one row per changed field; `example_key` (e.g. the merchant)
    # lets the task show a corrected example to the model for later inputs of the same kind.
    db["corrections"].create(
        {
            "id": int,
            "job_id": str,
            "task": str,
            "example_key": str,
            "field": str,
            "model_value": str,    # JSON
            "value": str,          # JSON
            "created_at": str,
        },
        pk="id",
    )
    db["corrections"].create_index(["task", "example_key"])
    # Reprocess: the idempotency key is sha256+task+version+model, so re-running the same input
    # with the same versions needs a new job on purpose. `reprocess_of` links it to the job whose
    # result it supersedes; its key carries a counter, so each key still has at most one result.
    db["jobs"].add_column("reprocess_of", str)


@core()
def m008_results_filed_as(db: sqlite_utils.Database) -> None:
    # A dispatching task files its answer as another task's (the inbox router, task `auto`,
    # hands a receipt to `receipts`): `filed_as` names that task, so `mustelid search --task
    # receipts` finds it without the store reading any task's result JSON. NULL means the job's
    # own task, which is what every row stored before this migration was filed as, except the
    # dispatchers' own: a dispatching plugin fills in its older rows with a migration of its own.
    db["results"].add_column("filed_as", str)


# The text of the input a result was read from, out of its evidence: `source_text`, which the
# host stores from the task's `Evidence.text` (the OCR text of an image, the lines of a note);
# for rows stored before the host did, the OCR `lines` the tasks keep (strings or {"text"}
# objects), at the top or under a dispatcher's `task_evidence`. NULL when there is none.
_LINES_TEXT = (
    "(SELECT group_concat(CASE type WHEN 'object' THEN json_extract(value, '$.text')"
    " WHEN 'text' THEN value END, char(10)) FROM json_each({e}, '{path}'))"
)
_SOURCE_TEXT = (
    "CASE WHEN json_valid({e}) THEN COALESCE(json_extract({e}, '$.source_text'), "
    + _LINES_TEXT.replace("{path}", "$.lines") + ", "
    + _LINES_TEXT.replace("{path}", "$.task_evidence.lines") + ") END"
)


@core()
def m009_search_input_text(db: sqlite_utils.Database) -> None:
    # `mustelid search` found only the answers: a word on the receipt or screenshot that the
    # answer left out ("taxi", an error code) gave no hit although its OCR text was stored in
    # the evidence. The index gets a second column, `source`, the input's text; `answer` is
    # what m006 indexed. FTS5 cannot add a column, so the table and its triggers are made
    # again and every stored result is indexed anew (the backfill).
    for trigger in ("insert", "delete", "update"):
        db.execute(f"DROP TRIGGER IF EXISTS results_fts_{trigger}")
    db.execute("DROP TABLE IF EXISTS results_fts")
    db.execute(
        "CREATE VIRTUAL TABLE results_fts USING fts5(answer, source,"
        " tokenize = 'porter unicode61 remove_diacritics 2')"
    )

    def row(r: str) -> str:
        return (f"{r}.id, " + _RESULT_TEXT.format(d=f"{r}.data") + ", "
                + _SOURCE_TEXT.format(e=f"{r}.evidence"))

    db.execute(
        "CREATE TRIGGER results_fts_insert AFTER INSERT ON results BEGIN"
        f" INSERT INTO results_fts (rowid, answer, source) VALUES ({row('new')}); END"
    )
    db.execute(
        "CREATE TRIGGER results_fts_delete AFTER DELETE ON results BEGIN"
        " DELETE FROM results_fts WHERE rowid = old.id; END"
    )
    db.execute(
        "CREATE TRIGGER results_fts_update AFTER UPDATE OF data, evidence ON results BEGIN"
        " DELETE FROM results_fts WHERE rowid = old.id;"
        f" INSERT INTO results_fts (rowid, answer, source) VALUES ({row('new')}); END"
    )
    db.execute(f"INSERT INTO results_fts (rowid, answer, source) SELECT {row('results')}"
               " FROM results")


@core()
def m010_foreign_keys(db: sqlite_utils.Database) -> None:
    # Nothing tied results, jobs and files together: a result could name a job that does not
    # exist and datasette showed no links. Each table is rebuilt with its keys (keys.py); a
    # row pointing at nothing is set aside in `broken_references`, never dropped. Task tables
    # get theirs in their plugins' migrations.
    # ON DELETE: RESTRICT everywhere a row is something a person filed or decided (a result,
    # a review, a correction, a job's input): deleting a job or a file must not silently take
    # an answer with it. Nothing in mustelid deletes jobs, results or files (the archive keeps
    # everything; only inbox_files refusals are deleted, and nothing references those), so
    # RESTRICT stops only a hand edit. A job's events are its history and nothing else:
    # CASCADE. A schedule's last job is a memo: SET NULL.
    from mustelid.store.keys import add_foreign_keys

    add_foreign_keys(db, "jobs", {"input_sha256": "files.sha256", "reprocess_of": "jobs.id"})
    add_foreign_keys(db, "job_events", {"job_id": "jobs.id"}, on_delete={"job_id": "CASCADE"})
    add_foreign_keys(db, "results", {"job_id": "jobs.id", "input_sha256": "files.sha256"})
    add_foreign_keys(db, "reviews", {"job_id": "jobs.id"})
    add_foreign_keys(db, "corrections", {"job_id": "jobs.id"})
    add_foreign_keys(db, "inbox_files", {"sha256": "files.sha256"})
    add_foreign_keys(db, "schedule_state", {"last_job_id": "jobs.id"},
                     on_delete={"last_job_id": "SET NULL"})


def migrate(db: sqlite_utils.Database, extra: Iterable[Migrations] = ()) -> list[str]:
    """Apply the host's migrations, then every plugin's set, each at most once.

    Each set runs inside BEGIN IMMEDIATE (sqlite-utils nests its per-migration transactions as
    savepoints): the daemon and a CLI command starting together on a new database would
    otherwise both upgrade deferred transactions and one would fail with "database is locked".
    A plugin's set that fails is rolled back and reported; it never blocks the host's tables.
    Returns the errors, one line per failed set.
    """
    errors = []
    for migrations in [core, *extra]:
        if not _has_pending(db, migrations):
            continue
        # Keys off while a set runs, as SQLite's table rebuild needs (keys.add_foreign_keys):
        # the pragma is a no-op inside a transaction, so it is set around it.
        db.execute("PRAGMA foreign_keys = OFF")
        try:
            with immediate(db):
                broken = _key_violations(db)
                migrations.apply(db)
                _refuse_new_violations(db, broken)
                crash_point("migration_uncommitted")  # applied inside the open transaction
            crash_point("between_migrations")         # this set committed, the next not begun
        except Exception as e:
            if migrations is core:
                raise
            errors.append(f"migrations {migrations.name!r} failed: {type(e).__name__}: {e}")
            log.warning(errors[-1])
        finally:
            db.execute("PRAGMA foreign_keys = ON")
    return errors


def _key_violations(db: sqlite_utils.Database) -> set[tuple]:
    return {tuple(r) for r in db.execute("PRAGMA foreign_key_check").fetchall()}


def _refuse_new_violations(db: sqlite_utils.Database, before: set[tuple]) -> None:
    """With the keys off, a migration could leave a row pointing at nothing: roll it back.
    Only what the set broke counts; a violation already there (written by a tool that ran with
    keys off) must not stop the daemon from starting."""
    new = _key_violations(db) - before
    if new:
        table, rowid, parent, _ = min(new, key=str)
        raise sqlite3.IntegrityError(
            f"{len(new)} row(s) would name a missing row, e.g. {table} rowid {rowid} -> {parent}")


def _has_pending(db: sqlite_utils.Database, migrations: Migrations) -> bool:
    try:
        return bool(migrations.pending(db))
    except sqlite3.OperationalError:
        return True
