"""The RapidOCR plugin hands rapidocr the pixels rapidocr would make itself, without keeping a
second copy of the page alive during detection (docs/BENCHMARKS.md, P7)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("rapidocr")

from mustelid.plugins.ocr_rapid import RapidOcrEngine, bgr_pixels  # noqa: E402


def _photo() -> Image.Image:
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (60, 90, 3), dtype=np.uint8), "RGB")


class _Recorder:
    """Stands in for the RapidOCR object: keeps what it was given, reads no text."""

    def __init__(self):
        self.seen = []

    def __call__(self, img):
        self.seen.append(img)
        return type("Out", (), {"txts": None})()


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_bgr_pixels_are_what_rapidocr_makes_from_the_pillow_image(mode):
    from rapidocr.utils.load_image import LoadImage

    image = _photo().convert(mode)
    assert np.array_equal(bgr_pixels(image), LoadImage()(image))


def test_read_hands_rapidocr_the_upright_bgr_array_of_the_file(tmp_path):
    from rapidocr.utils.load_image import LoadImage

    photo = _photo()
    exif = Image.Exif()
    exif[0x0112] = 6          # "rotate 90° clockwise to view": a phone held upright
    path = tmp_path / "photo.png"
    photo.save(path, exif=exif)
    engine = RapidOcrEngine(threads=1)
    engine._engine = recorder = _Recorder()
    assert engine.read(str(path)) == []
    (given,) = recorder.seen
    assert isinstance(given, np.ndarray) and given.shape == (90, 60, 3)
    upright = Image.open(path).transpose(Image.Transpose.ROTATE_270).convert("RGB")
    assert np.array_equal(given, LoadImage()(upright))
