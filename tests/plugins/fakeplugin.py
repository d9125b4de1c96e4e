"""A test plugin, loaded from a plugins folder exactly as a user's ``*.py`` plugin would be.

Task ``echo`` reads a text file and asks backend ``fake`` to return it. The file's first word
steers the fake backend, so tests can provoke every failure from the outside:
CRASH (abort the worker), SEGV (a real segfault: read address 0), EATMEM (allocate and touch
memory, 64 MiB at a time, until stopped), HANG (never answer), RAISE (plugin bug), BADJSON,
TRUNCATE, NAN,
SLOW (answer after 3 s), PAUSE (0.1 s), PERMANENT (task refuses), REVIEW (a valid answer the
task's check rejects, re-ask and all: the job is held for review), otherwise a valid answer.
Bad-output words (tests/test_bad_output.py): INF (a number the grammar admits that parses to
inf), HUGE (5 MB of JSON), WRONGTYPE, DEEPJSON (100,000 nested arrays), BADONCE (invalid JSON,
then a valid answer to the re-ask), SLOWREASK (invalid JSON, then the re-ask's answer after
8 s: tests/test_stage.py), PERSISTFAIL (valid output; the task's persist raises).
Every generate() call appends the first word to ``$MUSTELID_HOME/fake-generations.log`` so
tests can count generations (re-asks) from the outside.

Task ``imgcheck`` (no model) decodes an image with ``ctx.load_image`` and reports its size;
files under ``images/`` route to it. Task ``stamp`` (no model) is for schedules.

``MUSTELID_TEST_KILL_AFTER_MOVE=1`` makes the daemon SIGKILL itself right after it moved a file
to the done folder: the worst moment for the "move only after a durable commit" rule.
``MUSTELID_TEST_KILL_ON_DONE=1`` makes it SIGKILL itself as a job's ``done`` is reported (after
the commit, before any move).
``MUSTELID_TEST_CLOCK_FILE=PATH`` steps the daemon's wall clock: the file holds an offset in
seconds, read at every call, applied to ``time.time`` and injected as the ledger's and the
scheduler's clock (their seams for tests). ``time.monotonic`` is untouched, as in a real NTP step.
"""

import json
import os
import signal
import time

from pydantic import BaseModel, Field

from mustelid import Evidence, Generation, PermanentError, Task, hookimpl


class EchoOut(BaseModel):
    text: str = Field(max_length=200)
    words: int = Field(ge=0, le=10_000)


class Echo(Task):
    name = "echo"
    function = "echo_text"
    description = "Repeat the text of a file."
    input_kind = "text"
    Output = EchoOut
    accepts = ("text/plain",)

    def prepare(self, job, ctx):
        with open(job.path, encoding="utf-8", errors="replace") as f:
            text = f.read(2000)
        if text.startswith("PERMANENT"):
            raise PermanentError("not_echoable", "the file asked to be refused")
        return Evidence(text=text, data={"chars": len(text)})

    def messages(self, job, evidence, ctx):
        return [{"role": "user", "content": evidence.text}]

    def check(self, result, evidence):
        return ["the file asked to be held for review"] if result.text.startswith("REVIEW") else []

    def persist(self, db, job, result):
        if result.text.startswith("PERSISTFAIL"):
            raise ValueError("a bug in a plugin's persist")
        db["echoes"].insert({"job_id": job["id"], "text": result.text, "words": result.words})


class ImgOut(BaseModel):
    width: int = Field(ge=1, le=1_000_000)
    height: int = Field(ge=1, le=1_000_000)


class ImgCheck(Task):
    """Decodes the image the way every image task does (``ctx.load_image``); no model."""

    name = "imgcheck"
    function = "check_image"
    description = "Decode an image and report its size."
    Output = ImgOut
    uses_model = False
    routable = False

    def prepare(self, job, ctx):
        return Evidence()

    def compute(self, job, evidence, ctx):
        img = ctx.load_image(job.path)
        return ImgOut(width=img.width, height=img.height)


class StampOut(BaseModel):
    key: str = Field(max_length=200)


class Stamp(Task):
    """A scheduled task that records which period it ran for; no model."""

    name = "stamp"
    function = "stamp"
    description = "Record the scheduled period."
    input_kind = "period"
    Output = StampOut
    uses_model = False
    routable = False

    def prepare(self, job, ctx):
        return Evidence()

    def compute(self, job, evidence, ctx):
        return StampOut(key=str(job.params.get("date") or job.params.get("scheduled_for")))


def _log_generation(word):
    home = os.environ.get("MUSTELID_HOME")
    if home:
        with open(os.path.join(home, "fake-generations.log"), "a", encoding="utf-8") as f:
            f.write(word + "\n")


class FakeBackend:
    model_id = "fake-model"

    def generate(self, messages, schema, max_tokens):
        text = messages[0]["content"]
        word = text.split()[0] if text.split() else ""
        _log_generation(word)
        if word == "CRASH":
            os.abort()
        if word == "SEGV":
            import ctypes

            ctypes.string_at(0)
        if word == "EATMEM":
            hoard = []
            while True:   # only the worker's memory cap (MemoryError) or a kill ends this
                hoard.append(bytearray(b"\xa5") * (64 << 20))
        if word == "HANG":
            time.sleep(3600)
        if word == "SLOW":
            time.sleep(3)
        if word == "SLOWER":
            time.sleep(8)   # room for a test's own steps on a loaded machine
        if word == "PAUSE":
            time.sleep(0.1)   # long enough that a random kill often lands mid-job
        if word == "RAISE":
            raise ValueError("a bug in a plugin")
        if word == "BADJSON":
            return Generation("{not json", "stop", model_id=self.model_id)
        if word == "TRUNCATE":
            return Generation('{"text": "abc', "length", model_id=self.model_id)
        if word == "NAN":
            return Generation('{"text": "x", "words": NaN}', "stop", model_id=self.model_id)
        if word == "INF":
            return Generation('{"text": "x", "words": 7777777777777777.6666666666666666E6666666666666666}',
                              "stop", model_id=self.model_id)
        if word == "HUGE":
            return Generation(json.dumps({"text": "x" * 5_000_000, "words": 1}), "stop",
                              model_id=self.model_id)
        if word == "WRONGTYPE":
            return Generation('{"text": 5, "words": "many"}', "stop", model_id=self.model_id)
        if word == "DEEPJSON":
            return Generation("[" * 100_000 + "]" * 100_000, "stop", model_id=self.model_id)
        if word in ("BADONCE", "SLOWREASK") and len(messages) == 1:  # a re-ask: more messages
            return Generation("{not json", "stop", model_id=self.model_id)
        if word == "SLOWREASK":
            time.sleep(8)
        out = json.dumps({"text": text.strip()[:200], "words": len(text.split())})
        return Generation(out, "stop", prompt_tokens=len(text.split()), completion_tokens=5,
                          model_id=self.model_id)

    def close(self):
        pass


@hookimpl
def register_tasks(register):
    register(Echo())
    register(ImgCheck())
    register(Stamp())


@hookimpl
def register_backends(register):
    register("fake", lambda config: FakeBackend())


@hookimpl
def route_file(relpath, mime, config):
    if relpath.startswith("images/"):
        return ["imgcheck"]
    return ["echo"] if relpath.endswith(".txt") else None


@hookimpl
def job_event(job, event):
    if event == "done" and os.environ.get("MUSTELID_TEST_KILL_ON_DONE"):
        os.kill(os.getpid(), signal.SIGKILL)


def _stepped_clock(path):
    real_time = time.time

    def offset():
        try:
            with open(path, encoding="utf-8") as f:
                return float(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0.0

    return lambda: real_time() + offset()


@hookimpl
def startup(daemon):
    clock_file = os.environ.get("MUSTELID_TEST_CLOCK_FILE")
    if clock_file:
        import datetime as dt

        now = _stepped_clock(clock_file)
        time.time = now                 # process-wide: runner, store (called at call time)
        daemon.ledger.clock = now       # bound at construction: inject
        tz = daemon.scheduler.tz
        daemon.scheduler.clock = lambda: dt.datetime.fromtimestamp(now(), tz)
    if os.environ.get("MUSTELID_TEST_KILL_AFTER_MOVE"):
        import mustelid.archive

        real_move = mustelid.archive.move_to_done

        def move_then_die(*args, **kwargs):
            moved = real_move(*args, **kwargs)
            if moved is not None:
                os.kill(os.getpid(), signal.SIGKILL)
            return moved

        mustelid.archive.move_to_done = move_then_die


@hookimpl
def register_migrations(register):
    from sqlite_utils.migrations import Migrations

    m = Migrations("fakeplugin")

    @m()
    def m001_echoes(db):
        db["echoes"].create({"id": int, "job_id": str, "text": str, "words": int}, pk="id")

    register(m)


@hookimpl
def register_commands(cli):
    import click

    @cli.command()
    def echoes():
        """List echoed texts (from the test plugin)."""
        from mustelid.config import load_config
        from mustelid.store import open_db

        db = open_db(load_config().db_path)
        for row in db["echoes"].rows:
            click.echo(row["text"])
