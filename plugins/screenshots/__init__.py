"""Screenshots: describe a screen capture from its OCR text (``describe_screenshot``).

There is no vision model on these machines (NOTES.md), so the model reads the screen the way the
OCR engine saw it: text lines in reading order, a few image facts, and the signs of each
kind of screen that code can spot (message times in a chat, an address bar, "Error code: ...").
The rule that keeps a 0.5B model honest is the receipts task's: **the model chooses, code copies**.

- The title points at an OCR line by *copying a line*: the per-job schema makes it an enum of
  this screenshot's own lines (only the title bar when code finds one), and code turns the chosen
  line into its text. Why copying rather than line numbers: asked for numbers (an integer enum),
  Qwen 0.5B answered 1, 2, 3, 4, 5.
- Code decides what it can read plainly: the kind when its signs are clear (``kinds``: lines
  led by message times, mail headers, lines of code...), else the model chooses among the kinds
  with signs plus app and other; the title is the window's title bar line when the capture has
  one (``titles``), else a line the model picks; the key lines are the lines that cover what
  recurs on the screen (``salient``); the regions (title and key lines, with their OCR boxes and
  a label code reads off the line) and the entities (URLs, e-mail addresses, dates, amounts and
  names found by regular expressions) are code's too (``regions``). The summary is the model's
  own words, bounded and grounded (``grounding``). The model writes little: on a CPU every
  generated token is a decode step, and prefill of the prompt is most of the rest, so the prompt
  holds the key lines and the top of the screen within a budget, not every line.

The rooms: ``output`` (the function's arguments and the completed result), ``candidates``
(values found by code), ``kinds`` (signs of each kind of screen), ``titles`` (the title bar),
``salient`` (key lines, what the prompt shows), ``regions`` (regions and entities),
``grounding`` (the summary's claims), ``task`` (the ``Screenshots`` task), ``cli``
(``mustelid screenshots``).
"""

from __future__ import annotations

from typing import Any

from mustelid import folder_route, hookimpl

from .output import Entity, Kind, Region, Screenshot, ScreenshotCall
from .task import Screenshots

__all__ = ["Entity", "Kind", "Region", "Screenshot", "ScreenshotCall", "Screenshots"]

INBOX_FOLDER = "screenshots"   # files dropped in <inbox>/screenshots/ unless the config says not


@hookimpl
def register_tasks(register):
    register(Screenshots())


@hookimpl
def route_file(relpath: str, mime: str, config: Any) -> list[str] | None:
    """The default route for ``<inbox>/screenshots/``. A route the user configured for that
    folder (``[inbox.routes]``) wins: this only stands in for the default the config used to
    hold."""
    return folder_route(relpath, config, INBOX_FOLDER, Screenshots.name)


def _migrations():
    # Function-local: sqlite-utils imports numpy, and `mustelid --help` loads every plugin.
    from sqlite_utils import Migrations

    migrations = Migrations("screenshots")

    @migrations()
    def m001_screenshots(db):
        # One row per described screenshot. key_text holds the chosen OCR lines, one a line;
        # entities and regions are JSON lists (regions carry their OCR box on the 0-1000 grid).
        # Full-text search over what a person remembers about a screenshot: its title, the
        # summary and its key lines. Triggers keep the index in step with the table.
        db["screenshots"].create(
            {
                "id": int,
                "job_id": str,
                "file_sha256": str,
                "kind": str,
                "title": str,
                "summary": str,
                "key_text": str,
                "entities": str,
                "regions": str,
                "created": str,     # UTC ISO timestamp
            },
            pk="id",
            not_null={"job_id", "kind", "title"},
        )
        db["screenshots"].create_index(["job_id"], unique=True)
        db["screenshots"].create_index(["kind"])
        db["screenshots"].enable_fts(["title", "summary", "key_text"], create_triggers=True)

    @migrations()
    def m002_foreign_keys(db):
        # A screenshot row names its job and archived file; the keys make both true (RESTRICT:
        # deleting either must not silently take the description). The rebuild keeps ids, so
        # the full-text index (rowid = id) and its triggers stay valid.
        from mustelid.records import add_foreign_keys

        add_foreign_keys(db, "screenshots", {"job_id": "jobs.id", "file_sha256": "files.sha256"})

    return migrations


@hookimpl
def register_migrations(register):
    register(_migrations())
