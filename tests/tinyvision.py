"""Write a tiny random-weight vision pair llama.cpp's multimodal (mtmd/clip) loader accepts: the
text GGUF of ``tinygguf`` plus an ``mmproj`` GGUF with a LLaVA-style MLP projector.

The projector follows what llama.cpp 0.3.36's ``tools/mtmd/clip.cpp`` reads (``load_hparams``,
``load_tensors``, ``clip_graph_llava``): ``clip.has_vision_encoder``, ``clip.projector_type =
"mlp"``, the ``clip.vision.*`` sizes, a patch-embedding convolution, position embeddings, ViT
blocks ``v.blk.N.*`` and the projector ``mm.0`` -> GELU -> ``mm.2``, whose output width
(``mm.2.weight``'s rows) must equal the text model's ``n_embd``. A 28x28 input in 14x14 patches
is 4 image tokens: encoding takes milliseconds. Its output is noise, like the text model's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

try:
    from tinygguf import write_tiny_gguf
except ImportError:  # tests/ imported as a package
    from tests.tinygguf import write_tiny_gguf

TEXT_EMBD = 32


def write_tiny_mmproj(
    path: str | Path,
    *,
    text_embd: int = TEXT_EMBD,   # the projector's output width: the text model's n_embd
    n_embd: int = 32,
    n_layer: int = 2,
    n_head: int = 2,
    n_ff: int = 64,
    image_size: int = 28,
    patch_size: int = 14,
    seed: int = 1,
) -> Path:
    import gguf  # dev dependency, only needed to build test models

    path = Path(path)
    writer = gguf.GGUFWriter(str(path), "clip")
    writer.add_bool("clip.has_vision_encoder", True)
    writer.add_string("clip.projector_type", "mlp")
    writer.add_bool("clip.use_gelu", True)
    writer.add_uint32("clip.vision.embedding_length", n_embd)
    writer.add_uint32("clip.vision.feed_forward_length", n_ff)
    writer.add_uint32("clip.vision.block_count", n_layer)
    writer.add_uint32("clip.vision.projection_dim", text_embd)
    writer.add_uint32("clip.vision.attention.head_count", n_head)
    writer.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    writer.add_uint32("clip.vision.image_size", image_size)
    writer.add_uint32("clip.vision.patch_size", patch_size)
    writer.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    writer.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    rng = np.random.default_rng(seed)

    def weights(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.1, size=shape).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    def zeros(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.float32)

    n_patches = (image_size // patch_size) ** 2
    hidden = 2 * text_embd
    # numpy shapes are gguf's reversed: (out, in) is ggml's ne = [in, out].
    writer.add_tensor("v.patch_embd.weight", weights(n_embd, 3, patch_size, patch_size))
    writer.add_tensor("v.patch_embd.bias", zeros(n_embd))
    writer.add_tensor("v.position_embd.weight", weights(n_patches, n_embd))
    writer.add_tensor("v.pre_ln.weight", ones(n_embd))
    writer.add_tensor("v.pre_ln.bias", zeros(n_embd))
    for i in range(n_layer):
        for name in ("attn_q", "attn_k", "attn_v", "attn_out"):
            writer.add_tensor(f"v.blk.{i}.{name}.weight", weights(n_embd, n_embd))
            writer.add_tensor(f"v.blk.{i}.{name}.bias", zeros(n_embd))
        for norm in ("ln1", "ln2"):
            writer.add_tensor(f"v.blk.{i}.{norm}.weight", ones(n_embd))
            writer.add_tensor(f"v.blk.{i}.{norm}.bias", zeros(n_embd))
        writer.add_tensor(f"v.blk.{i}.ffn_up.weight", weights(n_ff, n_embd))
        writer.add_tensor(f"v.blk.{i}.ffn_up.bias", zeros(n_ff))
        writer.add_tensor(f"v.blk.{i}.ffn_down.weight", weights(n_embd, n_ff))
        writer.add_tensor(f"v.blk.{i}.ffn_down.bias", zeros(n_embd))
    writer.add_tensor("mm.0.weight", weights(hidden, n_embd))
    writer.add_tensor("mm.0.bias", zeros(hidden))
    writer.add_tensor("mm.2.weight", weights(text_embd, hidden))
    writer.add_tensor("mm.2.bias", zeros(text_embd))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_tiny_vision_pair(folder: str | Path) -> tuple[Path, Path]:
    """(language GGUF, mmproj GGUF) in ``folder`` that belong together."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = write_tiny_gguf(folder / "tiny-vlm.gguf", n_embd=TEXT_EMBD)
    mmproj = write_tiny_mmproj(folder / "tiny-vlm-mmproj.gguf", text_embd=TEXT_EMBD)
    return model, mmproj


if __name__ == "__main__":  # python tests/tinyvision.py FOLDER
    import sys

    print(*write_tiny_vision_pair(sys.argv[1] if len(sys.argv) > 1 else "."))
