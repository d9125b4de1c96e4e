"""The summaries task: totals equal SQL's, todos and screenshots, Markdown in the outbox, the
`mustelid summary` command, and the real daemon firing a schedule once per period."""

import datetime as dt
import json
import random
import time
from decimal import Decimal

import pytest
from click.testing import CliRunner
from daemonproc import DaemonProcess, cli, cli_json, wait_for
from parents import add_parents

from mustelid import JobInput
from mustelid.execute import run_job
from mustelid.host import Host
from mustelid.home import open_store
from mustelid.scheduler import run_now
from mustelid.worker import WorkerContext

DAY = {"period": "day", "date": "2026-03-10"}        # a Tuesday, long past: "today" is irrelevant
WEEK = {"period": "week", "date": "2026-03-10"}      # Monday 9th to Sunday 15th


@pytest.fixture
def utc(monkeypatch):
    """Local time = UTC, so the test's own day arithmetic matches the task's on any machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def store(home, utc, monkeypatch):
    monkeypatch.setenv("MUSTELID_LOAD_PLUGINS", "receipts,summaries")
    from mustelid.config import load_config

    cfg = load_config()
    host = Host(cfg.plugins_path)
    db, ledger = open_store(cfg, host)
    return cfg, host, db, ledger


def expense(date, total, currency="MYR", category="groceries", merchant="Tesco", created=None):
    return {"job_id": f"job-{random.random()}", "merchant": merchant, "date": date,
            "total": total, "currency": currency, "category": category,
            "created": created or f"{date}T12:00:00+00:00"}


@pytest.fixture
def seeded(store):
    cfg, host, db, ledger = store
    rng = random.Random(7)
    rows = [
        expense("2026-03-10", "12.30"),
        expense("2026-03-10", "7.70", merchant="TESCO "),           # same merchant, OCR'd louder
        expense("2026-03-10", "100.00", category="dining", merchant="Nando's"),
        expense("2026-03-10", "3.333", currency="KWD", category="other", merchant="Kiosk"),
        expense(None, "5.05", category="fuel", merchant="Shell",
                created="2026-03-10T09:00:00+00:00"),              # undated: the day recorded
        expense(None, "9.99", created="2026-03-11T09:00:00+00:00"),
        expense("2026-03-09", "1.00"),
        expense("2026-03-16", "50.00"),                              # next week
        expense("2026-03-08", "0.10"),                               # last week
    ]
    for _ in range(300):   # enough 2-decimal amounts that float summing would drift
        day = f"2026-03-{rng.randint(8, 16):02d}"
        rows.append(expense(day, f"{rng.randint(0, 99999) / 100:.2f}",
                            currency=rng.choice(["MYR", "EUR"]),
                            category=rng.choice(["groceries", "dining", "fuel", "travel"]),
                            merchant=rng.choice(["Aeon", "AEON", "Shell", "7-Eleven", "Grab"])))
    db["expenses"].insert_all(add_parents(db, rows, "receipts"))
    db["todos"].insert_all(add_parents(db, [
        {"id": 1, "job_id": "a", "title": "Call the *plumber*", "due": "2026-03-12",
         "priority": "high", "source_quote": "", "done": 0, "created": "2026-03-10T08:00:00+00:00"},
        {"id": 2, "job_id": "b", "title": "Renew passport", "due": "2026-03-05", "priority": None,
         "source_quote": "", "done": 0, "created": "2026-03-01T08:00:00+00:00"},
        {"id": 3, "job_id": "c", "title": "Done already", "due": "2026-03-05", "priority": None,
         "source_quote": "", "done": 1, "created": "2026-03-01T08:00:00+00:00"},
        {"id": 4, "job_id": "d", "title": "Due on the day", "due": "2026-03-10T17:00",
         "priority": 2, "source_quote": "", "done": 0, "created": "2026-03-02T08:00:00+00:00"},
        {"id": 5, "job_id": "e", "title": "Later", "due": "2026-03-20", "priority": None,
         "source_quote": "", "done": 0, "created": "2026-03-09T08:00:00+00:00"},
        {"id": 6, "job_id": "f", "title": "Someday", "due": None, "priority": None,
         "source_quote": "", "done": 0, "created": "2026-03-02T08:00:00+00:00"},
    ], "todos"), pk="id")
    db["screenshots"].insert_all(add_parents(db, [
        {"id": 1, "job_id": "s1", "kind": "booking", "title": "Flight | KUL-SIN",
         "summary": "Departs 08:10\n# not a heading", "created": "2026-03-10T10:00:00+00:00"},
        {"id": 2, "job_id": "s2", "kind": "chat", "title": "Group chat",
         "summary": "Lunch plans", "created": "2026-03-12T10:00:00+00:00"},
    ], "screenshots"), pk="id")
    return store


def sql_totals(db, start, end):
    """The period's totals per currency, in thousandths, computed by SQLite alone."""
    rows = db.execute(
        "SELECT currency, SUM(CAST(ROUND(CAST(total AS REAL) * 1000) AS INTEGER)), COUNT(*)"
        " FROM expenses WHERE (date >= ? AND date < ?)"
        " OR (date IS NULL AND substr(created, 1, 10) >= ? AND substr(created, 1, 10) < ?)"
        " GROUP BY currency", [start, end, start, end]).fetchall()
    return {cur: (milli, n) for cur, milli, n in rows}


def summary_row(db, period_id):
    row = db["summaries"].get(period_id)
    return row, json.loads(row["data"])


@pytest.mark.parametrize("params, period_id, start, end", [
    (DAY, "day:2026-03-10", "2026-03-10", "2026-03-11"),
    (WEEK, "week:2026-W11", "2026-03-09", "2026-03-16"),
])
def test_totals_equal_the_sql_sum_of_the_periods_expenses(seeded, params, period_id, start, end):
    cfg, host, db, ledger = seeded
    job = run_now(cfg, host, ledger, "summaries", params)
    assert job["state"] == "done", job
    _, data = summary_row(db, period_id)
    expected = sql_totals(db, start, end)
    got = {c["currency"]: (int(Decimal(c["total"]) * 1000), c["count"]) for c in data["spending"]}
    assert got == expected and len(got) >= 2
    for c in data["spending"]:
        for split in ("by_category", "by_merchant"):
            assert sum(Decimal(x["total"]) for x in c[split]) == Decimal(c["total"])


def test_day_summary_groups_merchants_and_lists_todos_and_screenshots(seeded):
    cfg, host, db, ledger = seeded
    run_now(cfg, host, ledger, "summaries", DAY)
    row, data = summary_row(db, "day:2026-03-10")
    myr = next(c for c in data["spending"] if c["currency"] == "MYR")
    tesco = [m for m in myr["by_merchant"] if m["name"].casefold() == "tesco"]
    assert len(tesco) == 1 and tesco[0]["count"] >= 2          # "Tesco" and "TESCO " are one
    assert "fuel" in {c["name"] for c in myr["by_category"]}   # the undated Shell expense
    assert [t["id"] for t in data["new_todos"]] == [1]
    assert sorted(t["id"] for t in data["overdue_todos"]) == [2, 4]   # due by end of the day
    assert [s["title"] for s in data["screenshots"]] == ["Flight | KUL-SIN"]
    md = row["markdown"]
    assert md.startswith("# Daily summary: Tuesday 10 March 2026")
    assert "Call the \\*plumber\\* (due 2026-03-12, priority high)" in md
    assert "Flight \\| KUL-SIN" in md and "\n# not" not in md       # untrusted text stays inert
    assert f"**MYR {myr['total']}**" in md


def test_overdue_means_before_today_while_the_period_runs(seeded):
    cfg, host, db, ledger = seeded

    class At(WorkerContext):
        def now(self):
            return dt.datetime(2026, 3, 10, 12, tzinfo=dt.timezone.utc)

    out = run_job(host.task("summaries"),
                  JobInput(id="j", task="summaries", params={"period": "day"}), At(cfg, host))
    assert out["data"]["key"] == "2026-03-10"                 # no date: the current period
    assert [t["id"] for t in out["data"]["overdue_todos"]] == [2]   # due today is not overdue


def test_markdown_is_written_atomically_to_the_outbox_once_per_period(seeded):
    cfg, host, db, ledger = seeded
    first = run_now(cfg, host, ledger, "summaries", DAY)
    db["expenses"].insert(add_parents(db, [expense("2026-03-10", "1.11",
                                                   merchant="Late receipt")], "receipts")[0])
    second = run_now(cfg, host, ledger, "summaries", DAY)      # recomputed: replaces
    row, _ = summary_row(db, "day:2026-03-10")
    assert row["job_id"] == second["id"] != first["id"]
    assert db["summaries"].count == 1
    path = cfg.outbox_dir / "summaries" / "day-2026-03-10.md"
    assert row["path"] == str(path)
    assert path.read_text(encoding="utf-8") == row["markdown"] and "Late receipt" in row["markdown"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["day-2026-03-10.md"]   # no temp
    assert not str(path).startswith(str(cfg.inbox_dir))


def test_an_unwritable_outbox_still_commits_the_summary(seeded):
    cfg, host, db, ledger = seeded
    cfg.outbox_dir.mkdir(parents=True)
    (cfg.outbox_dir / "summaries").write_text("a file where the folder should be")
    job = run_now(cfg, host, ledger, "summaries", DAY)
    assert job["state"] == "done"
    row, _ = summary_row(db, "day:2026-03-10")
    assert row["path"] is None and "# Daily summary" in row["markdown"]


def test_missing_tables_are_noted_not_fatal(home, utc, monkeypatch):
    monkeypatch.setenv("MUSTELID_LOAD_PLUGINS", "summaries")   # no receipts, todos, screenshots
    from mustelid.config import load_config

    cfg = load_config()
    host = Host(cfg.plugins_path)
    db, ledger = open_store(cfg, host)
    assert run_now(cfg, host, ledger, "summaries", WEEK)["state"] == "done"
    _, data = summary_row(db, "week:2026-W11")
    assert data["spending"] == [] and len(data["notes"]) == 3


def test_bad_params_end_dead_with_a_reason(store):
    cfg, host, db, ledger = store
    job = run_now(cfg, host, ledger, "summaries", {"period": "day", "date": "yesterday-ish"})
    assert job["state"] == "dead" and job["reason"] == "bad_params"
    job = run_now(cfg, host, ledger, "summaries", {"period": "fortnight"})
    assert job["state"] == "dead" and job["reason"] == "bad_params"


def test_summary_command(seeded):
    from mustelid.cli import cli as root
    from mustelid.plugins import summaries

    summaries.register_commands(cli=root)    # what the CLI does for every loaded plugin

    def invoke(*args):
        return CliRunner().invoke(root, list(args), catch_exceptions=False)

    none = invoke("summary")
    assert none.exit_code == 1 and "no day summary yet" in none.output
    made = invoke("summary", "--now")
    assert made.exit_code == 0, made.output
    assert made.output.startswith("# Daily summary:")
    shown = json.loads(invoke("summary", "--json").output)
    assert shown["period"] == "day" and shown["data"]["key"] == dt.date.today().isoformat()
    week = invoke("summary", "--period", "week", "--now", "--json")
    assert json.loads(week.output)["key"] == "{}-W{:02d}".format(*dt.date.today().isocalendar())
    _, data = summary_row(seeded[2], f"day:{dt.date.today().isoformat()}")
    assert data["notes"] == []                                 # every table was there


def test_real_daemon_fires_a_schedule_once_per_period(home):
    """The real daemon, real SQLite, real worker process: two every-minute schedules (day and
    week) that were armed two days ago fire at start, catch up once, and a re-fire after the
    state is rewound finds the jobs already there."""
    from mustelid.config import load_config
    from mustelid.store import schedules as sched_store

    (home / "config.toml").write_text(
        "[inbox]\nstable_seconds = 0.3\n"
        '[schedules.day]\ntask = "summaries"\ncron = "* * * * *"\nparams = { period = "day" }\n'
        '[schedules.week]\ntask = "summaries"\ncron = "* * * * *"\nparams = { period = "week" }\n')
    cfg = load_config()
    db, ledger = open_store(cfg, Host(cfg.plugins_path))
    today = dt.datetime.now().astimezone().date().isoformat()
    db["expenses"].insert(add_parents(db, [expense(today, "42.42", merchant="Real Daemon Cafe")],
                                      "receipts")[0])
    two_days_ago = (dt.datetime.now().astimezone() - dt.timedelta(days=2)).isoformat()
    for name in ("day", "week"):
        sched_store.arm(db, name, two_days_ago)

    def summaries_jobs():
        return [j for j in cli_json("jobs", "--task", "summaries") if j["state"] == "done"]

    d = DaemonProcess(home)
    try:
        wait_for(lambda: len(summaries_jobs()) == 2, timeout=90, what="2 summaries jobs done")
    finally:
        d.stop()
    before = sched_store.states(db)
    # A double fire: rewind the cursors (as if the state were lost) and start again.
    db.execute("UPDATE schedule_state SET cursor = ?", [two_days_ago])
    cli("run", "--once", timeout=120)
    after = sched_store.states(db)
    for name in ("day", "week"):
        assert after[name]["cursor"] > two_days_ago                # it did fire again...
        if after[name]["last_key"] == before[name]["last_key"]:    # (unless midnight passed)
            assert after[name]["last_job_id"] == before[name]["last_job_id"]   # ...into one job
    jobs = [j for j in cli_json("jobs", "--task", "summaries")]
    rows = list(db["summaries"].rows)
    files = sorted((cfg.outbox_dir / "summaries").glob("*.md"))
    keys = {(json.loads(db["jobs"].get(j["id"])["params"])["period"],
             db["jobs"].get(j["id"])["idempotency_key"].rsplit(":", 1)[1]) for j in jobs}
    assert len(jobs) == len(keys) == len(rows) == len(files) >= 2
    assert {f"{p}:{k}" for p, k in keys} == {r["id"] for r in rows}
    assert {r["path"] for r in rows} == {str(f) for f in files}
    day_row = db["summaries"].get(f"day:{before['day']['last_key']}")
    if day_row["key"] == today:                                     # (unless midnight passed)
        assert "**MYR 42.42** across 1 expense" in day_row["markdown"]
    schedules = {s["name"]: s for s in cli_json("schedules")}
    assert schedules["day"]["last_state"] == "done" and schedules["week"]["last_state"] == "done"
