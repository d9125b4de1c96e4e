"""``mustelid logs [-f] [-n N]``: the tail of the daemon's log file (``<data dir>/mustelid.log``,
written by ``mustelid.activity``), followed across rotation with ``-f``.

Also how ``mustelid run`` shows the job lines on stderr at the default level: the root handler
keeps the level -v/-vv chose for everything else.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Callable, Iterator, TextIO

import click

from mustelid.cli.app import State, pass_state
from mustelid.cli.output import clean

# Loggers whose INFO lines `mustelid run` prints without -v: one line per job state change,
# and the daemon's own start and stop.
ALWAYS_SHOWN = ("mustelid.jobs", "mustelid.daemon")
FOLLOW_POLL_S = 0.25


class _ShowJobLines(logging.Filter):
    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level and record.name not in ALWAYS_SHOWN:
            return False
        # Messages carry inbox file names: escape what could repaint the terminal. (The log
        # file, written before this handler, keeps them as they are; `mustelid logs` escapes.)
        record.msg, record.args = clean(record.getMessage()), None
        return True


@contextlib.contextmanager
def job_lines_on_stderr(level: int) -> Iterator[None]:
    """While the daemon runs: INFO lines of ``ALWAYS_SHOWN`` reach the root handlers (stderr),
    everything else only at ``level`` (-v, -vv) and above."""
    mustelid = logging.getLogger("mustelid")
    old_level = mustelid.level
    if mustelid.getEffectiveLevel() > logging.INFO:
        mustelid.setLevel(logging.INFO)
    shown = _ShowJobLines(level)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(shown)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(shown)
        mustelid.setLevel(old_level)


def follow(path: Path, count: int, stop: Callable[[], bool] = lambda: False,
           poll: float = FOLLOW_POLL_S) -> Iterator[str]:
    """The last ``count`` lines of ``path``, then each line appended to it until ``stop()``.
    A rotated or truncated file is reopened from its start; a missing one is waited for."""
    f: TextIO | None = None
    ident = None
    partial = ""
    try:
        while not stop():
            if f is None:
                try:
                    f = open(path, encoding="utf-8", errors="replace")
                except FileNotFoundError:
                    time.sleep(poll)
                    continue
                ident = os.fstat(f.fileno()).st_ino
                if count is not None:
                    yield from (line.rstrip("\n") for line in collections.deque(f, maxlen=count))
                    count = None              # a reopened (rotated) file is read from its start
            chunk = f.readline()
            if chunk:
                partial += chunk
                if partial.endswith("\n"):
                    yield partial.rstrip("\n")
                    partial = ""
                continue
            if _replaced(path, ident, f.tell()):
                f.close()
                f = None
                continue
            time.sleep(poll)
    finally:
        if f is not None:
            f.close()


def _replaced(path: Path, ident: int | None, position: int) -> bool:
    """The name now holds another file (rotation), or the file shrank (truncation)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False                          # between the rename and the new file: wait
    return st.st_ino != ident or st.st_size < position


def tail(path: Path, count: int) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n") for line in collections.deque(f, maxlen=count)]


@click.command()
@click.option("-f", "--follow", "following", is_flag=True,
              help="Keep printing lines as the daemon writes them (Ctrl-C stops).")
@click.option("-n", "--lines", "count", default=20, show_default=True,
              type=click.IntRange(min=0), help="How many of the last lines to print.")
@pass_state
def logs(state: State, following: bool, count: int) -> None:
    """Print the end of the daemon's log file (one line per job state change, and warnings)."""
    from mustelid.activity import log_path

    path = log_path(state.config.data_dir)
    if not following:
        if not path.exists():
            raise click.ClickException(f"no log yet at {path}: the daemon writes it while it "
                                       "runs (mustelid run, or mustelid service install)")
        for line in tail(path, count):
            click.echo(clean(line))
        return
    try:
        for line in follow(path, count):
            click.echo(clean(line))
    except KeyboardInterrupt:
        pass
