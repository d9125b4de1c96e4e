"""Backend "mlx": lazy import, fail-closed refusal without a grammar engine, and (where mlx runs:
Apple Silicon, or `mlx[cpu]` on Linux) the real backend on a tiny random MLX model made here."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Literal

import pluggy
import pytest
from pydantic import BaseModel, Field

from mustelid import PermanentError, WaitingError, hookspecs
from mustelid.backend import BackendContext
from mustelid.config import Config
from mustelid.tasks import parse_output

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _bytes_to_unicode() -> dict[int, str]:
    # GPT-2's printable stand-ins for the 256 bytes (what a ByteLevel BPE vocabulary holds)
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_tiny_mlx(folder) -> None:
    """A 1-layer random llama in MLX format with a byte-level tokenizer: no download."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {ch: i for i, ch in enumerate(_bytes_to_unicode().values())}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>",
        "chat_template": CHAT_TEMPLATE, "model_max_length": 2048}))
    config = {"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 1,
              "intermediate_size": 128, "num_attention_heads": 2, "num_key_value_heads": 2,
              "rms_norm_eps": 1e-5, "vocab_size": 258, "rope_theta": 10000.0,
              "tie_word_embeddings": False, "eos_token_id": 257}
    (folder / "config.json").write_text(json.dumps(config))
    mx.random.seed(0)
    model = llama.Model(llama.ModelArgs.from_dict(config))
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))


class Note(BaseModel):
    title: str = Field(max_length=12)
    kind: Literal["todo", "idea", "receipt"]
    urgent: bool


def mlx_context(path) -> BackendContext:
    cfg = Config()
    cfg.model.backend = "mlx"
    cfg.model.path = path
    return BackendContext.from_config(cfg)


def test_hook_registers_mlx_without_importing_it():
    code = ("import sys; from mustelid.plugins import mlx_backend\n"
            "print('MLX' if any(m.startswith(('mlx', 'llguidance')) for m in sys.modules)"
            " else 'LAZY')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "LAZY" in out, out
    from mustelid.plugins import mlx_backend

    pm = pluggy.PluginManager("mustelid")
    pm.add_hookspecs(hookspecs)
    pm.register(mlx_backend)
    found = {}
    pm.hook.register_backends(register=lambda name, factory: found.setdefault(name, factory))
    assert set(found) == {"mlx"}


def test_missing_model_folder_waits(tmp_path):
    pytest.importorskip("mlx_lm")
    from mustelid.plugins.mlx_backend import MlxBackend

    with pytest.raises(WaitingError) as e:
        MlxBackend(mlx_context(tmp_path / "absent"))
    assert e.value.reason == "model_missing"


@pytest.fixture(scope="module")
def tiny_mlx(tmp_path_factory):
    pytest.importorskip("mlx.core")
    pytest.importorskip("mlx_lm")
    folder = tmp_path_factory.mktemp("mlx") / "tiny-mlx"
    write_tiny_mlx(folder)
    return folder


@pytest.fixture(scope="module")
def backend(tiny_mlx):
    from mustelid.plugins.mlx_backend import MlxBackend

    b = MlxBackend(mlx_context(tiny_mlx))
    yield b
    b.close()


def test_without_llguidance_schema_jobs_are_refused(backend, monkeypatch):
    from mustelid.plugins import mlx_backend

    monkeypatch.setattr(mlx_backend, "_grammar_engine", lambda: None)
    monkeypatch.setattr(backend, "_lltok", None)
    with pytest.raises(PermanentError) as e:
        backend.generate([{"role": "user", "content": "x"}], Note.model_json_schema(), 50)
    assert e.value.reason == "grammar_unavailable"


@pytest.mark.parametrize("text", ["buy milk", "an idea about sqlite"])
def test_random_mlx_model_under_llguidance_gives_schema_valid_json(backend, text):
    pytest.importorskip("llguidance")
    gen = backend.generate([{"role": "system", "content": "Fill the note."},
                            {"role": "user", "content": text}], Note.model_json_schema(), 120)
    assert gen.finish_reason == "stop", gen
    note = parse_output(Note, gen)
    assert note.kind in ("todo", "idea", "receipt") and len(note.title) <= 12
    assert gen.prompt_tokens > 0 and gen.completion_tokens > 0


def test_unsupported_schema_fails_closed(backend):
    pytest.importorskip("llguidance")
    with pytest.raises(PermanentError) as e:
        backend.generate([{"role": "user", "content": "x"}], {"type": "mystery"}, 20)
    assert e.value.reason == "grammar_unavailable"


def test_release_unloads_and_the_next_job_loads_again(backend):
    pytest.importorskip("llguidance")
    assert backend.memory()["model_resident_bytes"] == backend.model_bytes > 0
    assert backend.release()["released"] and backend.model is None
    assert backend.memory()["model_resident_bytes"] == 0
    gen = backend.generate([{"role": "user", "content": "again"}], Note.model_json_schema(), 120)
    assert backend.model is not None and gen.finish_reason == "stop"
