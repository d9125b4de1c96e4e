"""One CLI grammar (issue 15): every listing takes --json, --csv, -n and --since/--until; job IDs
are shown as their shortest unique prefix and accepted as one everywhere; `jobs` shows the task
the router chose; `review --set` corrects a router job's chosen-task fields."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from parents import add_file
from test_review import UNPRINTED, cli, held_job

from mustelid.commit import commit
from mustelid.config import load_config
from mustelid.home import open_store
from mustelid.host import Host
from mustelid.store.jobs import AmbiguousJob, UnknownJob
from test_receipts import prepared

LISTINGS = [["jobs"], ["files"], ["search", "x"], ["review"], ["expenses"], ["todos"],
            ["screenshots"], ["schedules"]]


@pytest.mark.parametrize("command", LISTINGS, ids=lambda c: c[0])
def test_every_listing_takes_the_same_options(home, command):
    help_text = cli(*command, "--help").output
    for option in ("--json", "--csv", "--limit", "--since", "--until"):
        assert option in help_text, (command, option)
    assert "-n," in help_text
    both = cli(*command, "--json", "--csv")
    assert both.exit_code != 0 and "not both" in both.output
    bad = cli(*command, "--since", "yesterday")
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output
    ok = cli(*command, "--csv", "--since", "2000-01-01", "--until", "2999-12-31")
    assert ok.exit_code == 0, ok.output


def store():
    cfg = load_config()
    host = Host(cfg.plugins_path)
    return host, *open_store(cfg, host)


def test_short_unique_prefixes_and_prefix_resolution(home):
    host, db, ledger = store()
    ids = [ledger.enqueue("receipts", idempotency_key=f"k{i}",
                          input_sha256=add_file(db, f"{i:02d}" * 32))[0] for i in range(3)]
    short = ledger.short_ids(ids, 8)
    for job_id in ids:
        s = short[job_id]
        assert len(s) >= 8 and job_id.startswith(s)
        assert [i for i in ids if i.startswith(s)] == [job_id]     # unique
        assert ledger.resolve(s.lower())["id"] == job_id
    # ULIDs made within the same moment share their time part: that prefix is ambiguous.
    common = os.path.commonprefix(ids)
    assert len(common) >= 6
    with pytest.raises(AmbiguousJob, match="ambiguous"):
        ledger.resolve(common)
    out = cli("show", common)
    assert out.exit_code == 1 and "ambiguous" in out.output
    assert len(out.output.strip().splitlines()) == 1
    with pytest.raises(UnknownJob):
        ledger.resolve("ZZZZZZZZ")
    out = cli("retry", "ZZZZZZZZ")
    assert out.exit_code == 1 and "no job 'ZZZZZZZZ'" in out.output

    # The table (piped: TSV) shows the short prefixes whole, JSON and CSV the full IDs.
    table = cli("jobs").output.splitlines()
    assert sorted(line.split("\t")[0] for line in table[1:]) == sorted(short.values())
    assert {j["id"] for j in json.loads(cli("jobs", "--json").output)} == set(ids)
    rows = list(csv.DictReader(io.StringIO(cli("jobs", "--csv").output)))
    assert {r["id"] for r in rows} == set(ids)
    shown = cli("show", short[ids[0]], "--json")
    assert json.loads(shown.output)["job"]["id"] == ids[0]


def test_jobs_limit_and_date_window(home):
    host, db, ledger = store()
    for i in range(3):
        ledger.enqueue("receipts", idempotency_key=f"k{i}",
                       input_sha256=add_file(db, f"{i:02d}" * 32))
    assert len(json.loads(cli("jobs", "-n", "2", "--json").output)) == 2
    assert len(json.loads(cli("jobs", "--since", "2000-01-01", "--json").output)) == 3
    assert json.loads(cli("jobs", "--until", "2000-01-01", "--json").output) == []
    assert json.loads(cli("jobs", "--since", "2999-01-01", "--json").output) == []


def test_csv_is_valid_and_escapes_control_characters(home):
    host, db, ledger = store()
    db["inbox_files"].insert({"path": 'evil\x1b[31m,"name".jpg', "state": "refused",
                              "reason": "unsupported_type", "message": "line1\nline2",
                              "updated_at": "2026-01-01T00:00:00.000+00:00"}, alter=True)
    out = cli("files", "--csv").output
    assert "\x1b" not in out
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["path"] == 'evil\\x1b[31m,"name".jpg' and row["message"] == "line1\\nline2"
    assert cli("files", "--csv", "--since", "2026-01-02").output.count("\n") == 1   # header


ROUTED = {"kind": "receipts", "name": "record_receipt", "task": "receipts",
          "arguments": {**UNPRINTED, "provenance": None}}


def held_router_job(home):
    host, db, ledger = store()
    job_id, _ = ledger.enqueue("auto", idempotency_key="r1",
                               input_sha256=add_file(db, "cd" * 32))
    row = ledger.claim("daemon", 60)
    reply = {"ok": False, "kind": "review", "reason": "check_failed", "message": "total ...",
             "review": {"data": ROUTED, "raw": json.dumps(ROUTED),
                        "problems": ["total 31.00 does not appear among the amounts printed"],
                        "evidence": prepared().data, "stats": {"duration_s": 1.0}}}
    assert commit(ledger, host.task("auto"), row, reply).state == "needs_review"
    return db, ledger, job_id


def test_jobs_shows_the_routers_choice_and_review_sets_its_fields(home):
    db, ledger, job_id = held_router_job(home)
    [listed] = json.loads(cli("jobs", "--json").output)
    assert (listed["task"], listed["chosen_task"]) == ("auto", "receipts")
    assert "auto\u2192receipts" in cli("jobs").output

    preview = cli("review", job_id, "--set", "date=2026-03-01", "--set", "total=27.90", "--json")
    assert preview.exit_code == 0, preview.output
    assert {c["field"] for c in json.loads(preview.output)["changes"]} == {"date", "total"}
    unknown = cli("review", job_id, "--set", "colour=red")
    assert unknown.exit_code != 0 and "not a field" in unknown.output and "total" in unknown.output
    done = cli("review", job_id[:12], "--set", "total=27.90", "--accept")
    assert done.exit_code == 0, done.output
    assert json.loads(ledger.result(job_id)["data"])["arguments"]["total"] == "27.90"
    [filed] = json.loads(cli("jobs", "--json").output)
    assert filed["chosen_task"] == "receipts" and filed["state"] == "done"


def test_review_list_takes_the_grammar(home):
    db, ledger, job_id = held_job(home)
    rows = list(csv.DictReader(io.StringIO(cli("review", "--csv").output)))
    assert [r["job_id"] for r in rows] == [job_id]
    assert json.loads(cli("review", "--since", "2999-01-01", "--json").output) == []


def test_schedules_takes_the_grammar(home):
    """Two schedules, one fired (a missed fire caught up): -n, --csv and --since/--until on the
    last fire, which is stored in local time and compared as an instant."""
    import datetime as dt

    from mustelid.scheduler import Scheduler

    (home / "config.toml").write_text(
        '[schedules.daily]\ntask = "summaries"\ncron = "0 18 * * *"\n'
        'params = { period = "day" }\n'
        '[schedules.weekly]\ntask = "summaries"\ncron = "0 18 * * 0"\n'
        'params = { period = "week" }\n')
    host, db, ledger = store()
    cfg = load_config()
    now = dt.datetime.now().astimezone()
    Scheduler.build(cfg, host, ledger, clock=lambda: now - dt.timedelta(days=2)).tick()
    Scheduler.build(cfg, host, ledger).tick()     # daily catches up its missed fire

    everything = json.loads(cli("schedules", "--json").output)
    assert {r["name"] for r in everything} == {"daily", "weekly"}
    fired = {r["name"] for r in everything if r["last_fire"]}
    assert "daily" in fired
    assert len(json.loads(cli("schedules", "-n", "1", "--json").output)) == 1
    rows = list(csv.DictReader(io.StringIO(cli("schedules", "--csv").output)))
    assert {r["name"] for r in rows} == {"daily", "weekly"}
    daily = next(r for r in rows if r["name"] == "daily")
    assert daily["last_job_id"] and daily["last_state"] == "queued"
    since = (now - dt.timedelta(days=3)).date().isoformat()
    recent = json.loads(cli("schedules", "--since", since, "--json").output)
    assert {r["name"] for r in recent} == fired
    assert json.loads(cli("schedules", "--until", "2000-01-01", "--json").output) == []
