"""The scheduler with an injected clock: arming, catch-up after downtime, double fires, clock
jumps, cron semantics, the register_schedules hook and `mustelid schedules`."""

import datetime as dt
import json
import sqlite3
import tomllib
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from mustelid import Task, hookimpl
from mustelid.host import Host
from mustelid.scheduler import (
    RETRY_AFTER,
    Schedule,
    Scheduler,
    _crontab_dow,
    collect_schedules,
    crontab_trigger,
    latest_fire,
    period_bounds,
)
from mustelid.store import Ledger, migrate, open_db
from mustelid.store import schedules as store

TZ = ZoneInfo("Europe/Berlin")   # not UTC, and with DST: fire times are local


def at(*args):
    return dt.datetime(*args, tzinfo=TZ)


class Tick(Task):
    name = "tick"
    function = "tick"
    description = "a test task for scheduled fires"
    input_kind = "period"
    uses_model = False

    class Output(BaseModel):
        ok: bool


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def ledger(tmp_path):
    db = open_db(tmp_path / "sched.db")
    migrate(db)
    return Ledger(db)


def scheduler(ledger, clock, cron="0 18 * * *", params=None, name="daily"):
    params = {"period": "day"} if params is None else params
    s = Schedule(name, "tick", cron, params, "test", trigger=crontab_trigger(cron, TZ))
    return Scheduler([s], ledger, {"tick": Tick()}, tz=TZ, clock=clock)


def job_keys(ledger):
    return sorted(j["idempotency_key"] for j in ledger.list(limit=1000))


# -- cron and periods ---------------------------------------------------------------------------


def test_day_of_week_numbers_mean_what_crontab_means():
    # APScheduler 3 alone would read 0 as Monday.
    assert _crontab_dow("0") == _crontab_dow("7") == _crontab_dow("sun") == "sun"
    assert _crontab_dow("1-5") == "mon,tue,wed,thu,fri"
    assert _crontab_dow("fri-mon") == "sun,mon,fri,sat"
    assert _crontab_dow("*/2") == "sun,tue,thu,sat"
    assert _crontab_dow("*") == "*"
    sunday_evening = crontab_trigger("0 18 * * 0", TZ).get_next_fire_time(None, at(2026, 11, 20))
    assert sunday_evening == at(2026, 11, 22, 18) and sunday_evening.strftime("%a") == "Sun"
    with pytest.raises(ValueError):
        crontab_trigger("0 18 * *", TZ)
    with pytest.raises(ValueError):
        crontab_trigger("0 18 * * funday", TZ)


def test_periods():
    assert period_bounds("day", dt.date(2026, 11, 22)) == (
        dt.date(2026, 11, 22), dt.date(2026, 11, 23), "2026-11-22")
    # ISO weeks run Monday to Sunday; the key is the ISO year and week (1 Jan 2027 is in 2026-W53).
    assert period_bounds("week", dt.date(2026, 11, 22)) == (
        dt.date(2026, 11, 16), dt.date(2026, 11, 23), "2026-W47")
    assert period_bounds("week", dt.date(2027, 1, 1))[2] == "2026-W53"
    with pytest.raises(ValueError):
        period_bounds("fortnight", dt.date(2026, 11, 22))


def test_latest_fire_in_a_half_open_window():
    every_minute = crontab_trigger("* * * * *", TZ)
    now = at(2026, 11, 22, 12, 30, 59)
    assert latest_fire(every_minute, at(2026, 10, 1), now) == at(2026, 11, 22, 12, 30)
    daily = crontab_trigger("0 18 * * *", TZ)
    assert latest_fire(daily, at(2026, 11, 21, 18), at(2026, 11, 22, 18)) == at(2026, 11, 22, 18)
    assert latest_fire(daily, at(2026, 11, 22, 18), at(2026, 11, 22, 19)) is None  # after excluded
    leap_day = crontab_trigger("0 0 29 2 *", TZ)
    assert latest_fire(leap_day, at(2025, 1, 1), at(2031, 1, 1)) == at(2028, 2, 29)
    assert latest_fire(leap_day, at(2028, 3, 1), at(2031, 1, 1)) is None


# -- firing -------------------------------------------------------------------------------------


def test_first_sight_arms_without_backfill_then_fires_on_time(ledger):
    clock = Clock(at(2026, 11, 22, 19))          # today's 18:00 has passed: not back-filled
    s = scheduler(ledger, clock)
    assert s.tick() == []
    assert dt.datetime.fromisoformat(store.states(ledger.db)["daily"]["armed_at"]) == clock.now
    clock.now = at(2026, 11, 23, 17, 59)
    assert s.tick() == [] and job_keys(ledger) == []
    clock.now = at(2026, 11, 23, 18, 0, 1)
    [(name, job_id, created)] = s.tick()
    assert (name, created) == ("daily", True)
    job = ledger.get(job_id)
    assert job["idempotency_key"] == "schedule:daily:2026-11-23"
    assert json.loads(job["params"]) == {"period": "day", "date": "2026-11-23",
                                         "schedule": "daily",
                                         "scheduled_for": "2026-11-23T18:00:00+01:00"}


def test_fires_missed_while_down_are_caught_up_once_at_start(ledger):
    scheduler(ledger, Clock(at(2026, 11, 19, 12))).tick()     # the daemon ran, then stopped
    # Four days later a new daemon starts: 19th, 20th, 21st and 22nd 18:00 were all missed.
    clock = Clock(at(2026, 11, 23, 9))
    restarted = scheduler(ledger, clock)
    fired = restarted.tick()
    assert len(fired) == 1
    assert job_keys(ledger) == ["schedule:daily:2026-11-22"]   # one run, the latest period
    clock.now = at(2026, 11, 23, 9, 5)
    assert restarted.tick() == []
    assert scheduler(ledger, clock).tick() == []               # and again after another restart
    clock.now = at(2026, 11, 23, 18)
    restarted.tick()
    assert job_keys(ledger) == ["schedule:daily:2026-11-22", "schedule:daily:2026-11-23"]


def test_a_double_fire_makes_one_job(ledger):
    clock = Clock(at(2026, 11, 22, 12))
    first, second = scheduler(ledger, clock), scheduler(ledger, clock)
    first.tick()
    clock.now = at(2026, 11, 22, 18, 0, 2)
    [(_, job_a, created_a)] = first.tick()
    second.tick()                                     # a second scheduler on the same database
    ledger.db["schedule_state"].delete_where()        # and even with its memory lost:
    assert scheduler(ledger, clock).tick() == []      # re-armed,
    ledger.db.execute("UPDATE schedule_state SET cursor = ?", [at(2026, 11, 22, 17).isoformat()])
    [(_, job_b, created_b)] = scheduler(ledger, clock).tick()   # re-fired: the key holds
    assert created_a and not created_b and job_a == job_b
    assert job_keys(ledger) == ["schedule:daily:2026-11-22"]


def test_every_minute_cron_over_a_day_period_is_one_job_per_day(ledger):
    clock = Clock(at(2026, 11, 22, 23, 55, 30))
    s = scheduler(ledger, clock, cron="* * * * *")
    s.tick()
    for minute in range(56, 60):
        clock.now = at(2026, 11, 22, 23, minute, 1)
        s.tick()
    clock.now = at(2026, 11, 23, 0, 0, 1)
    s.tick()
    assert job_keys(ledger) == ["schedule:daily:2026-11-22", "schedule:daily:2026-11-23"]
    assert store.states(ledger.db)["daily"]["last_fire"] == at(2026, 11, 23).isoformat()


def test_wall_clock_jumping_back_creates_no_duplicate(ledger):
    clock = Clock(at(2026, 11, 21, 12))
    s = scheduler(ledger, clock)
    s.tick()
    for now in (at(2026, 11, 21, 18, 1), at(2026, 11, 22, 18, 1)):
        clock.now = now
        s.tick()
    assert job_keys(ledger) == ["schedule:daily:2026-11-21", "schedule:daily:2026-11-22"]
    # NTP (or a user) sets the clock back a day and a half; time then runs forward again
    # through fire times that were already fired.
    for now in (at(2026, 11, 21, 6), at(2026, 11, 21, 18, 0, 30), at(2026, 11, 22, 12),
                at(2026, 11, 22, 18, 0, 30)):
        clock.now = now
        for _, _, created in s.tick():
            assert not created
    assert job_keys(ledger) == ["schedule:daily:2026-11-21", "schedule:daily:2026-11-22"]
    clock.now = at(2026, 11, 23, 18, 0, 30)                     # and later fires still happen
    assert [created for _, _, created in s.tick()] == [True]


def test_a_clock_set_years_ahead_then_corrected_does_not_stall_the_schedule(ledger):
    clock = Clock(at(2030, 1, 1, 12))       # a dead RTC battery, a typo in `date -s`
    s = scheduler(ledger, clock)
    s.tick()
    clock.now = at(2030, 1, 1, 18, 1)
    s.tick()
    clock.now = at(2026, 11, 22, 12)        # corrected
    assert s.tick() == []
    clock.now = at(2026, 11, 22, 18, 1)
    assert [created for _, _, created in s.tick()] == [True]
    assert job_keys(ledger) == ["schedule:daily:2026-11-22", "schedule:daily:2030-01-01"]


def test_daylight_saving_nights_make_one_job_per_day(ledger):
    # 29 March 2026 has no 02:30 in Berlin; 25 October 2026 has two, an hour apart.
    utc = dt.timezone.utc
    clock = Clock(at(2026, 3, 28, 12))
    s = scheduler(ledger, clock, cron="30 2 * * *")
    s.tick()
    fires = []
    for start in (dt.datetime(2026, 3, 28, 12, tzinfo=utc),
                  dt.datetime(2026, 10, 24, 12, tzinfo=utc)):
        for half_hours in range(48):     # every half hour of absolute time, through both nights
            clock.now = (start + dt.timedelta(minutes=30 * half_hours)).astimezone(TZ)
            fires += [(json.loads(ledger.get(job_id)["params"])["date"], created)
                      for _, job_id, created in s.tick()]
    assert fires == [("2026-03-29", True),
                     ("2026-10-24", True),                       # caught up after the gap
                     ("2026-10-25", True), ("2026-10-25", False)]  # the repeated 02:30: absorbed


def test_week_period_key_and_params(ledger):
    clock = Clock(at(2026, 11, 20, 12))
    s = scheduler(ledger, clock, cron="0 18 * * 0", params={"period": "week"}, name="weekly")
    s.tick()
    clock.now = at(2026, 11, 22, 18, 0, 1)
    [(_, job_id, _)] = s.tick()
    job = ledger.get(job_id)
    assert job["idempotency_key"] == "schedule:weekly:2026-W47"
    assert json.loads(job["params"])["date"] == "2026-11-22"


def test_schedule_without_period_is_keyed_by_its_minute(ledger):
    clock = Clock(at(2026, 11, 22, 8, 59))
    s = scheduler(ledger, clock, cron="0 9,17 * * *", params={})
    s.tick()
    clock.now = at(2026, 11, 22, 17, 30)
    s.tick()              # 09:00 is coalesced into 17:00, the latest fire
    assert job_keys(ledger) == ["schedule:daily:2026-11-22T17:00"]


def test_a_tick_between_fires_does_not_touch_the_database(ledger, monkeypatch):
    clock = Clock(at(2026, 11, 22, 12))
    s = scheduler(ledger, clock)
    s.tick()
    reads = []
    real = store.states
    monkeypatch.setattr(store, "states", lambda db: reads.append(1) or real(db))
    clock.now = at(2026, 11, 22, 17, 59, 59)
    s.tick()
    assert reads == []
    clock.now = at(2026, 11, 22, 18)
    assert len(s.tick()) == 1 and reads == [1]


def test_a_failed_fire_is_retried_and_the_cursor_waits_for_the_job(ledger, monkeypatch):
    clock = Clock(at(2026, 11, 22, 12))
    s = scheduler(ledger, clock)
    s.tick()
    real = store.record_fire

    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(store, "record_fire", locked)
    clock.now = at(2026, 11, 22, 18, 0, 1)
    assert s.tick() == []                                       # logged, not raised
    cursor = store.states(ledger.db)["daily"]["cursor"]
    assert dt.datetime.fromisoformat(cursor) == at(2026, 11, 22, 12)
    monkeypatch.setattr(store, "record_fire", real)
    clock.now += RETRY_AFTER
    assert len(s.tick()) == 1
    assert job_keys(ledger) == ["schedule:daily:2026-11-22"]


def test_bad_schedules_are_reported_and_never_fire(ledger):
    good = Schedule("good", "tick", "0 18 * * *", {}, "test")
    unknown = Schedule("unknown", "nope", "0 18 * * *", {}, "test")
    for s in (good, unknown):
        s.trigger = crontab_trigger(s.cron, TZ)
    bad_cron = Schedule("bad", "tick", "61 * * * *", {}, "test", error="bad cron")
    sched = Scheduler([good, unknown, bad_cron], ledger, {"tick": Tick()}, tz=TZ,
                      clock=Clock(at(2026, 11, 22, 12)))
    sched.tick()
    sched.tick(at(2026, 11, 22, 18, 1))
    assert job_keys(ledger) == ["schedule:good:2026-11-22T18:00"]
    status = {row["name"]: row for row in sched.status(at(2026, 11, 22, 18, 2))}
    assert "nope" in status["unknown"]["error"] and status["bad"]["error"] == "bad cron"
    assert status["good"]["last_state"] == "queued" and status["bad"]["next_fire"] is None


# -- hook, config, CLI --------------------------------------------------------------------------


class SchedulingPlugin:
    @hookimpl
    def register_schedules(self, register):
        register("nightly", "tick", "30 2 * * *", {"period": "day"})
        register("overridden", "tick", "0 1 * * *")
        register("suggested", "tick", "0 4 * * *", default=True)


class BrokenScheduling:
    @hookimpl
    def register_schedules(self, register):
        register("half", "tick", "0 3 * * *")
        raise RuntimeError("plugin bug")


def test_hook_register_schedules(home):
    from mustelid.config import load_config

    (home / "config.toml").write_text(
        '[schedules.overridden]\ntask = "tick"\ncron = "0 5 * * 1"\n'
        '[schedules.typo]\ntask = "tick"\ncron = "0 25 * * *"\n')
    host = Host(load=False)
    host.register(BrokenScheduling(), "broken")
    host.register(SchedulingPlugin(), "plugin")
    found = {s.name: s for s in collect_schedules(load_config(), host, TZ)}
    assert found["nightly"].source == "plugin" and found["nightly"].error is None
    assert "suggested" not in found            # a default: the [schedules] table replaced it
    assert found["overridden"].source == "config" and found["overridden"].cron == "0 5 * * 1"
    assert found["typo"].error and "25" in found["typo"].error
    assert "plugin bug" in host.plugins["broken"].error     # reported, others unaffected
    assert found["nightly"].trigger.get_next_fire_time(None, at(2026, 11, 22)) == \
        at(2026, 11, 22, 2, 30)


def test_default_config_schedules_a_daily_summary_and_init_writes_the_same(home, monkeypatch):
    from mustelid.config import ANNOTATED_CONFIG, Config, load_config

    monkeypatch.setenv("MUSTELID_LOAD_PLUGINS", "summaries")
    host = Host()

    def collected(config):
        return {s.name: (s.task, s.cron, s.params) for s in collect_schedules(config, host, TZ)}

    default = collected(load_config())           # the summaries plugin's default schedule
    assert default == {"daily_summary": ("summaries", "0 18 * * *", {"period": "day"})}
    assert collected(Config.model_validate(tomllib.loads(ANNOTATED_CONFIG))) == default
    assert collected(Config.model_validate(tomllib.loads("[schedules]\n"))) == {}   # off
    weekly = '[schedules.weekly]\ntask = "summaries"\ncron = "0 18 * * 0"\n'
    assert list(collected(Config.model_validate(tomllib.loads(weekly)))) == ["weekly"]


def test_schedules_cli_shows_next_fire_pending_catch_up_and_last_fire(home):
    from mustelid.cli import cli
    from mustelid.config import load_config
    from mustelid.home import open_store

    (home / "config.toml").write_text(
        '[schedules.sum]\ntask = "summaries"\ncron = "0 18 * * *"\nparams = { period = "day" }\n')
    cfg = load_config()
    host = Host(cfg.plugins_path)
    db, ledger = open_store(cfg, host)
    now = dt.datetime.now().astimezone()
    Scheduler.build(cfg, host, ledger, clock=lambda: now - dt.timedelta(days=2)).tick()

    def listed():
        result = CliRunner().invoke(cli, ["schedules", "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return {row["name"]: row for row in json.loads(result.output)}

    row = listed()["sum"]
    missed = row["pending"]
    assert row["last_fire"] is None and missed is not None           # a fire was missed
    assert dt.datetime.fromisoformat(row["next_fire"]) > now
    assert dt.datetime.fromisoformat(row["next_fire"]).strftime("%H:%M") == "18:00"
    [(_, job_id, _)] = Scheduler.build(cfg, host, ledger).tick()
    row = listed()["sum"]
    assert row["pending"] is None and row["last_fire"] == missed
    assert row["last_job_id"] == job_id and row["last_state"] == "queued"
    text = CliRunner().invoke(cli, ["schedules"], catch_exceptions=False).output
    assert "sum" in text and "0 18 * * *" in text
