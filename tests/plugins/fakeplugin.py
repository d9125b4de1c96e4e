"""A test plugin, loaded from a plugins folder exactly as a user's ``*.py`` plugin would be.

Task ``echo`` reads a text file and asks backend ``fake`` to return it. The file's first word
steers the fake backend, so tests can provoke every failure from the outside:
CRASH (abort the worker), HANG (never answer), RAISE (plugin bug), BADJSON, TRUNCATE, NAN,
SLOW (answer after 3 s), PAUSE (0.1 s), PERMANENT (task refuses), otherwise a valid answer.
"""

import json
import os
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

    def persist(self, db, job, result):
        db["echoes"].insert({"job_id": job["id"], "text": result.text, "words": result.words})


class FakeBackend:
    model_id = "fake-model"

    def generate(self, messages, schema, max_tokens):
        text = messages[0]["content"]
        word = text.split()[0] if text.split() else ""
        if word == "CRASH":
            os.abort()
        if word == "HANG":
            time.sleep(3600)
        if word == "SLOW":
            time.sleep(3)
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
        out = json.dumps({"text": text.strip()[:200], "words": len(text.split())})
        return Generation(out, "stop", prompt_tokens=len(text.split()), completion_tokens=5,
                          model_id=self.model_id)

    def close(self):
        pass


@hookimpl
def register_tasks(register):
    register(Echo())


@hookimpl
def register_backends(register):
    register("fake", lambda config: FakeBackend())


@hookimpl
def route_file(relpath, mime, config):
    return ["echo"] if relpath.endswith(".txt") else None


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
