"""Backend "mlx" with a vision model: the real mlx-vlm path (where mlx runs: Apple Silicon, or
`mlx[cpu]` on Linux) on a tiny random Qwen2-VL made here, answers under the llguidance mask,
and the fail-closed refusals (mlx-vlm absent, vision weights missing or broken)."""

from __future__ import annotations

import builtins
import io
import json
import shutil
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from mustelid import PermanentError, WaitingError
from mustelid.tasks import capabilities, parse_output
from test_mlx_backend import Note, _bytes_to_unicode, mlx_context, write_tiny_mlx

# Qwen2-VL's chat format: an image is its pad token between the vision markers; the processor
# widens the pad to as many tokens as the image's patches after merging.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
           "<|image_pad|>", "<|video_pad|>"]          # ids 256..261 after the 256 bytes
PATCH, MERGE = 14, 2


def write_tiny_qwen2_vl(folder) -> None:
    """A 1-layer random Qwen2-VL (vision tower, merger and language model) in MLX format, with
    a byte-level tokenizer and Qwen's image processor settings for small images: no download."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_vlm.models import qwen2_vl
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {ch: i for i, ch in enumerate(_bytes_to_unicode().values())}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIAL)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|im_end|>",
        "chat_template": CHAT_TEMPLATE, "model_max_length": 4096}))
    side = PATCH * MERGE
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "Qwen2VLImageProcessor", "patch_size": PATCH,
        "merge_size": MERGE, "temporal_patch_size": 2,
        "min_pixels": (2 * side) ** 2, "max_pixels": (4 * side) ** 2,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}))
    config = {"model_type": "qwen2_vl", "hidden_size": 64, "num_hidden_layers": 1,
              "intermediate_size": 128, "num_attention_heads": 2, "num_key_value_heads": 2,
              "rms_norm_eps": 1e-6, "vocab_size": 262, "rope_theta": 10000.0,
              # 3-D rotary positions (time, height, width) over the 16 frequency pairs of a head
              "rope_scaling": {"type": "mrope", "mrope_section": [4, 6, 6]},
              "tie_word_embeddings": False, "eos_token_id": 257,
              "vision_start_token_id": 258, "image_token_id": 260, "video_token_id": 261,
              "vision_config": {"model_type": "qwen2_vl", "depth": 1, "embed_dim": 32,
                                "hidden_size": 64, "num_heads": 2, "mlp_ratio": 2,
                                "patch_size": PATCH, "spatial_merge_size": MERGE,
                                "temporal_patch_size": 2, "in_channels": 3}}
    (folder / "config.json").write_text(json.dumps(config))
    args = qwen2_vl.ModelConfig.from_dict(dict(config))
    args.text_config = qwen2_vl.TextConfig.from_dict(args.text_config)
    args.vision_config = qwen2_vl.VisionConfig.from_dict(config["vision_config"])
    mx.random.seed(0)
    model = qwen2_vl.Model(args)
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(model.parameters())))


def png(color: tuple[int, int, int], size=(90, 60)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


class Seen(BaseModel):
    what: Literal["text", "photo", "chart", "blank"]
    colour: str = Field(max_length=10)
    count: int = Field(ge=0, le=9)


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory):
    pytest.importorskip("mlx.core")
    pytest.importorskip("mlx_vlm")
    pytest.importorskip("llguidance")
    folder = tmp_path_factory.mktemp("mlx-vlm") / "tiny-qwen2-vl"
    write_tiny_qwen2_vl(folder)
    return folder


@pytest.fixture(scope="module")
def backend(tiny_vlm):
    from mustelid.plugins.mlx_backend import MlxBackend

    b = MlxBackend(mlx_context(tiny_vlm))
    yield b
    b.close()


def test_a_vision_model_is_loaded_by_mlx_vlm_and_can_see(backend):
    from mlx_vlm.models.qwen2_vl import Model

    assert isinstance(backend.model, Model) and backend.vision
    assert capabilities(backend).vision is True
    assert backend.memory()["model_resident_bytes"] == backend.model_bytes > 0


@pytest.mark.parametrize("color", [(220, 30, 30), (20, 20, 200)])
def test_an_image_answer_fits_the_schema(backend, color):
    gen = backend.generate([{"role": "system", "content": "Describe the image."},
                            {"role": "user", "content": "What is on it?"}],
                           Seen.model_json_schema(), 120, images=[png(color)])
    assert gen.finish_reason == "stop", gen
    seen = parse_output(Seen, gen)
    assert seen.what in ("text", "photo", "chart", "blank") and 0 <= seen.count <= 9
    # The image is in the prompt: Qwen2-VL's processor widened its pad token to its patches.
    text_only = backend.generate([{"role": "system", "content": "Describe the image."},
                                  {"role": "user", "content": "What is on it?"}],
                                 Seen.model_json_schema(), 120)
    assert gen.prompt_tokens > text_only.prompt_tokens
    assert text_only.finish_reason == "stop"
    parse_output(Seen, text_only)


def test_the_image_reaches_the_model(backend):
    """Greedy decoding of a random model: only what it was shown can change its answer."""
    messages = [{"role": "user", "content": "Describe."}]
    answers = {backend.generate(messages, Seen.model_json_schema(), 120,
                                images=[png(color, (300, 200))]).text
               for color in [(255, 255, 255), (0, 0, 0), (255, 0, 0), (0, 160, 0)]}
    assert len(answers) > 1, answers


def test_images_are_encoded_and_measured(backend):
    rows = backend.measure_images([png((10, 200, 10), (200, 120)), png((0, 0, 0), (60, 60))])
    assert all(r["encode_s"] > 0 for r in rows)
    # 200x120 -> Qwen's resize to a multiple of 28 within max_pixels -> patches / MERGE**2
    assert rows[0]["image_tokens"] > rows[1]["image_tokens"] > 0


def test_a_schema_llguidance_cannot_compile_fails_closed(backend):
    with pytest.raises(PermanentError) as e:
        backend.generate([{"role": "user", "content": "x"}], {"type": "mystery"}, 20,
                         images=[png((1, 2, 3))])
    assert e.value.reason == "grammar_unavailable"


def test_without_llguidance_images_are_refused_not_answered(backend, monkeypatch):
    from mustelid.plugins import mlx_backend

    monkeypatch.setattr(mlx_backend, "_grammar_engine", lambda: None)
    monkeypatch.setattr(backend, "_lltok", None)
    with pytest.raises(PermanentError) as e:
        backend.generate([{"role": "user", "content": "x"}], Note.model_json_schema(), 50,
                         images=[png((1, 2, 3))])
    assert e.value.reason == "grammar_unavailable"


def test_release_unloads_and_the_next_image_loads_again(backend):
    assert backend.release()["unloaded"] and backend.model is None
    gen = backend.generate([{"role": "user", "content": "again"}], Seen.model_json_schema(),
                           120, images=[png((9, 9, 9))])
    assert backend.model is not None and backend.processor is not None
    assert gen.finish_reason == "stop"


def test_a_text_model_still_refuses_images(tmp_path):
    pytest.importorskip("mlx_lm")
    pytest.importorskip("llguidance")
    from mustelid.plugins.mlx_backend import MlxBackend

    write_tiny_mlx(tmp_path / "text")
    b = MlxBackend(mlx_context(tmp_path / "text"))
    try:
        assert capabilities(b).vision is False and not b.vision
        with pytest.raises(PermanentError) as e:
            b.generate([{"role": "user", "content": "x"}], Note.model_json_schema(), 20,
                       images=[png((1, 2, 3))])
        assert e.value.reason == "vision_unavailable"
        assert b.generate([{"role": "user", "content": "milk"}], Note.model_json_schema(),
                          120).finish_reason == "stop"
    finally:
        b.close()


def test_without_mlx_vlm_a_vision_model_is_refused_in_one_line(tiny_vlm, monkeypatch):
    from mustelid.plugins.mlx_backend import MlxBackend

    real_import = builtins.__import__

    def no_mlx_vlm(name, *args, **kwargs):
        if name == "mlx_vlm" or name.startswith("mlx_vlm."):
            raise ImportError("No module named 'mlx_vlm'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlx_vlm)
    with pytest.raises(WaitingError) as e:
        MlxBackend(mlx_context(tiny_vlm))
    assert e.value.reason == "vision_unavailable"
    assert "mlx-vlm is not installed" in e.value.message and "\n" not in e.value.message
    assert str(tiny_vlm) in e.value.message


def _broken_copy(tiny_vlm, tmp_path, edit) -> object:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_vlm, folder)
    edit(folder)
    return folder


def _without_vision_weights(folder) -> None:
    import mlx.core as mx

    weights = mx.load(str(folder / "model.safetensors"))
    mx.save_safetensors(str(folder / "model.safetensors"),
                        {k: v for k, v in weights.items() if "vision_tower" not in k})


def _vision_weights_of_another_model(folder) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["vision_config"]["embed_dim"] = 48      # the weights on disk are 32 wide
    (folder / "config.json").write_text(json.dumps(config))


def _no_image_processor(folder) -> None:
    (folder / "preprocessor_config.json").unlink()
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = "no_such_vlm"
    (folder / "config.json").write_text(json.dumps(config))


def _no_weights(folder) -> None:
    (folder / "model.safetensors").unlink()


@pytest.mark.parametrize("edit", [_without_vision_weights, _vision_weights_of_another_model,
                                  _no_image_processor, _no_weights])
def test_a_broken_vision_model_fails_closed_at_load(tiny_vlm, tmp_path, edit):
    from mustelid.plugins.mlx_backend import MlxBackend

    folder = _broken_copy(tiny_vlm, tmp_path, edit)
    with pytest.raises(WaitingError) as e:
        MlxBackend(mlx_context(folder))
    assert e.value.reason == "vision_model_invalid", e.value.message
    assert str(folder) in e.value.message and "\n" not in e.value.message


def test_the_whole_path_on_the_mlx_backend_with_the_tiny_model(tiny_vlm, tmp_path):
    """Host, screenshots task, the mlx backend with mlx-vlm, llguidance, checks: a screen
    without text goes to the (random) model as a picture and comes back a valid result."""
    from mustelid.testing import TaskRunner

    picture = tmp_path / "sunset.png"
    picture.write_bytes(png((250, 160, 40), (640, 400)))
    config = {"model": {"backend": "mlx", "path": str(tiny_vlm)}}
    with TaskRunner([], ocr=[], config=config) as runner:
        run = runner.run("screenshots", picture)
    assert run.result is not None
    assert run.stats["model_id"] == "mlx:tiny-qwen2-vl"


def test_the_bench_child_measures_the_vision_tower(tiny_vlm, tmp_path):
    """What ``mustelid bench --vision`` runs: the configured backend loaded in a child
    process, each image encoded and counted."""
    import tomli_w

    from mustelid.bench.vision import vision_measures

    config = tmp_path / "config.toml"
    config.write_text(tomli_w.dumps({"model": {"backend": "mlx", "path": str(tiny_vlm)}}))
    pictures = []
    for n, size in enumerate([(400, 300), (420, 280)]):
        pictures.append(tmp_path / f"{n}.png")
        pictures[-1].write_bytes(png((n * 90, 40, 200), size))
    out = vision_measures(pictures, config)
    assert "error" not in out, out
    assert out["encode_s"]["n"] == 2 and out["image_tokens"]["median"] > 0
    assert out["load_s"] > 0


def test_bench_vision_reaches_an_mlx_vision_model_from_the_command_line(tiny_vlm, home,
                                                                        tmp_path):
    """``mustelid bench --vision`` needs no projector for MLX: the measuring process says
    whether the configured model sees."""
    import json

    import tomli_w
    from click.testing import CliRunner

    from mustelid.cli import cli

    (home / "config.toml").write_text(
        tomli_w.dumps({"model": {"backend": "mlx", "path": str(tiny_vlm)}}))
    folder = tmp_path / "pictures"
    folder.mkdir()
    for n in range(2):
        (folder / f"{n}.png").write_bytes(png((n * 90, 40, 200), (400, 300)))
    out = CliRunner().invoke(cli, ["bench", "--vision", "--json", "--images", str(folder),
                                   "--receipts", "2"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.output[out.output.index("{"):])
    assert "error" not in report and report["encode_s"]["n"] == 2
