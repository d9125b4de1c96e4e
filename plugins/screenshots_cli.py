"""`mustelid screenshots`: list and search described screenshots (via register_commands)."""

from __future__ import annotations

import click

from mustelid import hookimpl

COLUMNS = ["kind", "title", "summary", "file", "job_id"]


@hookimpl
def register_commands(cli):
    from mustelid.cli import State, json_option, pass_state

    @cli.command()
    @click.option("--search", "query", metavar="TEXT",
                  help="Full-text search over title, summary and key text (best match first).")
    @click.option("--kind", help="Only this kind (chat, email, error_dialog, web_page, ...).")
    @click.option("-n", "--limit", default=100, show_default=True)
    @json_option
    @pass_state
    def screenshots(state: State, query: str | None, kind: str | None, limit: int,
                    as_json: bool):
        """Screenshots described so far, newest first (or best match with --search)."""
        from mustelid.cli.output import emit_table

        rows = list_screenshots(state.db, query=query, kind=kind, limit=limit)
        if as_json:
            import json

            for row in rows:
                row["key_text"] = row["key_text"].splitlines() if row["key_text"] else []
                row["entities"] = json.loads(row["entities"] or "[]")
                row["regions"] = json.loads(row["regions"] or "[]")
        emit_table(rows, COLUMNS, title="screenshots", as_json=as_json)


def list_screenshots(db, query: str | None = None, kind: str | None = None,
                     limit: int = 100) -> list[dict]:
    """Rows of the screenshots table with the original file name added; ``query`` searches the
    FTS index (each word must match; FTS operators are quoted away so any text is safe)."""
    table = db["screenshots"]
    if not table.exists():
        return []
    where, args = ("kind = :kind", {"kind": kind}) if kind else (None, None)
    if query:
        rows = list(table.search(query, limit=limit, where=where, where_args=args, quote=True))
    else:
        rows = list(table.rows_where(where, args or [], order_by="id DESC", limit=limit))
    for row in rows:
        files = list(db["files"].rows_where("sha256 = ?", [row["file_sha256"]]))
        row["file"] = files[0]["original_name"] if files else None
    return rows
