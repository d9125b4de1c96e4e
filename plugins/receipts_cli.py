"""`mustelid expenses`: the receipts task's own listing (added through register_commands)."""

from __future__ import annotations

import click

from mustelid import hookimpl

COLUMNS = ["date", "merchant", "total", "currency", "category", "file", "job_id"]


@hookimpl
def register_commands(cli):
    from mustelid.cli import State, json_option, pass_state

    @cli.command()
    @click.option("--since", help="Only expenses dated on or after this day (YYYY-MM-DD).")
    @click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
    @click.option("-n", "--limit", default=200, show_default=True)
    @json_option
    @pass_state
    def expenses(state: State, since: str | None, as_csv: bool, limit: int, as_json: bool):
        """Expenses recorded from receipts, newest first."""
        from mustelid.cli.output import emit_table

        db = state.db
        if not db["expenses"].exists():
            rows = []
        else:
            where, args = ("date >= ?", [since]) if since else (None, [])
            rows = list(db["expenses"].rows_where(where, args, order_by="date DESC, id DESC",
                                                  limit=limit))
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
        emit_table(rows, COLUMNS, title="expenses", as_json=as_json)
