"""Images to a model that can see (issue 16): the host's capability plumbing, and the real
llama.cpp vision path on a tiny random-weight language + projector pair (tests/tinyvision.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import pytest
from PIL import Image
from pydantic import BaseModel, Field

from mustelid import Capabilities, Evidence, PermanentError, Task, capabilities
from mustelid.backend import model_images, refuse_images
from mustelid.testing import FakeBackend, TaskRunner


class Seen(BaseModel):
    what: str = Field(max_length=20)


class LookTask(Task):
    """A task that gives the model the picture itself."""

    name = "look"
    function = "describe_picture"
    description = "Describe a picture."
    Output = Seen
    prompt = "look"

    def prepare(self, job, ctx):
        return Evidence(text="", images=[ctx.load_image(job.path)])

    def messages(self, job, evidence, ctx):
        return [{"role": "user", "content": "What is in the picture?"}]


def png(size=(40, 30), color="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


# -- the host: capabilities, image preparation, fail-closed --------------------------------------

def test_a_backend_without_capabilities_is_text_only():
    class Old:
        model_id = "old"

    assert capabilities(Old()) == Capabilities(vision=False)
    assert capabilities(FakeBackend({}, vision=True)).vision


def test_model_images_are_upright_rgb_and_downscaled():
    # A 400x100 picture stored sideways: EXIF orientation 6 says "rotate 90 degrees clockwise".
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.new("RGBA", (400, 100), "blue").save(buffer, "PNG", exif=exif)
    sideways = buffer.getvalue()
    [out] = model_images([sideways], max_side=200)
    with Image.open(io.BytesIO(out)) as im:
        assert im.format == "PNG" and im.mode == "RGB"
        assert im.size == (50, 200)        # turned upright, then the long side fitted to 200
    [small] = model_images([Image.new("RGB", (30, 20))], max_side=200)
    assert Image.open(io.BytesIO(small)).size == (30, 20)   # never enlarged


def test_model_images_refuse_what_is_not_an_image():
    with pytest.raises(PermanentError) as e:
        model_images([b"not an image at all"])
    assert e.value.reason == "unreadable_image"


def test_refuse_images_names_the_backend():
    refuse_images("remote", [])      # nothing given: nothing to refuse
    with pytest.raises(PermanentError) as e:
        refuse_images("remote", [b"x"])
    assert e.value.reason == "vision_unavailable" and "'remote'" in e.value.message


def test_an_image_task_on_a_backend_that_cannot_see_fails_closed(tmp_path):
    picture = tmp_path / "p.png"
    picture.write_bytes(png())
    backend = FakeBackend({"what": "a red square"})
    with TaskRunner([], backend=backend) as runner, pytest.raises(PermanentError) as e:
        runner.run(LookTask, picture)
    assert e.value.reason == "vision_unavailable"
    assert backend.calls == []       # the model was never asked without its picture


def test_an_image_task_gives_a_seeing_backend_the_picture(tmp_path):
    picture = tmp_path / "p.png"
    picture.write_bytes(png())
    backend = FakeBackend({"what": "a red square"}, vision=True)
    with TaskRunner([], backend=backend) as runner:
        run = runner.run(LookTask, picture)
    assert run.result.what == "a red square"
    [call] = backend.calls
    [image] = call.images
    assert image.size == (40, 30) and image.getpixel((0, 0)) == (255, 0, 0)
    assert "images" not in run.evidence      # pictures go to the model, not into the database
