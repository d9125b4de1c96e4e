"""Cron schedules that only ever enqueue ledger jobs, asked "what is due now?" by the daemon loop.

Why not APScheduler's BackgroundScheduler: its persistent job stores pickle callables and hold
SQLite locks, its default ``misfire_grace_time=1`` silently drops a fire missed during sleep
(NOTES.md), and a thread with its own clock cannot be tested without sleeping. So APScheduler 3's
``CronTrigger`` computes the fire times (it knows cron fields, month lengths and DST), the state
lives in our own ``schedule_state`` table, and the clock is injected.

The policy, equivalent to an APScheduler job with ``coalesce=True, max_instances=1,
misfire_grace_time=None`` whose last run survives restarts:

- A schedule seen for the first time is *armed* then: earlier fire times are not back-filled
  (like cron, or a job newly added to APScheduler).
- On each tick the latest fire time in ``(cursor, now]`` is due. Fires missed before it (machine
  asleep, daemon stopped) are coalesced into that one run: a restart catches up exactly once.
- A fire only enqueues a job whose idempotency key is ``schedule:NAME:PERIOD``. Firing twice for
  one period (a double tick, a lost state row, every-minute cron over a daily period) finds the
  job already queued and creates nothing.
- If the wall clock goes back before the cursor, the cursor follows it; fires that then come
  round again belong to periods whose jobs already exist, so nothing is duplicated.

Periods: ``params = {"period": "day" | "week"}`` makes the job summarise the local day or ISO
week (Monday to Sunday) the fire falls in; the job gets ``params["date"]`` (that local day) and
the key is ``2026-11-22`` or ``2026-W47``. Without ``period`` the key is the fire's local minute.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
import time
from typing import Any, Callable, Mapping

from mustelid.commit import commit, job_input
from mustelid.config import model_key
from mustelid.periods import PERIODS, period_bounds  # noqa: F401  (re-exported)
from mustelid.store import schedules as store
from mustelid.worker import WorkerContext, handle

log = logging.getLogger("mustelid.scheduler")

RETRY_AFTER = dt.timedelta(seconds=30)   # after a failed tick (database busy): try again then
_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


# -- periods and cron ---------------------------------------------------------------------------


def crontab_trigger(expr: str, tz: dt.tzinfo) -> Any:
    """An APScheduler ``CronTrigger`` for a standard five-field crontab line.

    APScheduler 3 reads day-of-week numbers with 0 = Monday (its ``from_crontab`` warns about
    this "historical mistake"), so ``0 18 * * 0`` would fire on Mondays. We translate the field
    to day names first, keeping crontab's meaning: 0 and 7 are Sunday.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab line has 5 fields, got {len(fields)}: {expr!r}")
    minute, hour, day, month, dow = fields
    return CronTrigger(minute=minute, hour=hour, day=day, month=month,
                       day_of_week=_crontab_dow(dow), timezone=tz)


def _crontab_dow(field: str) -> str:
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad day-of-week step in {field!r}")
        if span == "*":
            lo, hi = 0, 6
        elif "-" in span:
            lo, hi = (_dow_number(x) for x in span.split("-", 1))
            hi += 7 if hi < lo else 0    # "fri-mon" wraps through the weekend
        else:
            lo = _dow_number(span)
            hi = 6 if step_text else lo
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_DOW[d] for d in sorted(days))


def _dow_number(text: str) -> int:
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    if text[:3] in _DOW:
        return _DOW.index(text[:3])
    raise ValueError(f"bad day of week {text!r}")


def next_after(trigger: Any, t: dt.datetime) -> dt.datetime | None:
    """The first fire time strictly after ``t``.

    Adds the microsecond in UTC: local arithmetic drops ``fold``, so one microsecond after the
    second 02:30 of a DST-ending night would land before the first one, and the trigger would
    answer the same fire time forever.
    """
    return trigger.get_next_fire_time(
        None, t.astimezone(dt.timezone.utc) + dt.timedelta(microseconds=1))


def latest_fire(trigger: Any, after: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The latest fire time in ``(after, now]``, or None.

    CronTrigger only looks forward, so look back from ``now`` in doubling windows until one holds
    a fire, then step forward to the last one: a week-long gap under every-minute cron costs a
    few steps, not ten thousand.
    """
    # In UTC: Python compares two datetimes sharing one ZoneInfo by wall time, which misorders
    # the hour repeated when DST ends.
    after, now = after.astimezone(dt.timezone.utc), now.astimezone(dt.timezone.utc)
    window = dt.timedelta(minutes=1)
    while True:
        low = max(after, now - window)
        fire = next_after(trigger, low)
        if fire is not None and fire <= now:
            break
        if low == after:
            return None
        window *= 2
    while (later := next_after(trigger, fire)) is not None and later <= now:
        if later.timestamp() <= fire.timestamp():
            raise RuntimeError(f"trigger {trigger} does not advance past {fire}")  # never loop
        fire = later
    return fire


def local_timezone() -> dt.tzinfo:
    from tzlocal import get_localzone   # APScheduler's own dependency; honours TZ

    return get_localzone()


# -- schedules ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Schedule:
    name: str
    task: str
    cron: str
    params: dict[str, Any]
    source: str                         # "config" or "plugin"
    trigger: Any = None
    error: str | None = None            # why it never fires (bad cron, unknown task)

    def key(self, fire: dt.datetime) -> str:
        period = self.params.get("period")
        if period:
            return period_bounds(period, fire.date())[2]
        return fire.strftime("%Y-%m-%dT%H:%M")

    def job_params(self, fire: dt.datetime) -> dict[str, Any]:
        params = {**self.params, "schedule": self.name, "scheduled_for": fire.isoformat()}
        if self.params.get("period"):
            params["date"] = fire.date().isoformat()
        return params


def collect_schedules(config: Any, host: Any, tz: dt.tzinfo) -> list[Schedule]:
    """Plugins' schedules (``register_schedules``), then the config's; a config schedule
    replaces a plugin's of the same name, and a ``[schedules]`` table in the config (even an
    empty one) replaces every schedule a plugin registered with ``default=True``. Bad ones are
    kept, with ``error`` set, so that ``mustelid schedules`` can show why they never fire."""
    found: dict[str, Schedule] = {}
    # pydantic records which keys the file set: an absent table and an empty one differ here.
    configured = "schedules" in getattr(config, "model_fields_set", ())

    def register(name: str, task: str, cron: str, params: dict[str, Any] | None = None, *,
                 default: bool = False) -> None:
        if not all(isinstance(x, str) and x for x in (name, task, cron)):
            raise TypeError("register(name, task, cron, params=None) takes non-empty strings")
        if params is not None and not isinstance(params, dict):
            raise TypeError("schedule params must be a dict")
        if name in found:
            log.warning("schedule %s registered twice; keeping the first", name)
            return
        if default and configured:
            return
        found[name] = Schedule(name, task, cron, dict(params or {}), "plugin")

    host.each("register_schedules", register=register)
    for name, sc in config.schedules.items():
        found[name] = Schedule(name, sc.task, sc.cron, dict(sc.params), "config")
    for s in found.values():
        try:
            s.trigger = crontab_trigger(s.cron, tz)
            if s.params.get("period") is not None:
                period_bounds(s.params["period"], dt.date.today())
        except ValueError as e:
            s.error = str(e)
    return list(found.values())


class Scheduler:
    """``tick(now)`` enqueues whatever is due; ``status(now)`` describes every schedule.

    Cheap between fires: a tick before the next known fire time returns at once without touching
    the database, so the daemon can call it on every loop turn.
    """

    def __init__(
        self,
        schedules: list[Schedule],
        ledger: Any,
        tasks: Mapping[str, Any],
        *,
        max_attempts: int = 4,
        model_id: str | None = None,
        tz: dt.tzinfo | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ):
        self.tz = tz or local_timezone()
        self.clock = clock or (lambda: dt.datetime.now(self.tz))
        self.ledger = ledger
        self.tasks = tasks
        self.max_attempts = max_attempts
        self.model_id = model_id
        self.schedules = schedules
        for s in schedules:
            if s.error is None and s.task not in tasks:
                s.error = f"no installed plugin provides task {s.task!r}"
            if s.error:
                log.warning("schedule %s will not fire: %s", s.name, s.error)
        self._next_check: dt.datetime | None = None
        self._last_now: dt.datetime | None = None

    @classmethod
    def build(cls, config: Any, host: Any, ledger: Any, *, tz: dt.tzinfo | None = None,
              clock: Callable[[], dt.datetime] | None = None) -> "Scheduler":
        tz = tz or local_timezone()
        return cls(collect_schedules(config, host, tz), ledger, host.tasks,
                   max_attempts=config.jobs.max_attempts, model_id=model_key(config),
                   tz=tz, clock=clock)

    @property
    def active(self) -> list[Schedule]:
        return [s for s in self.schedules if s.error is None]

    def tick(self, now: dt.datetime | None = None) -> list[tuple[str, str, bool]]:
        """Enqueue every due fire. Returns ``(schedule, job id, created)`` per fire. Never raises:
        a failure is logged and retried on a later tick (the cursor only moves with the job)."""
        now = (now or self.clock()).astimezone(dt.timezone.utc)   # see latest_fire
        if (self._next_check is not None and self._last_now is not None
                and self._last_now <= now < self._next_check):
            return []
        fired, failed = [], False
        try:
            rows = store.states(self.ledger.db)
        except Exception as e:
            log.warning("cannot read schedule state: %s", e)
            rows, failed = None, True
        for s in self.active if rows is not None else []:
            try:
                out = self._tick_one(s, rows.get(s.name), now)
            except Exception as e:
                log.warning("schedule %s: %s: %s", s.name, type(e).__name__, e)
                failed = True
                continue
            if out is not None:
                fired.append(out)
        upcoming = [f for s in self.active if (f := next_after(s.trigger, now)) is not None]
        if failed:
            upcoming.append(now + RETRY_AFTER)
        self._last_now, self._next_check = now, min(upcoming, default=None)
        if self._next_check is None:
            self._next_check = now + dt.timedelta(days=365)
        return fired

    def _tick_one(self, s: Schedule, row: dict | None, now: dt.datetime):
        if row is None:
            store.arm(self.ledger.db, s.name, now.astimezone(self.tz).isoformat())
            return None
        cursor = dt.datetime.fromisoformat(row["cursor"])
        if cursor > now:
            log.warning("schedule %s: the clock went back before %s; following it", s.name,
                        row["cursor"])
            store.move_cursor(self.ledger.db, s.name, now.astimezone(self.tz).isoformat())
            return None
        fire = latest_fire(s.trigger, cursor, now)
        if fire is None:
            return None
        key = s.key(fire)
        task = self.tasks[s.task]
        job_id, created = store.record_fire(self.ledger, s.name, fire.isoformat(), key, {
            "task": s.task,
            "task_version": task.version,
            "idempotency_key": f"schedule:{s.name}:{key}",
            "params": s.job_params(fire),
            "max_attempts": self.max_attempts,
            "model_id": self.model_id if task.uses_model else None,
        })
        log.info("schedule %s fired for %s (%s): job %s%s", s.name, fire.isoformat(), key,
                 job_id, "" if created else ", already queued")
        return s.name, job_id, created

    def status(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Each schedule with its next fire time, last fire and that job's state. ``pending`` is
        a missed fire the next tick will catch up. Reads only."""
        now = now or self.clock()
        rows = store.states(self.ledger.db)
        out = []
        for s in self.schedules:
            row = rows.get(s.name) or {}
            job = self.ledger.get(row["last_job_id"]) if row.get("last_job_id") else None
            pending = None
            if s.error is None and row.get("cursor"):
                cursor = dt.datetime.fromisoformat(row["cursor"])
                pending = latest_fire(s.trigger, cursor, now) if cursor <= now else None
            nxt = next_after(s.trigger, now) if s.error is None else None
            out.append({
                "name": s.name, "task": s.task, "cron": s.cron, "params": s.params,
                "source": s.source, "error": s.error,
                "next_fire": nxt.isoformat() if nxt else None,
                "pending": pending.isoformat() if pending else None,
                "last_fire": row.get("last_fire"), "last_key": row.get("last_key"),
                "last_job_id": row.get("last_job_id"),
                "last_state": job["state"] if job else None,
                "armed_at": row.get("armed_at"),
            })
        return out


# -- running one job now, in this process -------------------------------------------------------


def run_now(config: Any, host: Any, ledger: Any, task: str, params: dict[str, Any],
            idempotency_key: str | None = None) -> dict[str, Any]:
    """Enqueue a job and run it here and now, through the model worker's own code path
    (``mustelid.worker.handle``) and the daemon's commit (``mustelid.commit.commit``).

    For commands such as ``mustelid summary --now`` that must work with the daemon stopped. The
    job is enqueued with ``run_after`` in the future so a running daemon leaves it alone while
    we claim it; if we die before claiming, the daemon runs it a little later. Returns the job
    row as committed (``state`` done, queued for a retry, needs_review, or dead).
    """
    t = host.task(task)
    key = idempotency_key or f"now:{task}:{time.time_ns()}"
    job_id, _ = ledger.enqueue(task, idempotency_key=key, task_version=t.version, params=params,
                               max_attempts=config.jobs.max_attempts,
                               run_after=ledger.clock() + config.jobs.lease_seconds)
    return run_inline(config, host, ledger, job_id)


def run_inline(config: Any, host: Any, ledger: Any, job_id: str) -> dict[str, Any]:
    """Claim job ``job_id`` and run it in this process; its row afterwards."""
    owner = f"{socket.gethostname()}:{os.getpid()}:inline"
    job = ledger.claim_job(job_id, owner, config.jobs.lease_seconds)
    if job is None:
        return ledger.get(job_id)     # someone else has it, or it is already finished
    ctx = WorkerContext(config, host)
    try:
        reply = handle(ctx, job_input(ledger.db, job))
    finally:
        ctx.close()
    commit(ledger, host.task(job["task"]), job, reply)
    return ledger.get(job_id)
