"""Exact money in SQL: ``expenses.total_milli`` (receipts migration m003) sorts and sums totals
exactly, on new rows and on a database the previous release made."""

import pytest
from sqlite_utils.migrations import Migrations

from mustelid.plugins.receipts.expense import to_milli
from mustelid.plugins.receipts.migrations import expenses_migrations
from mustelid.store import migrate, open_db

# What the previous release's persist wrote: the decimal as TEXT.
OLD_ROWS = [
    ("job-a", "KEDAI BUKU", "9.00", "MYR"),
    ("job-b", "TAMAN MART", "60.30", "MYR"),
    ("job-c", "KOPITIAM", "33.90", "MYR"),
    ("job-d", "SUSHI GO", "1500", "JPY"),
    ("job-e", "AL KUWAIT FUEL", "1.234", "KWD"),
    ("job-f", None, "0.05", None),
    ("job-g", "HAND EDITED", "about 5", "MYR"),     # not an amount: a person typed it in
]


def previous_release(path):
    """A database as the previous release left it: the receipts migrations before m003, rows
    inserted as its persist did."""
    db = open_db(path)
    migrate(db)
    older = Migrations("receipts")
    older._migrations = [m for m in expenses_migrations()._migrations
                         if m.name not in ("m003_exact_totals", "m004_foreign_keys")]
    with db.conn:
        older.apply(db)
    assert "total_milli" not in db["expenses"].columns_dict
    for job_id, merchant, total, currency in OLD_ROWS:
        # Its expenses had their job and file (the keys of m004 keep it so).
        db["files"].insert({"sha256": job_id * 4, "first_seen": "2026-11-20T10:00:00+00:00"})
        db["jobs"].insert({"id": job_id, "task": "receipts", "state": "done",
                           "idempotency_key": job_id, "input_sha256": job_id * 4})
        db["expenses"].insert({"job_id": job_id, "file_sha256": job_id * 4, "merchant": merchant,
                               "date": "2026-11-20", "total": total, "currency": currency,
                               "category": "other", "items": "[]", "provenance": "{}",
                               "created": "2026-11-20T10:00:00+00:00"})
    return db


def test_text_totals_sort_and_sum_wrong_which_is_the_bug(tmp_path):
    db = previous_release(tmp_path / "old.db")
    myr = "FROM expenses WHERE currency = 'MYR' AND job_id != 'job-g'"
    assert [r[0] for r in db.execute(f"SELECT total {myr} ORDER BY total DESC")] == \
        ["9.00", "60.30", "33.90"]
    assert db.execute(f"SELECT SUM(total) {myr}").fetchone()[0] != 103.2


def test_the_upgrade_converts_every_total_exactly_and_loses_nothing(tmp_path):
    db = previous_release(tmp_path / "old.db")
    before = {r["id"]: r for r in db["expenses"].rows}

    assert migrate(db, [expenses_migrations()]) == []

    after = {r["id"]: r for r in db["expenses"].rows}
    assert set(after) == set(before)
    for pk, row in after.items():
        milli = row.pop("total_milli")
        assert row == before[pk]                              # every old value as it was
        if row["job_id"] == "job-g":
            assert milli is None and row["total"] == "about 5"   # kept as typed, not guessed
        else:
            assert milli == to_milli(row["total"])
    myr = "FROM expenses WHERE currency = 'MYR' AND total_milli IS NOT NULL"
    assert [r[0] for r in db.execute(f"SELECT total {myr} ORDER BY total_milli DESC")] == \
        ["60.30", "33.90", "9.00"]
    assert db.execute(f"SELECT SUM(total_milli) {myr}").fetchone()[0] == 103_200   # 103.200
    sums = dict(db.execute("SELECT currency, SUM(total_milli) FROM expenses"
                           " GROUP BY currency").fetchall())
    assert sums["JPY"] == 1_500_000 and sums["KWD"] == 1_234 and sums[None] == 50
    assert db.execute("SELECT typeof(total_milli) FROM expenses WHERE job_id = 'job-b'"
                      ).fetchone()[0] == "integer"
    assert migrate(db, [expenses_migrations()]) == []          # applied once


@pytest.mark.parametrize("amount, milli", [("33.90", 33900), ("0.001", 1), ("1500", 1500000),
                                           ("999999999.999", 999999999999)])
def test_to_milli_is_exact(amount, milli):
    assert to_milli(amount) == milli


@pytest.mark.parametrize("amount", ["1.2345", "inf", "NaN", "about 5", ""])
def test_to_milli_refuses_what_is_not_a_whole_number_of_thousandths(amount):
    with pytest.raises(ValueError):
        to_milli(amount)
