"""`mustelid expenses`: the receipts task's own listing (added through register_commands)."""

from __future__ import annotations

import click

from mustelid import hookimpl

COLUMNS = ["date", "merchant", "total", "currency", "category", "file", "job_id"]
HISTORY_COLUMNS = ["date", "merchant", "total", "currency", "category", "file", "version",
                   "job_id"]


@hookimpl
def register_commands(cli):
    from mustelid.cli import State, json_option, pass_state

    @cli.command()
    @click.option("--since", help="Only expenses dated on or after this day (YYYY-MM-DD).")
    @click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
    @click.option("-n", "--limit", default=200, show_default=True)
    @click.option("--history", is_flag=True,
                  help="Every result version (reprocess, review), not only the latest.")
    @json_option
    @pass_state
    def expenses(state: State, since: str | None, as_csv: bool, limit: int, history: bool,
                 as_json: bool):
        """Expenses recorded from receipts, newest first (the latest version of each receipt)."""
        from mustelid.cli.output import emit_table
        from mustelid.store import reviews

        db = state.db
        if not db["expenses"].exists():
            rows = []
        else:
            where, args = ("date >= ?", [since]) if since else (None, [])
            rows = list(db["expenses"].rows_where(where, args, order_by="date DESC, id DESC"))
            versions = reviews.versions_of(db, "expenses")
            latest = reviews.newest_per_input(db, "expenses")
            for row in rows:
                row["version"] = versions.get(row["job_id"])
            if not history:
                # A reprocessed or corrected receipt has one row per version; show the newest.
                rows = [r for r in rows if r["job_id"] in latest]
            rows = rows[:limit]
        for row in rows:
            files = list(db["files"].rows_where("sha256 = ?", [row["file_sha256"]]))
            row["file"] = files[0]["original_name"] if files else None
        if as_csv:
            import csv
            import sys

            writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS + ["items"],
                                    extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            return
        if as_json:
            import json

            for row in rows:
                row["items"] = json.loads(row["items"] or "[]")
                row["provenance"] = json.loads(row["provenance"] or "{}")
        if history:
            rows.sort(key=lambda r: (r["file_sha256"] or "", r["version"] or 0))
        emit_table(rows, HISTORY_COLUMNS if history else COLUMNS, title="expenses",
                   as_json=as_json)
