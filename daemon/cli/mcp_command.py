"""``mustelid mcp``: a read-only MCP server on stdin/stdout, so that local AI assistants can ask
what mustelid filed.

The host serves ``search`` (the index ``mustelid search`` uses); plugins add their own tools
through the ``register_mcp_tools`` hook (the built-ins: expenses, todos, screenshots), written
with the same store queries as their listings, so a tool answers what ``--json`` prints.

Read-only for real: every call opens the database with SQLite's ``mode=ro`` and closes it again,
so no write can happen even by mistake, the daemon may run or not, and each call sees the latest
commit. The ``mcp`` SDK is imported when the command runs, never for ``mustelid --help``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import sqlite3
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator

import click
from pydantic import Field

from mustelid import __version__
from mustelid.cli.app import State, pass_state
from mustelid.cli.listing import Listing, _day, instant

log = logging.getLogger("mustelid.mcp")

MAX_ROWS = 200                  # the most rows one call returns, whatever limit it asks for
# The most characters of JSON one call returns: an assistant's context is small, and a few
# hundred receipts with their items would fill it. Rows past it are dropped, "truncated" set.
MAX_RESULT_CHARS = 100_000

INSTRUCTIONS = (
    "mustelid reads the images and notes a person drops in a folder (receipts, screenshots, "
    "notes...) with a small local model and files what they say. These tools read what it "
    "filed; none changes anything. Dates are local days (YYYY-MM-DD) or times "
    "(YYYY-MM-DDTHH:MM).")

Since = Annotated[str | None, Field(
    description="Only from this day on: YYYY-MM-DD or YYYY-MM-DDTHH:MM, local time.")]
Until = Annotated[str | None, Field(
    description="Only up to the end of this day: YYYY-MM-DD or YYYY-MM-DDTHH:MM, local time.")]


class McpTools:
    """The tool registry ``register_mcp_tools`` receives (``mustelid.hookspecs.McpTools``)."""

    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self.tools: dict[str, tuple[Callable[..., dict[str, Any]], str]] = {}

    def tool(self, name: str, description: str) -> Callable:
        def add(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
            if name in self.tools:
                log.warning("MCP tool %s registered twice; keeping the first", name)
            else:
                self.tools[name] = (fn, description)
            return fn

        return add

    @contextlib.contextmanager
    def read_db(self) -> Iterator[Any]:
        """The database, read-only, for one call."""
        db = open_readonly(self.db_path)
        try:
            yield db
        finally:
            db.conn.close()

    def listing(self, since: str | None, until: str | None, limit: int) -> Listing:
        """``since``/``until`` read as the CLI's ``--since``/``--until``; the limit capped."""
        try:
            return Listing(fmt="json", limit=max(1, min(limit, MAX_ROWS)),
                           since=since and instant(since, end_of_day=False),
                           until=until and instant(until, end_of_day=True),
                           since_day=since and _day(since), until_day=until and _day(until))
        except click.BadParameter as e:
            raise ValueError(e.message) from None


class NoDatabase(ValueError):
    """The database is not there (yet), or is not one: said in one line, what to do."""


def open_readonly(path: Path) -> Any:
    from mustelid.store.db import open_db_readonly

    try:
        if path.is_file() and path.stat().st_size == 0:
            raise NoDatabase(f"the database {path} is empty (0 bytes); run `mustelid run` to "
                             "start a new one, or restore a backup there")
        return open_db_readonly(path)
    except FileNotFoundError:
        raise NoDatabase(f"no mustelid database at {path} yet: run `mustelid run` (or "
                         "`mustelid status`) once to create it") from None


def add_search_tool(tools: McpTools, task_names: list[str]) -> None:
    """The host's own tool: full-text search over every result and its input's text."""

    @tools.tool("search", "Full-text search over everything mustelid filed: each stored answer "
                "and the text of the input it was read from (the OCR text of an image, a note's "
                "lines). Best match first, with a snippet, the task, the file and the job ID. "
                "The same as `mustelid search`. Tasks here: " + ", ".join(task_names) + ".")
    def search(
        query: Annotated[str, Field(description="Words to find (all must match), e.g. 'taxi'.")],
        task: Annotated[str | None, Field(description=(
            "Only results of this task (one of those the tool's description names)."))] = None,
        since: Since = None, until: Until = None,
        limit: Annotated[int, Field(description=f"At most this many (up to {MAX_ROWS}).")] = 20,
    ) -> dict[str, Any]:
        from mustelid.store.search import search as run_search

        window = tools.listing(since, until, limit)
        with tools.read_db() as db:
            rows = run_search(db, query, task=task, since=window.since, until=window.until,
                              limit=window.limit)
        return {"results": rows}


def capped(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` as plain JSON values (as ``--json`` prints them: unknown types as strings),
    its lists cut from the end so the whole stays under ``MAX_RESULT_CHARS``."""
    result = json.loads(json.dumps(result, default=str))
    if len(json.dumps(result)) <= MAX_RESULT_CHARS:
        return result
    lists = [k for k, v in result.items() if isinstance(v, list)]
    budget = MAX_RESULT_CHARS - len(json.dumps({**result, **{k: [] for k in lists},
                                                "truncated": True}))
    for key in lists:
        kept = []
        for row in result[key]:
            budget -= len(json.dumps(row)) + 2          # ", " between rows
            if budget < 0:
                break
            kept.append(row)
        result[key] = kept
    result["truncated"] = True
    if len(json.dumps(result)) > MAX_RESULT_CHARS:       # not rows in a list: nothing to cut
        raise ValueError(f"the answer is longer than {MAX_RESULT_CHARS} characters; ask for "
                         "less")
    return result


def guarded(fn: Callable[..., dict[str, Any]], db_path: Path) -> Callable[..., dict[str, Any]]:
    """``fn`` as the SDK calls it: a ``ValueError`` or a database error becomes the tool's
    one-line error (the SDK shows other exceptions' text to nobody), the result is capped."""
    from mcp.server.mcpserver.exceptions import ToolError

    from mustelid.home import database_error

    @functools.wraps(fn)
    def call(**arguments: Any) -> dict[str, Any]:
        try:
            return capped(fn(**arguments))
        except ValueError as e:
            raise ToolError(str(e)) from None
        except sqlite3.Error as e:
            raise ToolError(database_error(db_path, e) or
                            f"the database {db_path} cannot be read ({e})") from None

    # The SDK reads the input schema from the signature, and sends a structured result only
    # when the return annotation says what it is: a dict, whether the plugin wrote it or not.
    call.__signature__ = inspect.signature(fn, eval_str=True).replace(  # type: ignore[attr-defined]
        return_annotation=dict[str, Any])
    return call


def build_server(tools: McpTools) -> Any:
    from mcp.server.mcpserver import MCPServer
    from mcp.types import ToolAnnotations

    server = MCPServer("mustelid", version=__version__, instructions=INSTRUCTIONS,
                       log_level="WARNING")
    read_only = ToolAnnotations(readOnlyHint=True, destructiveHint=False, idempotentHint=True,
                                openWorldHint=False)
    for name, (fn, description) in tools.tools.items():
        server.add_tool(guarded(fn, tools.db_path), name=name, description=description,
                        annotations=read_only)
    return server


def check_database(state: State, tools: McpTools) -> None:
    """Refuse to start, in one line, on a database that is missing or older than this mustelid
    (the server cannot upgrade it: it never writes)."""
    from mustelid.store.migrations import core

    try:
        with tools.read_db() as db:
            if core.pending(db):
                raise NoDatabase(f"the database {tools.db_path} is from an older mustelid; run "
                                 "`mustelid status` once to upgrade it, then start this again")
            for migrations in state.host.migrations():
                if migrations.pending(db):
                    log.warning("the tables of %s are not migrated yet; its tools may fail "
                                "until `mustelid status` upgrades them", migrations.name)
    except sqlite3.DatabaseError as e:
        raise NoDatabase(f"the database {tools.db_path} cannot be read ({e})") from None


@click.command()
@pass_state
def mcp(state: State) -> None:
    """Serve what mustelid filed to local AI assistants: a read-only MCP server on stdin and
    stdout (tools: search, expenses, todos, screenshots and any plugin's)."""
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        raise click.ClickException("`mustelid mcp` needs the MCP SDK: pip install "
                                   "'mustelid[mcp]'") from None
    tools = McpTools(state.config.db_path)
    try:
        check_database(state, tools)
    except NoDatabase as e:
        raise click.ClickException(str(e)) from None
    add_search_tool(tools, sorted(state.host.tasks))
    state.host.each("register_mcp_tools", tools=tools)
    build_server(tools).run("stdio")
