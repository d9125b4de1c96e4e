"""Images to a model that can see (issue 16): the host's capability plumbing, and the real
llama.cpp vision path on a tiny random-weight language + projector pair (tests/tinyvision.py)."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import textwrap

import pytest
from PIL import Image
from pydantic import BaseModel, Field

from mustelid import Capabilities, Evidence, PermanentError, Task, capabilities, hookimpl
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


# -- llama.cpp: the real vision path on a tiny random-weight pair --------------------------------

pytest.importorskip("gguf")
llama_cpp_lib = pytest.importorskip("llama_cpp")

from mustelid import WaitingError  # noqa: E402
from mustelid.backend import BackendContext  # noqa: E402
from mustelid.config import Config  # noqa: E402
from mustelid.plugins.llama_cpp import LlamaCppBackend  # noqa: E402
from mustelid.tasks import parse_output  # noqa: E402

try:
    from tinyvision import write_tiny_mmproj, write_tiny_vision_pair
except ImportError:  # tests/ imported as a package
    from tests.tinyvision import write_tiny_mmproj, write_tiny_vision_pair

SCHEMA = Seen.model_json_schema()
MESSAGES = [{"role": "system", "content": "Describe pictures."},
            {"role": "user", "content": "What is in the picture?"}]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return write_tiny_vision_pair(tmp_path_factory.mktemp("vlm"))


def vision_config(model, mmproj, **settings) -> Config:
    cfg = Config()
    cfg.model.path = model
    cfg.model.mmproj = mmproj
    cfg.model.threads = 1
    cfg.backend["llama_cpp"] = {"n_ctx": 1024, **settings}
    return cfg


@pytest.fixture(scope="module")
def seeing(pair):
    backend = LlamaCppBackend(BackendContext.from_config(vision_config(*pair)))
    yield backend
    backend.close()


def test_a_model_with_a_projector_sees(seeing, pair):
    assert seeing.capabilities().vision
    info = seeing.info()
    assert info["vision"] and info["mmproj"] == str(pair[1])
    assert info["use_extra_bufts"] is False      # the AMX crash stays avoided (NOTES.md)
    assert "+mmproj@" in seeing.model_id         # answers through a projector are another model's


def test_an_image_is_encoded_and_the_answer_obeys_the_schema(seeing):
    text = seeing.generate(MESSAGES, SCHEMA, 200)
    seen = seeing.generate(MESSAGES, SCHEMA, 200, images=[png(), Image.new("RGB", (900, 60))])
    assert seen.finish_reason == "stop"
    parse_output(Seen, seen)                       # valid JSON of the schema, or it raises
    # The two images became tokens of the prompt (a 28x28 projector input is 4 tokens each).
    assert seen.prompt_tokens >= text.prompt_tokens + 8
    assert seeing.last_perf["images"] == 2 and seeing.last_perf["decoder"] == "grammar+images"


def test_a_text_job_after_an_image_job_reuses_nothing_of_the_image(seeing):
    before = seeing.generate(MESSAGES, SCHEMA, 200)
    seeing.generate(MESSAGES, SCHEMA, 200, images=[png(color="blue")])
    after = seeing.generate(MESSAGES, SCHEMA, 200)
    assert after.text == before.text              # greedy: the same prompt, the same answer


@pytest.mark.parametrize("handler", ["Llava15ChatHandler", "Qwen25VLChatHandler"])
def test_other_chat_handlers_also_answer_under_the_grammar(pair, handler):
    backend = LlamaCppBackend(BackendContext.from_config(
        vision_config(*pair, chat_handler=handler)))
    try:
        gen = backend.generate(MESSAGES, SCHEMA, 200, images=[png()])
    finally:
        backend.close()
    assert gen.finish_reason == "stop"
    parse_output(Seen, gen)


def test_a_text_model_refuses_images(pair):
    backend = LlamaCppBackend(BackendContext.from_config(vision_config(pair[0], None)))
    try:
        assert not backend.capabilities().vision
        with pytest.raises(PermanentError) as e:
            backend.generate(MESSAGES, SCHEMA, 200, images=[png()])
    finally:
        backend.close()
    assert e.value.reason == "vision_unavailable"


# A refused projector must be a one-line error, never a crash: run the load in a child process,
# so that a crash would fail the test instead of taking the test run down.
LOAD_SCRIPT = textwrap.dedent("""
    import json, sys
    from mustelid import JobError
    from mustelid.backend import BackendContext
    from mustelid.config import Config
    from mustelid.plugins.llama_cpp import LlamaCppBackend
    cfg = Config()
    cfg.model.path, cfg.model.mmproj, cfg.model.threads = sys.argv[1], sys.argv[2], 1
    cfg.model.mmproj_sha256 = sys.argv[3] or None
    cfg.backend["llama_cpp"] = {"n_ctx": 512, "chat_handler": sys.argv[4]}
    try:
        LlamaCppBackend(BackendContext.from_config(cfg)).close()
        print(json.dumps({"reason": None}))
    except JobError as e:
        print(json.dumps({"reason": e.reason, "message": e.message, "type": type(e).__name__}))
""")


def load_in_child(model, mmproj, sha256="", handler="MTMDChatHandler") -> dict:
    done = subprocess.run([sys.executable, "-c", LOAD_SCRIPT, str(model), str(mmproj), sha256,
                           handler], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_projector_for_another_model_is_refused_with_llama_cpps_reason(pair, tmp_path):
    wrong = write_tiny_mmproj(tmp_path / "wrong-mmproj.gguf", text_embd=48)
    out = load_in_child(pair[0], wrong)
    assert (out["type"], out["reason"]) == ("WaitingError", "mmproj_invalid")
    assert "n_embd = 32" in out["message"] and "n_embd = 48" in out["message"]
    assert "\n" not in out["message"]


def test_a_truncated_projector_is_refused(pair, tmp_path):
    truncated = tmp_path / "truncated-mmproj.gguf"
    data = pair[1].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    out = load_in_child(pair[0], truncated)
    assert out["reason"] == "mmproj_invalid" and str(truncated) in out["message"]


def test_a_text_model_given_as_projector_is_refused(pair):
    assert load_in_child(pair[0], pair[0])["reason"] == "mmproj_invalid"


def test_a_missing_or_altered_projector_waits(pair, tmp_path):
    assert load_in_child(pair[0], tmp_path / "nowhere.gguf")["reason"] == "mmproj_missing"
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello")
    assert load_in_child(pair[0], not_gguf)["reason"] == "mmproj_corrupt"
    assert load_in_child(pair[0], pair[1], sha256="0" * 64)["reason"] == "mmproj_sha_mismatch"
    assert load_in_child(pair[0], pair[1])["reason"] is None        # the right one loads


def test_an_unknown_chat_handler_is_refused(pair):
    out = load_in_child(pair[0], pair[1], handler="NoSuchChatHandler")
    assert out["reason"] == "chat_handler_unknown" and "MTMDChatHandler" in out["message"]


# -- mustelid models add / use / list --------------------------------------------------------------

def mustelid(*args: str):
    from click.testing import CliRunner

    from mustelid.cli import cli

    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSTELID_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_models_add_use_and_list_a_vision_model(home, pair):
    import hashlib

    from mustelid.config import load_config

    out = mustelid("models", "add", str(pair[0]), "--mmproj", str(pair[1]), "--name", "tiny-vlm")
    assert out.exit_code == 0, out.output
    digest = hashlib.sha256(pair[1].read_bytes()).hexdigest()
    assert digest in out.output and "sees images" in out.output

    listed = json.loads(mustelid("models", "list", "--json").output)
    [local] = listed["local"]
    assert (local["name"], local["vision"], local["in_use"]) == ("tiny-vlm", True, False)
    assert local["mmproj_sha256"] == digest
    assert not any(m["vision"] for m in listed["models"])       # no catalog model sees

    out = mustelid("models", "use", "tiny-vlm")
    assert out.exit_code == 0, out.output
    model = load_config().model
    assert (model.path, model.mmproj, model.mmproj_sha256) == (pair[0], pair[1], digest)
    listed = json.loads(mustelid("models", "list", "--json").output)
    assert listed["local"][0]["in_use"]
    table = mustelid("models", "list").output
    assert "tiny-vlm" in table and "yes" in table

    out = mustelid("models", "verify")
    assert out.exit_code == 0 and f"ok projector {pair[1]} sha256 {digest}" in out.output

    # The configured pair loads and sees, checked against the hashes recorded at add.
    backend = LlamaCppBackend(BackendContext.from_config(load_config()))
    try:
        assert backend.capabilities().vision
    finally:
        backend.close()

    # Back to a catalog model: the local paths and hashes go.
    assert mustelid("models", "use", "smollm2-135m").exit_code == 0
    model = load_config().model
    assert model.name == "smollm2-135m" and model.path is None and model.mmproj is None


def test_models_add_refuses_what_is_not_a_gguf(home, pair, tmp_path):
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    out = mustelid("models", "add", str(text))
    assert out.exit_code == 1 and "is not a GGUF file" in out.output
    out = mustelid("models", "add", str(pair[0]), "--mmproj", str(tmp_path / "none.gguf"))
    assert out.exit_code == 1 and "does not exist" in out.output
    out = mustelid("models", "add", str(pair[0]), "--name", "qwen2.5-coder-0.5b")
    assert out.exit_code == 1 and "catalog model" in out.output
    out = mustelid("models", "use", "nothing-here")
    assert out.exit_code == 1 and "registered local models" in out.output
    assert "local" in json.loads(mustelid("models", "list", "--json").output)


# -- screenshots: the picture goes to a model that sees it -----------------------------------------

DIALOG_LINES = ["Backup Utility - Error", "Could not complete the backup.",
                "The disk BACKUP-01 is full (0 bytes free).", "Error code: 0x80070070", "Retry"]


def described(*, vision: bool, lines, reply):
    backend = FakeBackend(reply, vision=vision)
    return backend, TaskRunner([], backend=backend, ocr=lines)


def test_a_screen_without_text_is_described_by_a_model_that_sees(tmp_path):
    picture = tmp_path / "sunset.png"
    picture.write_bytes(png((320, 200), "orange"))
    reply = {"title": "(no text)", "kind": "other", "entity_choices": [], "regions": [],
             "summary": "An orange sky over the sea. Photographed by Anna Berg."}
    backend, runner = described(vision=True, lines=[], reply=reply)
    with runner:
        run = runner.run("screenshots", picture)
    call = backend.calls[0]        # then the grounding re-ask: it sees the picture too
    assert [len(c.images) for c in backend.calls] == [1, 1]
    assert call.images[0].size == (320, 200)
    props = call.schema["properties"]
    assert props["title"]["enum"] == ["(no text)"] and "regions" not in props
    assert "enum" not in props["summary"]       # described, not code's fixed sentence
    assert "attached" in call.messages[-1]["content"]
    assert run.result.title == "(no text)" and run.result.regions == []
    # Grounding unchanged: a name the screen does not show is not kept.
    assert "Anna" not in run.result.summary and "orange sky" in run.result.summary
    assert run.result.ungrounded


def test_a_screen_with_text_gives_a_seeing_model_the_picture_and_the_same_evidence(tmp_path):
    picture = tmp_path / "dialog.png"
    picture.write_bytes(png((800, 500), "white"))
    reply = {"title": "Backup Utility - Error", "kind": "error_dialog", "entity_choices": [],
             "summary": "Backup Utility says the disk BACKUP-01 is full.",
             "regions": [{"text": "Error code: 0x80070070", "label": "error code"}]}
    seeing, runner = described(vision=True, lines=DIALOG_LINES, reply=reply)
    with runner:
        run = runner.run("screenshots", picture)
    blind, runner = described(vision=False, lines=DIALOG_LINES, reply=reply)
    with runner:
        ocr_only = runner.run("screenshots", picture)
    assert len(seeing.calls[0].images) == 1 and blind.calls[0].images == []
    # The same schema and lines either way; only the prompt says the picture is attached.
    assert seeing.calls[0].schema == blind.calls[0].schema
    assert "attached" in seeing.calls[0].messages[-1]["content"]
    assert "attached" not in blind.calls[0].messages[-1]["content"]
    assert run.result.regions[0].box == ocr_only.result.regions[0].box
    assert run.evidence["seen"] is True and "seen" not in ocr_only.evidence


def test_a_screen_without_text_is_recorded_by_code_without_vision(tmp_path):
    """Not refused (a game or a desktop is a real screenshot), and not guessed: every field the
    schema asks for has one allowed value, code's, so no model can invent a description."""
    picture = tmp_path / "sunset.png"
    picture.write_bytes(png((320, 200), "orange"))
    fixed = {"title": "(no text)", "kind": "other", "summary": "A picture: no text was found on it."}
    backend, runner = described(vision=False, lines=[], reply=fixed)
    with runner:
        run = runner.run("screenshots", picture)
    props = backend.calls[0].schema["properties"]
    assert {name: p.get("enum") for name, p in props.items()} == {
        name: [value] for name, value in fixed.items()}
    assert backend.calls[0].images == []
    assert run.result.title == "(no text)" and run.result.kind.value == "other"
    assert run.result.summary == fixed["summary"] and run.result.regions == []
    assert run.result.key_text == [] and run.result.entities == []


def test_a_textless_picture_goes_to_the_only_task_that_can_read_it_with_the_picture(tmp_path):
    picture = tmp_path / "sunset.png"
    picture.write_bytes(png((320, 200), "orange"))
    answer = {"title": "(no text)", "kind": "other", "summary": "An orange sky over the sea."}
    backend = FakeBackend(answer, vision=True)
    with TaskRunner([], backend=backend, ocr=[]) as runner:
        run = runner.run("auto", picture)
    [asked] = backend.calls          # receipts and todos refused it: no kind question
    assert len(asked.images) == 1 and "attached" in asked.messages[-1]["content"]
    assert run.result.task == "screenshots" and run.evidence["route"]["by"] == "evidence"
    assert run.result.arguments["summary"] == "An orange sky over the sea."


class Caption(BaseModel):
    caption: str = Field(max_length=60)


class Photos(Task):
    """A third-party task that looks at any picture (a vision model's): a second candidate."""

    name = "photos"
    function = "caption_photo"
    description = "A photo: caption it."
    Output = Caption

    def prepare(self, job, ctx):
        return Evidence(images=[ctx.load_image(job.path)])


class PhotosPlugin:
    @hookimpl
    def register_tasks(self, register):
        register(Photos())


def test_the_routers_kind_question_shows_a_seeing_model_the_picture(tmp_path, monkeypatch):
    from mustelid.plugins.router import choice

    monkeypatch.setattr(choice, "LIKELY", 1.01)       # neither candidate decides alone
    picture = tmp_path / "sunset.png"
    picture.write_bytes(png((320, 200), "orange"))
    answer = {"title": "(no text)", "kind": "other", "summary": "An orange sky over the sea."}
    backend = FakeBackend({"kind": "screenshots"}, answer, vision=True)
    with TaskRunner([PhotosPlugin()], backend=backend, ocr=[]) as runner:
        run = runner.run("auto", picture)
    question, asked = backend.calls      # which kind it is; then the screenshot's own call
    assert question.schema["properties"]["kind"]["enum"] == ["photos", "screenshots", "other"]
    for call in (question, asked):
        assert len(call.images) == 1 and "attached" in call.messages[-1]["content"]
    assert run.result.task == "screenshots" and run.evidence["route"]["by"] == "model"


def test_the_whole_path_on_the_real_llama_backend_with_the_tiny_pair(pair, tmp_path):
    """Host, screenshots task, llama.cpp with the projector, grammar, checks: a screen without
    text is described by the (random) model, and the answer is a valid, grounded Screenshot."""
    picture = tmp_path / "sunset.png"
    picture.write_bytes(png((640, 400), "orange"))
    config = {"model": {"path": str(pair[0]), "mmproj": str(pair[1]), "threads": 1},
              "backend": {"llama_cpp": {"n_ctx": 4096, "n_ctx_min": 4096}}}
    with TaskRunner([], ocr=[], config=config) as runner:
        run = runner.run("screenshots", picture)
    assert run.result.title == "(no text)" and run.result.summary
    assert "+mmproj@" in run.stats["model_id"]


RECEIPT_LINES = ["CORNER CAFE", "12 High Street", "Date: 03/11/2026", "Latte 3.50",
                 "Croissant 2.20", "TOTAL 5.70", "Thank you"]
NOTE_LINES = ["Todo", "call the plumber tomorrow", "buy milk"]


@pytest.mark.parametrize("task, lines", [("receipts", RECEIPT_LINES), ("todos", NOTE_LINES)])
def test_receipts_and_todos_give_a_seeing_model_the_photo_and_the_same_schema(task, lines,
                                                                              tmp_path):
    picture = tmp_path / "photo.png"
    picture.write_bytes(png((300, 400), "white"))
    asked = {}
    for vision in (True, False):
        backend, runner = described(vision=vision, lines=lines, reply={})
        with runner, contextlib.suppress(PermanentError):   # whether {} passes is not the point
            runner.run(task, picture)
        asked[vision] = backend.calls[0]
    assert len(asked[True].images) == 1 and asked[False].images == []
    assert asked[True].schema == asked[False].schema      # grounding: the same choices


# -- mustelid bench --vision ------------------------------------------------------------------------

def test_bench_reports_the_projectors_encode_time_and_memory(home, pair, tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for n, color in enumerate(["red", "green", "blue"]):
        (folder / f"{n}.png").write_bytes(png((600, 400), color))
    out = mustelid("bench", "--vision", "--json", "--images", str(folder))
    assert out.exit_code == 1 and "no vision model is configured" in out.output

    assert mustelid("models", "add", str(pair[0]), "--mmproj", str(pair[1])).exit_code == 0
    assert mustelid("models", "use", "tiny-vlm").exit_code == 0
    out = mustelid("bench", "--vision", "--json", "--images", str(folder), "--receipts", "2")
    assert out.exit_code == 0, out.output
    report = json.loads(out.output[out.output.index("{"):])
    assert report["encode_s"]["n"] == 2 and report["encode_s"]["median"] >= 0
    assert report["image_tokens"]["median"] == 4        # 28x28 input in 14x14 patches
    assert report["mmproj_rss_mb"] is not None and report["load_s"] > 0


# -- the remote backend: image_url parts, and a probe that the model sees ---------------------------

def picture_colour(payload) -> str | None:
    """What a seeing server would say: the colour of the first image in the request."""
    import base64

    for message in payload["messages"]:
        for part in message["content"] if isinstance(message["content"], list) else []:
            if part["type"] == "image_url":
                data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                r, g, b = Image.open(io.BytesIO(data)).convert("RGB").getpixel((0, 0))
                return "red" if r > b else "blue"
    return None


@pytest.fixture
def openai_server():
    import http.server
    import threading

    servers = []

    def start(sees: bool):
        requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                requests.append(payload)
                schema = payload["response_format"]["json_schema"]["schema"]["properties"]
                colour = picture_colour(payload) if sees else None
                if "answer" in schema:           # the schema-enforcement probe
                    answer = {"answer": "zqx-vormit"}
                elif "colour" in schema:         # the vision probe
                    answer = {"colour": colour or "red"}
                else:
                    answer = {"what": f"a {colour or 'grey'} square"}
                body = json.dumps({"choices": [{"message": {"content": json.dumps(answer)},
                                                "finish_reason": "stop"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/v1", requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def remote(url: str, **settings):
    from mustelid.plugins.remote_backend import RemoteBackend

    cfg = Config()
    cfg.model.backend = "remote"
    cfg.backend["remote"] = {"url": url, **settings}
    return RemoteBackend(BackendContext.from_config(cfg))


def test_remote_sends_images_as_image_url_parts_to_a_server_that_sees(openai_server):
    url, requests = openai_server(sees=True)
    backend = remote(url, vision=True)
    assert backend.capabilities().vision
    gen = backend.generate(MESSAGES, SCHEMA, 64, images=[png(color="red")])
    assert parse_output(Seen, gen).what == "a red square"
    [image, text] = requests[-1]["messages"][-1]["content"]
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert text == {"type": "text", "text": MESSAGES[-1]["content"]}


def test_remote_refuses_vision_from_a_model_that_does_not_see(openai_server):
    url, _ = openai_server(sees=False)
    with pytest.raises(WaitingError) as e:
        remote(url, vision=True)
    assert e.value.reason == "remote_vision_unavailable" and "'red', 'red'" in e.value.message


def test_remote_without_vision_refuses_images_and_sends_nothing(openai_server):
    url, requests = openai_server(sees=True)
    backend = remote(url)
    assert not backend.capabilities().vision
    sent = len(requests)
    with pytest.raises(PermanentError) as e:
        backend.generate(MESSAGES, SCHEMA, 64, images=[png()])
    assert e.value.reason == "vision_unavailable" and len(requests) == sent


def test_the_projector_counts_in_the_model_size_the_budget_and_memory_cap_use(tmp_path):
    """The mmproj is loaded whole beside the model: the supervisor's budget before the worker
    reports its footprint, and the worker's memory cap, must count it."""
    from types import SimpleNamespace

    from mustelid.memory_cap import model_file_size

    model = tmp_path / "m.gguf"
    model.write_bytes(b"\0" * 1000)
    projector = tmp_path / "mmproj.gguf"
    projector.write_bytes(b"\0" * 300)
    assert model_file_size(SimpleNamespace(path=model, name=None, mmproj=None)) == 1000
    assert model_file_size(SimpleNamespace(path=model, name=None, mmproj=projector)) == 1300
