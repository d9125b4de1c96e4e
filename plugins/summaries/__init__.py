"""Summaries: a day's or a week's spending, todos and screenshots (``write_summary``).

Computed from the database, without the model: sums and lists are exact work for code, and a
0.5B model would add them up wrong. Totals are ``Decimal`` sums of the stored decimal strings,
kept per currency (ringgit plus euros is no number at all). The task only reads, through
``ctx.read_db()`` (``reading``: which rows belong to a period); the daemon (or ``mustelid summary
--now``) writes the ``summaries`` row and the Markdown file in the outbox from ``persist``.

The plugin brings the default ``daily_summary`` schedule (18:00, the day's summary); a
``[schedules]`` table in the config replaces it, as it replaces every default schedule.
"""

from __future__ import annotations

from mustelid import hookimpl

# Every process loads this module, `mustelid --help` too: the task, its reading of the store and
# sqlite-utils (which imports numpy) are imported by the hooks that need them.


@hookimpl
def register_tasks(register):
    from .task import Summaries

    register(Summaries())


@hookimpl
def register_schedules(register):
    register("daily_summary", "summaries", "0 18 * * *", {"period": "day"}, default=True)


@hookimpl
def register_migrations(register):
    from sqlite_utils.migrations import Migrations

    migrations = Migrations("summaries")

    @migrations()
    def m001_summaries(db):
        # One row per period ("day:2026-11-22", "week:2026-W47"): a recomputed summary replaces
        # the old one, so the table never holds two answers for one period. `data` is the
        # validated result as JSON (totals as decimal strings); `path` the Markdown file written
        # in the outbox, NULL if it could not be written.
        db["summaries"].create(
            {"id": str, "period": str, "key": str, "start": str, "end": str, "job_id": str,
             "generated_at": str, "data": str, "markdown": str, "path": str},
            pk="id", not_null={"period", "key", "start", "end"},
        )
        db["summaries"].create_index(["period", "start"])

    @migrations()
    def m002_foreign_keys(db):
        # The job that computed the period's summary (RESTRICT: see mustelid.records).
        from mustelid.records import add_foreign_keys

        add_foreign_keys(db, "summaries", {"job_id": "jobs.id"})

    register(migrations)


@hookimpl
def register_commands(cli):
    from .cli import summary

    cli.add_command(summary)
