"""`mustelid db path`: where the database is, for datasette and other SQLite tools."""

import sqlite3
import subprocess
import sys

from mustelid.config import load_config
from mustelid.store import migrate, open_db


def test_db_path_prints_the_database_any_sqlite_tool_can_open(home):
    migrate(open_db(load_config().db_path))
    out = subprocess.run([sys.executable, "-m", "mustelid", "db", "path"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    path = out.stdout.strip()
    assert path == str(load_config().db_path) and path.startswith(str(home))
    tables = {r[0] for r in sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"files", "jobs", "results"} <= tables
