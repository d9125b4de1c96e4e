"""`mustelid mcp`: the real command, started over stdio by the MCP SDK's own client, against a
real home whose database holds results committed the way the daemon commits them."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from PIL import Image

from daemonproc import DaemonProcess, cli, cli_json, wait_for
from mustelid.cli.mcp_command import MAX_RESULT_CHARS, MAX_ROWS, McpTools
from mustelid.config import load_config
from mustelid.home import open_store
from mustelid.host import Host
from mustelid.plugins.screenshots import Screenshot, Screenshots
from mustelid.testing import FakeBackend, TaskRunner
from test_receipts import NOW, SHOP, good_answer
from test_screenshots import DIALOG, dialog_job
from test_screenshots import FakeCtx as ScreenCtx
from test_screenshots import answer as screen_answer
from test_search import core_up_to
from test_todos import ROWS, complete_todos

TOOLS = {"search", "expenses", "todos", "screenshots"}


def call(home: Path, *calls: tuple[str, dict], between=None, timeout=60) -> dict:
    """Start `mustelid mcp` for ``home`` as an assistant would, list its tools, make ``calls``
    in order (``between(i)`` runs in this process before call i) and return what came back:
    ``{"tools": {name: Tool}, "results": [CallToolResult, ...]}``."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "mustelid", "mcp"],
                                   env={**os.environ, "MUSTELID_HOME": str(home)})
    out: dict = {"results": []}

    async def session() -> None:
        with anyio.fail_after(timeout), open(home / "mcp-stderr.log", "a") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as s:
                    await s.initialize()
                    out["tools"] = {t.name: t for t in (await s.list_tools()).tools}
                    for i, (name, arguments) in enumerate(calls):
                        if between is not None:
                            between(i)
                        out["results"].append(await s.call_tool(name, arguments))

    anyio.run(session)
    return out


def rows(result, key: str) -> list[dict]:
    assert not result.is_error, result.content[0].text
    # The structured answer and the text block an assistant without structured output reads
    # say the same.
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content[key]


def png(path: Path) -> Path:
    Image.new("RGB", (200, 300), "white").save(path)
    return path


@pytest.fixture
def filled(home, tmp_path):
    """A home with a receipt (OCR and model faked, committed by the daemon's own commit path),
    three todos and a described screenshot."""
    with TaskRunner(backend=FakeBackend(good_answer()), ocr=SHOP, now=NOW, home=home) as runner:
        runner.persist(runner.run("receipts", png(tmp_path / "hardware.png")))
    db, ledger = open_store(load_config(), Host())
    complete_todos(db, ledger, ROWS)
    task, result = Screenshots(), Screenshot.model_validate(screen_answer())
    task.check(result, task.prepare(dialog_job(), ScreenCtx(DIALOG)))
    job_id, _ = ledger.enqueue("screenshots", idempotency_key="shot")
    ledger.claim("test", 30, tasks=["screenshots"])
    assert ledger.complete(job_id, "test", result.model_dump(mode="json"),
                           persist=lambda db, row: task.persist(db, row, result))
    db.conn.close()
    # The runner's connections too, then the WAL into the file: nothing of this process may
    # write the database (a checkpoint at a connection's close) while the server reads it.
    gc.collect()
    with contextlib.closing(sqlite3.connect(load_config().db_path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return home


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_each_tool_answers_what_the_listing_prints(filled):
    db_path = filled / "data" / "mustelid.db"
    # The -shm file is left out: it is the WAL's index, where every reader records its place.
    before = {p.name: digest(p) for p in db_path.parent.glob("mustelid.db*")
              if not p.name.endswith("-shm")}
    out = call(filled,
               ("expenses", {}), ("todos", {}), ("todos", {"include_done": True, "limit": 1}),
               ("screenshots", {}), ("screenshots", {"search": "backup", "kind": "error_dialog"}),
               ("screenshots", {"kind": "chat"}),
               ("search", {"query": "hammer"}), ("search", {"query": "hammer", "task": "todos"}),
               ("search", {"query": "plumber", "since": "2000-01-01", "limit": 10_000}),
               ("expenses", {"since": "2026-01-06"}), ("expenses", {"until": "last week"}))
    # Reading wrote nothing: the database and its WAL are byte for byte what they were.
    assert {p.name: digest(p) for p in db_path.parent.glob("mustelid.db*")
            if p.name in before} == before
    tools, results = out["tools"], out["results"]
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.annotations.read_only_hint is True and tool.description
    assert {"query", "task", "since", "until", "limit"} <= set(
        tools["search"].input_schema["properties"])

    [expense] = rows(results[0], "expenses")
    assert rows(results[0], "expenses") == cli_json("expenses")
    assert (expense["merchant"], expense["file"]) == ("CORNER HARDWARE SDN BHD", "hardware.png")
    assert rows(results[1], "todos") == cli_json("todos")
    assert [t["title"] for t in rows(results[1], "todos")][:1] == ["Call the plumber"]
    assert rows(results[2], "todos") == cli_json("todos", "--all", "-n", "1")
    shots = rows(results[3], "screenshots")
    assert shots == cli_json("screenshots") and shots[0]["title"] == "Backup Utility"
    assert [s["job_id"] for s in rows(results[4], "screenshots")] == [shots[0]["job_id"]]
    assert rows(results[5], "screenshots") == []
    # "hammer" is only on the receipt (its OCR text), not in the model's answer.
    [hit] = rows(results[6], "results")
    assert hit == cli_json("search", "hammer")[0] and hit["job_id"] == expense["job_id"]
    assert rows(results[7], "results") == []
    assert rows(results[8], "results") == cli_json("search", "plumber")
    assert rows(results[9], "expenses") == []                   # the receipt is dated 01-05
    assert results[10].is_error and "use YYYY-MM-DD" in results[10].content[0].text


def test_it_reads_beside_a_writer_and_never_writes(filled):
    db_path = filled / "data" / "mustelid.db"
    # The helper every tool reads through: SQLite itself refuses a write on it.
    with McpTools(db_path).read_db() as db:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            db.execute("DELETE FROM todos")
    # A writer holding the write lock (the daemon mid-commit) does not stop a read, and what
    # it has not committed is not seen.
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE todos SET done = 1")
    try:
        out = call(filled, ("todos", {}))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert len(rows(out["results"][0], "todos")) == len(ROWS)


def test_it_sees_what_the_running_daemon_commits(fake_home):
    cli("status")                                       # creates the database
    inbox = fake_home / "inbox"
    inbox.mkdir(exist_ok=True)
    daemon = DaemonProcess(fake_home)

    def drop_a_note(i):
        if i == 1:
            (inbox / "note.txt").write_text("ask the wombat about the invoice")
            wait_for(lambda: any(j["state"] == "done" for j in cli_json("jobs")), timeout=60,
                     what="the note filed", explain=daemon.output)

    try:
        out = call(fake_home, ("search", {"query": "wombat"}), ("search", {"query": "wombat"}),
                   between=drop_a_note, timeout=120)
    finally:
        daemon.stop()
    first, second = (rows(r, "results") for r in out["results"])
    assert first == [] and [h["task"] for h in second] == ["echo"]


def test_a_missing_or_old_database_is_one_clear_line(home):
    db_path = home / "data" / "mustelid.db"
    missing = cli("mcp", check=False)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == (f"Error: no mustelid database at {db_path} yet: run "
                                      "`mustelid run` (or `mustelid status`) once to create it")
    assert not db_path.exists()                         # read-only: it creates nothing

    from mustelid.store import open_db

    db = open_db(db_path)
    with db.conn:
        core_up_to("m009_search_input_text").apply(db)
    db.conn.close()
    old = cli("mcp", check=False)
    assert old.returncode == 1 and "from an older mustelid" in old.stderr
    assert "mustelid status" in old.stderr and len(old.stderr.strip().splitlines()) == 1


def test_a_database_that_goes_away_is_the_tools_error(filled):
    db_path = filled / "data" / "mustelid.db"
    aside = filled / "aside.db"

    def move_it(i):
        if i == 1:
            db_path.rename(aside)

    out = call(filled, ("todos", {}), ("todos", {}), between=move_it)
    assert len(rows(out["results"][0], "todos")) == len(ROWS)
    gone = out["results"][1]
    assert gone.is_error and "no mustelid database at" in gone.content[0].text


PLUGIN = textwrap.dedent('''
    from typing import Annotated
    from pydantic import Field
    from mustelid import hookimpl

    @hookimpl
    def register_mcp_tools(tools):
        @tools.tool("count_jobs", "How many jobs mustelid knows.")
        def count_jobs(state: Annotated[str, Field(description="A job state.")] = "done"):
            from mustelid.records import select
            with tools.read_db() as db:
                return {"count": len(select(db, "jobs", {"state": state}))}

        @tools.tool("big", "Far too much text.")
        def big(limit: int = 10_000):
            window = tools.listing(None, None, limit)
            return {"rows": [{"i": i, "text": "x" * 2000} for i in range(10_000)],
                    "limit": window.limit}

        @tools.tool("blob", "One string far too long to cut.")
        def blob():
            return {"text": "x" * 1_000_000}

        @tools.tool("picky", "Refuses.")
        def picky():
            raise ValueError("that is not something I can answer")

        @tools.tool("search", "A second search: the host's comes first.")
        def search():
            return {}
''')


def test_hook_register_mcp_tools(filled):
    plugins = filled / "plugins"
    plugins.mkdir()
    (plugins / "mcptools.py").write_text(PLUGIN)
    out = call(filled, ("count_jobs", {}), ("big", {}), ("picky", {}),
               ("search", {"query": "hammer"}), ("blob", {}))
    assert set(out["tools"]) == TOOLS | {"count_jobs", "big", "blob", "picky"}
    assert "A job state" in json.dumps(out["tools"]["count_jobs"].input_schema)
    counted, big, picky, search, blob = out["results"]
    assert counted.structured_content == {"count": 3}      # receipt, todos, screenshot
    capped = big.structured_content
    assert capped["truncated"] is True and capped["limit"] == MAX_ROWS
    assert 0 < len(capped["rows"]) < 10_000 and len(json.dumps(capped)) <= MAX_RESULT_CHARS
    assert picky.is_error and "that is not something I can answer" in picky.content[0].text
    assert rows(search, "results")                         # the host's, not the plugin's
    assert blob.is_error and f"longer than {MAX_RESULT_CHARS}" in blob.content[0].text


def test_help_does_not_import_the_sdk(home):
    code = ("import sys; from mustelid.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('MCP', 'mcp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "MCP False" in out and "mcp " in out
