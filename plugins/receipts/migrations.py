"""The receipts task's table, ``expenses``: one row per recorded expense (per result version)."""

from __future__ import annotations

import logging

from sqlite_utils import Migrations

log = logging.getLogger("mustelid.receipts")


def expenses_migrations() -> Migrations:
    migrations = Migrations("receipts")

    @migrations()
    def m001_expenses(db):
        # One row per recorded expense. `total` is TEXT holding the decimal exactly as chosen
        # ("33.90"): REAL would turn it into a binary float (33.899999...) and lose the printed
        # scale; sum with CAST(total AS REAL) for a quick view, or Decimal in Python for money.
        # `items` and `provenance` are JSON (line items; which OCR row and boxes each value came
        # from). job_id is unique: a job persists at most once.
        db["expenses"].create(
            {
                "id": int,
                "job_id": str,
                "file_sha256": str,
                "merchant": str,
                "date": str,        # ISO YYYY-MM-DD, or NULL when none was legible
                "total": str,
                "currency": str,    # ISO 4217
                "category": str,
                "items": str,
                "provenance": str,
                "created": str,     # UTC ISO timestamp
            },
            pk="id",
            not_null={"job_id", "merchant", "total", "currency", "category"},
        )
        db["expenses"].create_index(["job_id"], unique=True)
        db["expenses"].create_index(["date"])
        db["expenses"].create_index(["file_sha256"])

    @migrations()
    def m002_nullable_merchant_currency(db):
        # A merchant or currency that is not printed is recorded as NULL (with the reason in
        # provenance) instead of being guessed, so those columns may now be empty.
        db["expenses"].transform(not_null={"merchant": False, "currency": False})

    @migrations()
    def m003_exact_totals(db):
        # `total` as TEXT sorted "9.00" above "60.30" and SUM(total) gave 103.19999999999999.
        # `total_milli` is the same amount as an integer number of thousandths (expense.to_milli
        # says why that scale): ORDER BY and SUM(...) GROUP BY currency are exact. `total`
        # stays, unchanged, for what reads the decimal text; a row whose text is not an amount
        # (only a hand edit makes one) keeps it and gets NULL here, so nothing is lost.
        _add_total_milli(db)

    @migrations()
    def m004_foreign_keys(db):
        # An expense is the filing of one job's result for one archived file: the keys make
        # SQLite refuse an expense for a job or file that does not exist (and let datasette
        # link them). RESTRICT: deleting the job or file would otherwise orphan the money.
        # An expense that already names a missing job is moved to broken_references, kept.
        from mustelid.records import add_foreign_keys

        add_foreign_keys(db, "expenses", {"job_id": "jobs.id", "file_sha256": "files.sha256"})

    return migrations


def _add_total_milli(db) -> None:
    """m003's body (a function of its own to keep ``expenses_migrations`` short)."""
    from .expense import to_milli

    db["expenses"].add_column("total_milli", int)
    for row in list(db["expenses"].rows_where(select="id, total")):
        try:
            milli = to_milli(row["total"])
        except ValueError:
            log.warning("expense %s: total %r is not an amount; total_milli left empty",
                        row["id"], row["total"])
            continue
        db["expenses"].update(row["id"], {"total_milli": milli})
    db["expenses"].create_index(["currency", "total_milli"])
