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
    from mustelid.plugins.ocr_rapid import ParallelLines, TurnsChecked

    parallel = RapidOcrEngine(threads=2)
    assert isinstance(parallel._get().text_rec.recognizer, ParallelLines)
    alone = RapidOcrEngine(threads=2)
    engine = alone._get()
    engine.text_rec = None
    own = engine._load_rec_model()                # rapidocr's own, as it builds it
    assert type(own).__name__ == "TextRecognizer"
    engine.text_rec = TurnsChecked(engine.text_cls, own)
    got, want = parallel.read(str(sample)), alone.read(str(sample))
    assert len(want) > 20 and got == want


# -- the direction classifier's turns, checked -----------------------------------------------------

class _MarkedReader:
    """Stands in for the classifier and the recognizer. A line is a crop with a bright pixel in
    one corner: top-left means upright. The classifier says 180 for every crop in ``turn``;
    the recognizer reads an upright crop surely and a turned one poorly."""

    cls_thresh = 0.9

    def __init__(self, turn=(), tie=False):
        self.turn, self.tie, self.read = set(turn), tie, []

    @staticmethod
    def line(name: int, upright: bool = True):
        crop = np.zeros((8, 30, 3), np.uint8)
        crop[0, 0] = 255
        crop[4, 10 + name] = 7                     # which line it is
        return crop if upright else np.ascontiguousarray(crop[::-1, ::-1])

    def __call__(self, arg):
        from rapidocr.ch_ppocr_rec.typings import TextRecInput, TextRecOutput

        if not isinstance(arg, TextRecInput):     # the classifier
            return type("Cls", (), {"cls_res": [("180", 0.95) if i in self.turn else ("0", 0.99)
                                                for i in range(len(arg))]})()
        txts, scores = [], []
        for crop in arg.img:
            upright = crop[0, 0, 0] == 255
            column = int(np.nonzero(crop[:, :, 0] == 7)[1][0])
            name = column - 10 if upright else 19 - column   # 30 wide: turned, it mirrors
            txts.append(f"{name}{'' if upright else ' turned'}")
            scores.append(0.9 if self.tie else (0.99 if upright else 0.6))
        self.read.append(len(arg.img))
        return TextRecOutput(imgs=arg.img, txts=tuple(txts), scores=tuple(scores),
                             word_results=tuple(("", 1.0, None) for _ in txts))


def _read_checked(lines, reader):
    from rapidocr.ch_ppocr_rec.typings import TextRecInput

    from mustelid.plugins.ocr_rapid import TurnsChecked

    return TurnsChecked(reader, reader)(TextRecInput(img=lines))


def test_an_upright_line_the_classifier_would_turn_is_read_as_it_is():
    reader = _MarkedReader(turn={1})
    out = _read_checked([_MarkedReader.line(0), _MarkedReader.line(1), _MarkedReader.line(2)],
                        reader)
    assert out.txts == ("0", "1", "2") and out.scores == (0.99,) * 3
    assert reader.read == [4]                      # one more reading: line 1 turned


def test_an_upside_down_line_is_read_turned():
    lines = [_MarkedReader.line(0), _MarkedReader.line(1, upright=False)]
    out = _read_checked(lines, _MarkedReader(turn={1}))
    assert out.txts == ("0", "1") and out.scores == (0.99, 0.99)
    assert out.imgs[1][0, 0, 0] == 255             # the crop kept is the upright one


def test_a_tie_keeps_the_line_as_detected_and_unturned_lines_are_read_once():
    lines = [_MarkedReader.line(0, upright=False), _MarkedReader.line(1)]
    assert _read_checked(lines, _MarkedReader(turn={0}, tie=True)).txts[0] == "0 turned"
    reader = _MarkedReader()
    assert _read_checked(lines, reader).txts == ("0 turned", "1") and reader.read == [2]


@pytest.mark.real
def test_a_receipt_line_the_classifier_misjudges_is_read_right():
    """SROIE 012: the classifier takes 'TAX INVOICE' for upside down (0.93), and read turned it
    came out as 'TA ICE'."""
    sample = SROIE / "012.jpg"
    if not sample.is_file():
        pytest.skip(f"SROIE dev receipts not found at {SROIE}")
    texts = [line.text for line in RapidOcrEngine(threads=2).read(str(sample))]
    assert "TAX INVOICE" in texts and "TA ICE" not in texts


# -- detection's input by table lookup ------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1080, 1920, 3), (500, 333, 3), (40, 41, 3)])
def test_detection_input_by_table_is_rapidocrs_bit_for_bit(shape):
    from rapidocr.ch_ppocr_det.utils import DetPreProcess

    from mustelid.plugins.ocr_rapid import TablePreProcess

    page = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    own = DetPreProcess(736, "min", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    expected, got = own(page), TablePreProcess(own)(page)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.array_equal(got.view(np.uint32), expected.view(np.uint32))
    assert got.flags["C_CONTIGUOUS"]


def test_a_page_that_is_not_bgr_bytes_goes_rapidocrs_own_way():
    from rapidocr.ch_ppocr_det.utils import DetPreProcess

    from mustelid.plugins.ocr_rapid import TablePreProcess

    floats = np.random.default_rng(4).random((64, 64, 3), dtype=np.float32) * 255
    own = DetPreProcess(736, "min", [0.5] * 3, [0.5] * 3)
    assert np.array_equal(TablePreProcess(own)(floats), own(floats))


def test_the_engine_detects_on_the_table_input():
    from mustelid.plugins.ocr_rapid import TablePreProcess

    detector = RapidOcrEngine(threads=1)._get().text_det
    assert isinstance(detector.get_preprocess(), TablePreProcess)
