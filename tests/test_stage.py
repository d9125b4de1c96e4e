"""Issue 15, progress: `mustelid status` says which stage the running job is in (reading, ocr,
model, model (re-ask), checking ...), told by the worker over its pipe at each stage change and
published by the daemon; `run --once` shows it beside the bar."""

import os
import subprocess
import time

import pytest
from daemonproc import MUSTELID, DaemonProcess, cli, cli_json, wait_for
from pydantic import BaseModel

from mustelid import Evidence, Task
from mustelid.testing import FakeBackend, TaskRunner


@pytest.fixture
def slow_home(fake_home):
    """The fake home with room for the fake backend's 8-second answers (SLOWER, SLOWREASK)."""
    config = fake_home / "config.toml"
    config.write_text(config.read_text().replace("timeout_seconds = 5", "timeout_seconds = 30"))
    (fake_home / "inbox").mkdir()
    return fake_home


def _stage_of(name):
    """The running entry for file ``name`` once it shows a stage, else None."""
    for job in cli_json("status").get("running", []):
        if job["file"] == name and job["stage"]:
            return job
    return None


def test_status_shows_the_stage_of_the_running_job(slow_home):
    d = DaemonProcess(slow_home)
    try:
        (slow_home / "inbox" / "slow.txt").write_text("SLOWER answer after eight seconds")
        job = wait_for(lambda: (j := _stage_of("slow.txt")) and j["stage"] == "model" and j,
                       40, what="the model stage", explain=d.output)
        assert job["task"] == "echo"
        assert 0 <= job["stage_elapsed_s"] <= job["elapsed_s"] + 1
        text = cli("status").stdout
        assert f"running:  {job['id']} slow.txt -> echo, model for " in text, text
        assert ", running " in text

        # Done: no running entry is left, and so no stale stage either.
        wait_for(lambda: cli_json("jobs")[0]["state"] == "done", 40, what="the job done",
                 explain=d.output)
        info = wait_for(lambda: (i := cli_json("status")) and not i["running"] and i, 10,
                        what="no running job")
        assert info["queue"] == 0
        assert "running:" not in cli("status").stdout
    finally:
        d.stop()


def test_status_says_when_the_model_is_asked_again(slow_home):
    d = DaemonProcess(slow_home)
    try:
        (slow_home / "inbox" / "reask.txt").write_text("SLOWREASK bad JSON first")
        job = wait_for(lambda: (j := _stage_of("reask.txt")) and j["stage"] == "model (re-ask)"
                       and j, 40, what="the re-ask stage", explain=d.output)
        assert job["task"] == "echo" and job["attempt"] == 1
        wait_for(lambda: cli_json("jobs")[0]["state"] == "done", 40, what="the job done",
                 explain=d.output)
    finally:
        d.stop()


class _Read(BaseModel):
    text: str


class OcrThenModel(Task):
    """A task that reads its input with the host's OCR inside ``prepare``, then asks the model."""

    name = "ocr_then_model"
    function = "read_text"
    description = "Read a file with OCR and repeat it."
    Output = _Read
    accepts = ("text/plain",)

    def prepare(self, job, ctx):
        lines = ctx.ocr(job.path)
        return Evidence(text=" ".join(line.text for line in lines))

    def messages(self, job, evidence, ctx):
        return [{"role": "user", "content": evidence.text}]


def test_the_host_marks_its_own_steps_in_order():
    """The stages come from the host (run_job and the worker context's OCR and model loading);
    the task above knows nothing of them."""
    replies = ["{not json", {"text": "TOTAL 4.20"}]
    with TaskRunner(backend=FakeBackend(*replies), ocr=["TOTAL 4.20"]) as runner:
        seen = []
        runner.ctx.on_stage = seen.append
        run = runner.run(OcrThenModel, "an image, as far as the fake OCR is concerned")
    assert run.result.text == "TOTAL 4.20"
    assert seen == ["reading", "ocr", "reading", "model", "loading model", "model",
                    "checking", "model (re-ask)", "checking"]


def test_run_once_shows_the_stage_beside_the_bar(slow_home):
    (slow_home / "inbox" / "slow.txt").write_text("SLOW answer in three seconds")
    master, slave = os.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140"}
    proc = subprocess.Popen([*MUSTELID, "run", "--once"], stdout=subprocess.DEVNULL,
                            stderr=slave, env=env)
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:          # EIO: the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    assert proc.wait(10) == 0
    text = screen.decode("utf-8", "replace")
    assert "slow.txt -> echo" in text and "[model]" in text, text
