"""Bad model output: rejected with a reason, re-asked once, then dead; never stored; daemon up.

The fake backend (tests/plugins/fakeplugin.py) answers according to the file's first word and
logs every generate() call, so the number of generations per job (the re-ask) is counted from
the outside. The daemon, the worker process, the pipe and the SQLite file are real.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from daemonproc import DaemonProcess, cli_json, job_states, wait_for
from invariants import assert_invariants, query, watch_outside


@pytest.fixture
def outside(fake_home, tmp_path, monkeypatch):
    return watch_outside(fake_home, tmp_path, monkeypatch)


# first word -> (final state, reason, generations): one re-ask for anything rejected, none for a
# truncation (the same budget would truncate again), and one job attempt: these are permanent.
CASES = {
    "BADJSON": ("dead", "invalid_json", 2),
    "TRUNCATE": ("dead", "truncated_output", 1),
    "NAN": ("dead", "non_finite_number", 2),
    "INF": ("dead", "non_finite_number", 2),
    "HUGE": ("dead", "schema_violation", 2),
    "WRONGTYPE": ("dead", "schema_violation", 2),
    "BADONCE": ("done", None, 2),
    "fine": ("done", None, 1),
}


def generations(home: Path) -> Counter:
    log = home / "fake-generations.log"
    return Counter(log.read_text().split()) if log.exists() else Counter()


def drop_all(home: Path, words) -> list[Path]:
    inbox = home / "inbox"
    inbox.mkdir(exist_ok=True)
    paths = []
    for word in words:
        p = inbox / f"{word.lower()}.txt"
        p.write_text(f"{word} the model answers badly")
        paths.append(p)
    return paths


def settled(n: int):
    def check():
        jobs = cli_json("jobs", "-n", "100")
        return len(jobs) == n and all(j["state"] in ("done", "dead") for j in jobs) and jobs
    return check


def test_bad_output_is_rejected_with_reasons_and_bounded_retries(fake_home, outside):
    dropped = drop_all(fake_home, CASES)
    d = DaemonProcess(fake_home)
    try:
        jobs = wait_for(settled(len(CASES)), timeout=180, what="every job to settle",
                        explain=lambda: (job_states(), d.output()[-3000:]))
        by_word = {j["file"].split(".")[0].upper(): j for j in jobs}
        gens = generations(fake_home)
        for word, (state, reason, n_gen) in CASES.items():
            job = by_word[word.upper()]
            assert (job["state"], job["reason"], job["attempts"]) == (state, reason, 1), job
            assert gens[word] == n_gen, (word, gens)
        huge = cli_json("show", by_word["HUGE"]["id"])
        assert len(huge["job"]["last_error"]) <= 2000          # 5 MB of output, bounded error
        counts = assert_invariants(fake_home, dropped=dropped, daemon=d, outside=outside)
        assert counts["results"] == 2                         # BADONCE and fine, nothing else
        print(f"\nbad output: {len(CASES)} kinds, generations {dict(gens)}, "
              f"reasons {sorted({j['reason'] or 'done' for j in jobs})}, daemon pid unchanged")
    finally:
        d.stop()


def test_parse_output_rejects_deep_nesting_and_deep_non_finite_numbers():
    from typing import Any

    from pydantic import BaseModel

    from mustelid.tasks import Generation, PermanentError, parse_output

    class Anything(BaseModel):
        x: Any

    def reason(text: str) -> str | None:
        try:
            parse_output(Anything, Generation(text, "stop"))
        except PermanentError as e:
            return e.reason
        return None

    assert reason("[" * 100_000 + "]" * 100_000) == "invalid_json"
    # as deep as json.loads accepts: an inf at the bottom is still found, no RecursionError
    assert reason('{"x": ' + "[" * 900 + "1e999" + "]" * 900 + "}") == "non_finite_number"
    assert reason('{"x": ' + "[" * 900 + "1" + "]" * 900 + "}") is None


def test_deeply_nested_output_is_invalid_json_not_a_plugin_bug(fake_home):
    drop_all(fake_home, ["DEEPJSON"])
    d = DaemonProcess(fake_home)
    try:
        job = wait_for(settled(1), timeout=60, what="the job to settle")[0]
        assert d.alive()
        assert (job["state"], job["reason"], job["attempts"]) == ("dead", "invalid_json", 1), job
        assert generations(fake_home)["DEEPJSON"] == 2
    finally:
        d.stop()


def test_a_persist_that_raises_fails_the_job_not_the_daemon(fake_home):
    dropped = drop_all(fake_home, ["PERSISTFAIL", "fine"])
    d = DaemonProcess(fake_home)
    try:
        wait_for(lambda: not d.alive() or settled(2)(), timeout=60, what="jobs to settle")
        assert d.alive(), "the daemon died: " + d.output()[-1500:]
        jobs = {j["file"]: j for j in cli_json("jobs")}
        assert jobs["persistfail.txt"]["state"] == "dead"
        assert jobs["persistfail.txt"]["reason"] == "persist_failed"
        assert jobs["persistfail.txt"]["attempts"] == 4          # bounded: max_attempts, then dead
        assert "ValueError: a bug in a plugin's persist" in cli_json(
            "show", jobs["persistfail.txt"]["id"])["job"]["last_error"]
        assert jobs["fine.txt"]["state"] == "done"
        assert query(fake_home, "SELECT COUNT(*) FROM results") == [(1,)]
        assert_invariants(fake_home, dropped=dropped, daemon=d)
    finally:
        d.stop()


def test_a_persist_error_is_the_plugins_fault_unless_the_disk_or_lock_is():
    import sqlite3

    from mustelid.commit import PersistFailed, persist

    class Task:
        def __init__(self, exc):
            self.exc = exc

        def persist(self, db, row, result):
            raise self.exc

    for exc in (ValueError("bug"), sqlite3.OperationalError("no such table: echoes"),
                sqlite3.IntegrityError("UNIQUE constraint failed")):
        if isinstance(exc, sqlite3.Error):
            exc.sqlite_errorcode = 1 if isinstance(exc, sqlite3.OperationalError) else 2067
        with pytest.raises(PersistFailed, match=type(exc).__name__):
            persist(Task(exc), None, {}, None)
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13                           # SQLITE_FULL: pause, keep the reply
    with pytest.raises(sqlite3.OperationalError):
        persist(Task(full), None, {}, None)


def test_control_and_bidi_characters_written_as_json_escapes_are_stripped():
    """A model can write ESC or RLO through \\u escapes; no answer carries them (issue 13)."""
    from pydantic import BaseModel

    from mustelid import Generation
    from mustelid.tasks import parse_output

    class Out(BaseModel):
        title: str
        tags: list[str]

    text = ('{"title": "pay \\u001b]52;c;ZWNobyBoaQ==\\u0007rent\\u202e", '
            '"tags": ["a\\u009b2Jb", "tab\\tand\\nnewline stay"]}')
    out = parse_output(Out, Generation(text, "stop"))
    assert out.title == "pay ]52;c;ZWNobyBoaQ==rent"
    assert out.tags == ["a2Jb", "tab\tand\nnewline stay"]
