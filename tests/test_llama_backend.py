"""The llama.cpp backend against a tiny random-weight GGUF (milliseconds), and one real model."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from typing import Literal

import pluggy
import pytest
from pydantic import BaseModel, Field

pytest.importorskip("llama_cpp")
pytest.importorskip("gguf")

from mustelid import Backend, PermanentError, WaitingError, hookspecs  # noqa: E402
from mustelid.backend import BackendContext  # noqa: E402
from mustelid.config import Config, load_config  # noqa: E402
from mustelid.models import resolve  # noqa: E402
from mustelid.plugins import llama_cpp  # noqa: E402
from mustelid.plugins.llama_cpp import LlamaCppBackend  # noqa: E402
from mustelid.tasks import parse_output  # noqa: E402

try:
    from tinygguf import write_tiny_gguf
except ImportError:  # tests/ imported as a package
    from tests.tinygguf import write_tiny_gguf


class Note(BaseModel):
    title: str = Field(max_length=12)
    kind: Literal["todo", "idea", "receipt"]
    urgent: bool
    tags: list[str] = Field(max_length=2)


SCHEMA = Note.model_json_schema()
SCHEMA["properties"]["tags"]["items"]["maxLength"] = 6  # keep noise bounded: every field bounded


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


def tiny_config(path, n_ctx=512) -> Config:
    cfg = Config()
    cfg.model.path = path
    cfg.model.threads = 1
    cfg.backend["llama_cpp"] = {"n_ctx": n_ctx}
    return cfg


def tiny_context(path, n_ctx=512) -> BackendContext:
    return BackendContext.from_config(tiny_config(path, n_ctx))


@pytest.fixture(scope="module")
def backend(tiny_path):
    b = LlamaCppBackend(tiny_context(tiny_path))
    yield b
    b.close()


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": "Fill the note."}, {"role": "user", "content": text}]


def test_hook_registers_the_llama_cpp_factory(tiny_path):
    pm = pluggy.PluginManager("mustelid")
    pm.add_hookspecs(hookspecs)
    pm.register(llama_cpp)
    found = {}
    pm.hook.register_backends(register=lambda name, factory: found.setdefault(name, factory))
    assert set(found) == {"llama_cpp"}
    b = found["llama_cpp"](tiny_context(tiny_path))
    try:
        assert isinstance(b, Backend)
    finally:
        b.close()


@pytest.mark.parametrize("text", ["buy milk", "an idea about sqlite", "TOTAL 7.30 EUR " * 5])
def test_random_weights_under_the_grammar_still_give_schema_valid_json(backend, text):
    gen = backend.generate(ask(text), SCHEMA, max_tokens=200)
    assert gen.finish_reason == "stop", gen
    note = parse_output(Note, gen)  # the host's own fail-closed parser
    assert len(note.title) <= 12 and len(note.tags) <= 2
    assert gen.prompt_tokens == backend.count_prompt_tokens(ask(text)) > 0
    assert gen.completion_tokens > 0 and gen.seconds > 0
    assert gen.model_id == backend.model_id


def test_model_id_is_name_and_sha_prefix_and_stable(backend, tiny_path):
    sha = hashlib.sha256(tiny_path.read_bytes()).hexdigest()
    assert backend.model_id == f"tiny@{sha[:12]}"
    assert resolve(tiny_config(tiny_path)).model_id == backend.model_id


def test_extra_buffer_types_are_off_and_info_reports_it(backend, tiny_path):
    assert backend.llm.model_params.use_extra_bufts is False
    info = backend.info()
    assert info["use_extra_bufts"] is False
    assert info["path"] == str(tiny_path) and info["n_ctx"] == 512 and info["threads"] == 1
    assert "CPU" in info["system_info"] or "AVX" in info["system_info"]
    # the patch is scoped to the constructor
    from llama_cpp import llama_cpp as lib

    assert lib.llama_model_default_params().use_extra_bufts is True


def test_unconvertible_schema_fails_closed_without_generating(backend, monkeypatch):
    monkeypatch.setattr(
        backend.llm, "create_chat_completion", lambda **kw: pytest.fail("generated")
    )
    for schema in (
        {"type": "mystery"},
        {"$ref": "https://example.com/s.json"},
        {"$ref": "#/$defs/gone"},
    ):
        with pytest.raises(PermanentError) as e:
            backend.generate(ask("x"), schema, max_tokens=20)
        assert e.value.reason == "grammar_unavailable"


@pytest.mark.parametrize("pattern", [r"^\d{4}$", r"^a\.b$"])
def test_regex_escapes_the_converter_mangles_fail_closed(backend, pattern):
    # The bundled converter copies these escapes into GBNF, which llama.cpp cannot parse;
    # unchecked, that NULL grammar sampler crashes the process at the first token.
    with pytest.raises(PermanentError) as e:
        backend.generate(ask("x"), {"type": "string", "pattern": pattern}, max_tokens=20)
    assert e.value.reason == "grammar_unavailable"


def test_grammar_llama_cpp_rejects_fails_closed(backend, monkeypatch):
    # A NULL grammar sampler would crash or run unconstrained; it must be caught before sampling.
    import mustelid.plugins.llama_cpp.grammar as grammar

    monkeypatch.setattr(grammar, "schema_to_gbnf", lambda *a, **kw: "root ::= undefined-rule")
    monkeypatch.setattr(
        backend.llm, "create_chat_completion", lambda **kw: pytest.fail("generated")
    )
    with pytest.raises(PermanentError) as e:
        backend.generate(ask("x"), {"type": "string", "maxLength": 3}, max_tokens=20)
    assert e.value.reason == "grammar_unavailable"


def test_prompt_longer_than_the_context_is_refused(backend):
    with pytest.raises(PermanentError) as e:
        backend.generate(ask("x" * 600), SCHEMA, max_tokens=50)  # byte vocab: ~1 token per char
    assert e.value.reason == "input_too_long"


def test_prompt_that_leaves_no_room_for_the_output_is_refused(backend):
    messages = ask("y" * 300)
    assert backend.count_prompt_tokens(messages) < 512
    with pytest.raises(PermanentError) as e:
        backend.generate(messages, SCHEMA, max_tokens=300)
    assert e.value.reason == "input_too_long"


def test_missing_model_waits(tmp_path):
    with pytest.raises(WaitingError) as e:
        LlamaCppBackend(tiny_context(tmp_path / "absent.gguf"))
    assert e.value.reason == "model_missing"


@pytest.mark.parametrize("table, key", [({"n_ctx": 10}, "n_ctx"), ({"kv_type": "f32"}, "kv_type"),
                                        ({"n_ctxx": 4096}, "n_ctxx")])
def test_bad_backend_settings_wait_naming_the_key(tiny_path, table, key):
    cfg = tiny_config(tiny_path)
    cfg.backend["llama_cpp"] = table
    with pytest.raises(WaitingError) as e:
        LlamaCppBackend(BackendContext.from_config(cfg))
    assert e.value.reason == "backend_config_invalid"
    assert e.value.message.startswith(f"[backend.llama_cpp] {key}:")


def test_close_frees_and_is_idempotent(tiny_path):
    b = LlamaCppBackend(tiny_context(tiny_path))
    b.close()
    assert b.llm is None
    b.close()


REAL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from mustelid.backend import BackendContext
    from mustelid.config import load_config
    from mustelid.plugins.llama_cpp import LlamaCppBackend
    cfg = load_config()
    cfg.model.threads = 1
    cfg.backend["llama_cpp"] = {**cfg.backend.get("llama_cpp", {}), "n_ctx": 1024}
    ctx = BackendContext.from_config(cfg, "llama_cpp")
    b = LlamaCppBackend(ctx, verbose=True)   # verbose: llama.cpp's load log goes to stderr
    g = b.generate(json.loads(sys.argv[1]), json.loads(sys.argv[2]), 120)
    print(json.dumps({"text": g.text, "finish_reason": g.finish_reason, "model_id": g.model_id,
                      "extra_bufts": b.info()["use_extra_bufts"]}))
    b.close()
    """
)


class Receipt(BaseModel):
    merchant: str = Field(max_length=40)
    # [0-9], not \d: the bundled converter emits "\d" literally and llama.cpp rejects the grammar
    date: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    total: float
    currency: str = Field(pattern=r"^[A-Z]{3}$")


@pytest.mark.real
def test_real_default_model_fills_a_receipt_without_crashing(real_model):
    resolved = resolve(load_config())
    messages = [
        {"role": "system", "content": "Extract the receipt as JSON. Dates as YYYY-MM-DD."},
        {
            "role": "user",
            "content": "BLUE FOX CAFE\n17/03/2024 12:41\n1 Latte 4.20\n1 Bagel 3.10\n"
            "TOTAL EUR 7.30\nThank you!",
        },
    ]
    # A subprocess: the AMX failure mode is a segfault, which must fail this test, not kill pytest.
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            REAL_SCRIPT,
            json.dumps(messages),
            json.dumps(Receipt.model_json_schema()),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"worker died ({done.returncode}):\n{done.stderr[-3000:]}"
    buffers = [line for line in done.stderr.splitlines() if "model buffer size" in line]
    assert buffers and all("CPU_Mapped" in line for line in buffers), buffers  # no CPU_REPACK / AMX
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["extra_bufts"] is False
    assert out["model_id"] == resolved.model_id
    assert out["finish_reason"] == "stop"
    receipt = Receipt.model_validate_json(out["text"])
    assert receipt.total == pytest.approx(7.30)
    assert "FOX" in receipt.merchant.upper()


def test_grammar_strings_exclude_raw_control_characters(backend):
    # Regression: the bundled converter admitted them and random weights produced invalid JSON.
    grammar = backend.grammar_for({"type": "string", "maxLength": 5})
    assert r'char ::= [^"\\\x7F\x00-\x1F] |' in grammar._grammar
