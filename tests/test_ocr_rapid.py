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


# -- recognition: several lines at once, one thread each ------------------------------------------

class _OneLineRecognizer:
    """Stands in for rapidocr's TextRecognizer: 'reads' a line as its width, and records the
    widths it was given at once (``running``) so the test can see who read what when."""

    def __init__(self):
        import threading

        self.calls, self.most_at_once, self.running = [], 0, 0
        self._lock = threading.Lock()

    def __call__(self, args):
        import time

        from rapidocr.ch_ppocr_rec.typings import TextRecOutput

        images = [args.img] if isinstance(args.img, np.ndarray) else args.img
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            self.calls.append([img.shape[1] for img in images])
        time.sleep(0.002)
        with self._lock:
            self.running -= 1
        txts = tuple(f"w{img.shape[1]}" for img in images)
        return TextRecOutput(imgs=images, txts=txts, scores=tuple(0.5 for _ in txts),
                             word_results=tuple((t, 0.5, None) for t in txts), elapse=0.01)


def test_parallel_lines_reads_each_line_once_and_keeps_their_order():
    from rapidocr.ch_ppocr_rec.typings import TextRecInput

    from mustelid.plugins.ocr_rapid import ParallelLines

    widths = [300, 40, 900, 120, 40, 2000, 75, 600, 310]
    lines = [np.zeros((20, w, 3), np.uint8) for w in widths]
    fake = _OneLineRecognizer()
    out = ParallelLines(fake, workers=2)(TextRecInput(img=lines))
    assert out.txts == tuple(f"w{w}" for w in widths)
    assert out.scores == (0.5,) * len(widths) and len(out.word_results) == len(widths)
    assert sorted(w for call in fake.calls for w in call) == sorted(widths)
    assert all(len(call) == 1 for call in fake.calls)
    assert fake.most_at_once == 2
    # The widest two are never read at once: one worker starts at each end.
    assert fake.calls[0] != [900] and [2000] in fake.calls[:2]


def test_parallel_lines_hands_a_single_line_straight_through():
    from rapidocr.ch_ppocr_rec.typings import TextRecInput

    from mustelid.plugins.ocr_rapid import ParallelLines

    fake = _OneLineRecognizer()
    out = ParallelLines(fake, workers=2)(TextRecInput(img=np.zeros((20, 50, 3), np.uint8)))
    assert out.txts == ("w50",) and fake.calls == [[50]]


SROIE = __import__("pathlib").Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sroie-dev"


@pytest.mark.real
def test_lines_read_in_parallel_are_what_rapidocr_reads_alone():
    """The real engine on a real receipt: two lines at once on one-thread sessions give the
    same text, boxes and scores as rapidocr's own recognizer (one line per call, two threads)."""
    sample = SROIE / "000.jpg"
    if not sample.is_file():
        pytest.skip(f"SROIE dev receipts not found at {SROIE}")
    from mustelid.plugins.ocr_rapid import ParallelLines

    parallel = RapidOcrEngine(threads=2)
    assert isinstance(parallel._get().text_rec, ParallelLines)
    alone = RapidOcrEngine(threads=2)
    alone._get().text_rec = None                 # rapidocr builds its own on first use
    got, want = parallel.read(str(sample)), alone.read(str(sample))
    assert type(alone._engine.text_rec).__name__ == "TextRecognizer"
    assert len(want) > 20 and got == want
