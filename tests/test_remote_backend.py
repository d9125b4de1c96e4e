"""Backend "remote" against real HTTP servers on loopback: llama-cpp-python's own server serving
the tiny GGUF (it enforces schemas, in its own dialect), and stdlib fakes that do not."""

from __future__ import annotations

import http.server
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import Literal

import pluggy
import pytest
from pydantic import BaseModel, Field

from mustelid import WaitingError, hookspecs
from mustelid.backend import BackendContext
from mustelid.config import Config
from mustelid.plugins import remote_backend
from mustelid.plugins.remote_backend import PROBE_WORDS, RemoteBackend
from mustelid.tasks import parse_output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def remote_context(url: str, **keys) -> BackendContext:
    cfg = Config()
    cfg.model.backend = "remote"
    cfg.backend["remote"] = {"url": url, **keys}
    return BackendContext.from_config(cfg)


class Fake(http.server.BaseHTTPRequestHandler):
    """An OpenAI-style server whose answers the test controls."""

    answer = staticmethod(lambda payload: '{"answer": "Paris"}')   # ignores every schema
    requests: list = []

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, dict(self.headers), payload))
        body = json.dumps({"choices": [{"message": {"content": self.answer(payload)},
                                        "finish_reason": "stop"}],
                           "usage": {"prompt_tokens": 7, "completion_tokens": 3}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_server():
    servers = []

    def start(answer):
        handler = type("Handler", (Fake,), {"answer": staticmethod(answer), "requests": []})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/v1", handler

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def test_hook_registers_the_remote_backend():
    pm = pluggy.PluginManager("mustelid")
    pm.add_hookspecs(hookspecs)
    pm.register(remote_backend)
    found = {}
    pm.hook.register_backends(register=lambda name, factory: found.setdefault(name, factory))
    assert set(found) == {"remote"}


def test_a_server_that_ignores_the_schema_fails_closed(fake_server):
    url, handler = fake_server(lambda payload: '{"answer": "Paris"}')
    with pytest.raises(WaitingError) as e:
        RemoteBackend(remote_context(url))
    assert e.value.reason == "remote_schema_not_enforced"
    assert "Paris" in e.value.message
    styles = [p["response_format"]["type"] for _, _, p in handler.requests]
    assert styles == ["json_schema", "json_object"]           # every dialect was tried


def test_a_server_that_enforces_one_dialect_is_used_in_that_dialect(fake_server, monkeypatch):
    def answer(payload):
        fmt = payload["response_format"]
        if fmt["type"] != "json_object":           # like llama-cpp-python: ignores json_schema
            return "The capital of France is Paris."
        enum = fmt["schema"].get("properties", {}).get("answer", {}).get("enum")
        return json.dumps({"answer": enum[0]} if enum else {"kind": "idea"})

    url, handler = fake_server(answer)
    monkeypatch.setenv("TEST_REMOTE_KEY", "s3cret")
    b = RemoteBackend(remote_context(url, model="tiny", api_key_env="TEST_REMOTE_KEY"))
    assert b.style == "json_object" and b.model_id.startswith("remote:tiny@127.0.0.1:")
    gen = b.generate([{"role": "user", "content": "x"}], {"type": "object"}, 20)
    assert gen.text == '{"kind": "idea"}' and gen.finish_reason == "stop"
    assert gen.prompt_tokens == 7 and gen.completion_tokens == 3
    path, headers, payload = handler.requests[-1]
    assert path == "/v1/chat/completions" and headers["Authorization"] == "Bearer s3cret"
    assert payload["model"] == "tiny" and payload["temperature"] == 0.0


def test_unreachable_server_and_missing_settings_wait(monkeypatch):
    with pytest.raises(WaitingError) as e:
        RemoteBackend(remote_context(f"http://127.0.0.1:{free_port()}/v1"))
    assert e.value.reason == "remote_unreachable"
    with pytest.raises(WaitingError) as e:
        RemoteBackend(remote_context(None))
    assert e.value.reason == "remote_not_configured"
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(WaitingError) as e:
        RemoteBackend(remote_context("http://127.0.0.1:9/v1", api_key_env="NO_SUCH_KEY_VAR"))
    assert e.value.reason == "remote_api_key_missing"


# -- a real server: llama-cpp-python's, serving the tiny GGUF ------------------------------------

# The server builds its own Llama; on AMX CPUs extra buffer types must be off there too
# (NOTES.md), so it is started through this small wrapper.
SERVER = textwrap.dedent("""
    import sys
    from llama_cpp import llama_cpp as lib
    stock = lib.llama_model_default_params
    def no_extra_bufts():
        p = stock()
        if "use_extra_bufts" in dict(lib.llama_model_params._fields_):
            p.use_extra_bufts = False
        return p
    lib.llama_model_default_params = no_extra_bufts
    from llama_cpp.server.__main__ import main
    sys.argv = ["llama_cpp.server", *sys.argv[1:]]
    main()
""")


class Note(BaseModel):
    # A pattern, not just max_length: llama-cpp-python's converter lets raw control characters
    # into JSON strings (our llama backend patches that; its server does not), and random
    # weights emit them. The host would fail such output closed as invalid_json.
    title: str = Field(pattern=r"^[a-z ]{1,12}$")
    kind: Literal["todo", "idea", "receipt"]
    urgent: bool


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    pytest.importorskip("llama_cpp")
    pytest.importorskip("gguf")
    pytest.importorskip("fastapi", reason="pip install -e '.[server]'")
    pytest.importorskip("uvicorn", reason="pip install -e '.[server]'")
    from tinygguf import write_tiny_gguf

    tiny = write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    port = free_port()
    log = open(tmp_path_factory.mktemp("log") / "server.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, "--model", str(tiny), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "1024", "--n_threads", "1", "--verbose", "false"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"llama_cpp.server exited:\n{log.read()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(10)
    log.close()


def test_real_llama_cpp_server_on_loopback_passes_the_probe_and_fills_schemas(llama_server):
    b = RemoteBackend(remote_context(llama_server))
    # llama-cpp-python ignores the OpenAI json_schema envelope; the probe must find that out
    # and settle on the dialect it does enforce.
    assert b.style == "json_object"
    for text in ("buy milk", "an idea about sqlite"):
        gen = b.generate([{"role": "system", "content": "Fill the note."},
                          {"role": "user", "content": text}], Note.model_json_schema(), 120)
        note = parse_output(Note, gen)   # random weights, yet valid under the schema
        assert note.kind in ("todo", "idea", "receipt")


def test_probe_words_are_nonsense_an_unconstrained_model_would_not_say():
    assert all("-" in w and w.isascii() for w in PROBE_WORDS)


def test_a_redirect_is_not_followed_and_the_key_stays_home(fake_server, monkeypatch):
    """A 302 from the configured server sent `Authorization: Bearer ...` to another host and the
    probe accepted the redirected answer (issue 13 class 4). Now nothing is followed."""
    elsewhere, other = fake_server(lambda payload: '{"answer": "Paris"}')

    class Redirect(Fake):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(302)
            self.send_header("Location", f"{elsewhere}/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("MUSTELID_TEST_KEY", "sk-secret-123")
    try:
        with pytest.raises(WaitingError) as e:
            RemoteBackend(remote_context(f"http://127.0.0.1:{server.server_port}/v1",
                                         api_key_env="MUSTELID_TEST_KEY"))
    finally:
        server.shutdown()
        server.server_close()
    assert e.value.reason == "remote_redirected"
    assert "sk-secret-123" not in e.value.message
    assert other.requests == []                      # the other host never heard from us
