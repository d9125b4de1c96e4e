"""RapidOCR (PP-OCR ONNX models shipped inside the ``rapidocr`` wheel) as the default OCR engine.

Nothing is downloaded: rapidocr 3.x resolves its default models inside the wheel and only fetches
when the file is missing or its sha256 differs. ``rapidocr`` and ``onnxruntime`` are imported on
first use so that loading plugins (CLI, daemon) stays fast.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from mustelid import OcrLine, hookimpl

# Formats we let Pillow decode here. The task already loaded the image through the host's
# hardened loader; this is the second line of defence for callers that go straight to OCR.
_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")

# onnxruntime intra-op threads. Measured on the 2-core box, 6 SROIE scans, warm engine:
# 1 thread 2.29 s/image, 2 threads 1.41 s/image. OCR and generation run one after the other in
# the single model worker, so OCR never shares the cores with llama.cpp: use both (capped at 2,
# beyond which these small models gain little). MUSTELID_OCR_THREADS overrides. Detection (one
# image) gets them as intra-op threads; recognition (many small lines) gets them as lines read
# at once, one thread each (ParallelLines).
DEFAULT_THREADS = max(1, min(2, os.cpu_count() or 1))
# Detection keeps rapidocr's default size (short side upscaled to 736 px). Capping the long side
# at 1280 instead made detection 0.78 -> 0.30 s per SROIE scan but lost a total and a date of 40
# (small print missed without the upscale): docs/EVAL.md.


class RapidOcrEngine:
    """One RapidOCR instance per process: building it loads three ONNX sessions (~0.5 s)."""

    def __init__(self, threads: int | None = None):
        self.threads = threads or int(os.environ.get("MUSTELID_OCR_THREADS", DEFAULT_THREADS))
        self._engine: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._engine is None:
                # onnxruntime >= 1.29 has telemetry on POSIX too: at every session it writes a
                # device id under ~/.cache/Microsoft, a session file in TMPDIR, and may try to
                # send events. mustelid is offline and writes only under its home, and the
                # Python knob (disable_telemetry_events) comes too late to stop the first two.
                # Measured: with this variable set before import, none of the three appear.
                os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
                from rapidocr import RapidOCR  # heavy: onnxruntime + opencv

                n = self.threads
                self._engine = RapidOCR(
                    params={
                        "Global.log_level": "warning",  # "info" logs every model path per call
                        "EngineConfig.onnxruntime.intra_op_num_threads": n,
                        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                        # One line per recognition call: a batch pads every line to its widest
                        # (a screen's full-width line is thousands of pixels at 48 px high).
                        # Measured on three screens: peak RSS 669-859 -> 445-500 MiB, OCR
                        # 2.66-4.23 -> 2.17-3.01 s (docs/BENCHMARKS.md, P7).
                        "Rec.rec_batch_num": 1,
                        # The direction classifier runs inside recognition instead, where its
                        # turns are checked (TurnsChecked).
                        "Global.use_cls": False,
                    }
                )
                engine = self._engine
                lines = (ParallelLines(_one_thread_recognizer(engine), n) if n > 1
                         else engine._load_rec_model())
                engine.text_rec = TurnsChecked(engine._load_cls_model(), lines)
                detector = engine._load_det_model()
                make = detector.get_preprocess       # rapidocr builds one per image
                detector.get_preprocess = lambda: TablePreProcess(make())
            return self._engine

    def read(self, path: str) -> list[OcrLine]:
        from PIL import Image, ImageOps

        with Image.open(path, formats=_FORMATS) as im:
            # Phone photos carry their rotation in EXIF; boxes must be in upright pixels.
            ImageOps.exif_transpose(im, in_place=True)
            pixels = bgr_pixels(im)
        # Only the BGR array outlives the Pillow image: detection, the memory peak, does not
        # run beside a second copy of the page (docs/BENCHMARKS.md, P7).
        return self._read_pixels(pixels)

    def read_image(self, image: Any) -> list[OcrLine]:
        """An upright RGB Pillow image: the host's pages of a PDF, HEIC or TIFF document."""
        return self._read_pixels(bgr_pixels(image))

    def _read_pixels(self, pixels: Any) -> list[OcrLine]:
        result = self._get()(pixels)
        if not getattr(result, "txts", None):
            return []
        lines = []
        for quad, text, score in zip(result.boxes, result.txts, result.scores):
            text = text.strip()
            if text:
                box = quad_to_box(quad)
                lines.append(OcrLine(text=text, box=box, score=round(float(score), 4)))
        return lines


class TablePreProcess:
    """rapidocr's detection input (``DetPreProcess``), normalised by table lookup.

    ``DetPreProcess`` computes ``(x / 255 - mean) / std`` over the resized page in float64 (its
    mean and std are float64 arrays): five passes and temporaries of 8 bytes a value, 50 MB each
    on a 1920x1088 screen, more on a scanned page. Measured: 55 ms a screen warm, 79 ms in the
    worker, where the pages of those temporaries fault in afresh after each job's heap trim. A
    pixel holds one of 256 values per channel, so the same arithmetic on those 256 values is a
    table, and the page is one lookup per channel into the float32 array the model takes (7 ms).
    The values are bit for bit rapidocr's (tests/test_ocr_rapid.py).
    """

    def __init__(self, inner: Any):
        import numpy as np

        self.inner = inner
        levels = np.arange(256, dtype=np.uint8).reshape(1, 256, 1).repeat(3, axis=2)
        # (3, 256): per channel, what rapidocr's own arithmetic makes of each value.
        self.table = np.ascontiguousarray(
            inner.normalize(levels).astype(np.float32)[0].transpose())

    def __call__(self, img: Any) -> Any:
        import cv2
        import numpy as np

        resized = self.inner.resize(img)
        if resized is None:
            return None
        if resized.dtype != np.uint8 or resized.ndim != 3 or resized.shape[2] != 3:
            return self.inner(img)   # not a BGR page of bytes: rapidocr's own way
        height, width = resized.shape[:2]
        out = np.empty((1, 3, height, width), np.float32)
        for channel, plane in enumerate(cv2.split(resized)):
            cv2.LUT(plane, self.table[channel], dst=out[0, channel])
        return out


class TurnsChecked:
    """Recognition that checks the direction classifier's turns by reading both ways.

    RapidOCR's classifier turns a line it takes for upside down (PP-OCR's 0/180 model, score
    above 0.9) before recognition. On real pages it turns upright lines too: on the dev sets
    (38 screens, 200 receipts, 39 note pictures; examples/eval/ocr_turns.py) it turned 249 of
    13,180 lines, 222 of them read better as detected, and recognition read "TAX INVOICE" as
    "TA ICE", "RM 13.30" as "RM 3 .30" and whole menu bars and prose lines as scattered letters.
    A line the classifier would turn is now read both ways, and the reading recognition is
    surer of (its mean character probability) is kept; on a tie the line stays as detected.
    That costs one more reading for each turned line (2 % of lines), keeps a page that really
    is upside down readable, and lines the classifier leaves alone are read as before.
    """

    def __init__(self, classifier: Any, recognizer: Any):
        self.classifier = classifier
        self.recognizer = recognizer

    def __call__(self, args: Any) -> Any:
        import cv2
        import numpy as np
        from rapidocr.ch_ppocr_rec.typings import TextRecInput

        images = [args.img] if isinstance(args.img, np.ndarray) else list(args.img or [])
        if not images:
            return self.recognizer(args)
        verdicts = self.classifier(images).cls_res
        turned = [i for i, (label, score) in enumerate(verdicts)
                  if "180" in label and score > self.classifier.cls_thresh]
        both = images + [cv2.rotate(images[i], cv2.ROTATE_180) for i in turned]
        out = self.recognizer(TextRecInput(img=both, return_word_box=args.return_word_box))
        keep = list(range(len(images)))
        for k, i in enumerate(turned):
            if out.scores[len(images) + k] > out.scores[i]:
                keep[i] = len(images) + k
        return type(out)(
            imgs=[both[j] for j in keep],
            txts=tuple(out.txts[j] for j in keep),
            scores=tuple(out.scores[j] for j in keep),
            word_results=tuple(out.word_results[j] for j in keep),
            elapse=out.elapse,
            viser=out.viser,
        )


class ParallelLines:
    """RapidOCR's recognizer reading ``workers`` lines at once, one onnxruntime thread each.

    One line is too small a job for two threads to share: on 4 screens and 3 receipts (line crops
    taken from real OCR runs, warm sessions) recognition took 11.98 s with two threads per line,
    16.61 s with one, and 8.48 s with two lines at once on one thread each. Two lines at once on
    the two-thread session gained nothing (its threads are shared). The output is bit-identical:
    the same kernels, only who computes which line changes (checked: max |difference| 0.0).
    onnxruntime's ``run`` releases the GIL and may be called from several threads at once.
    """

    def __init__(self, recognizer: Any, workers: int):
        from concurrent.futures import ThreadPoolExecutor

        self.recognizer = recognizer
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="ocr-lines")

    def __call__(self, args: Any) -> Any:
        import numpy as np
        from rapidocr.ch_ppocr_rec.typings import TextRecInput

        images = [args.img] if isinstance(args.img, np.ndarray) else list(args.img or [])
        if len(images) < 2:
            return self.recognizer(args)
        queue = _WidthQueue(images)
        done: dict[int, Any] = {}

        def work(widest: bool) -> None:
            while (i := queue.take(widest)) is not None:
                done[i] = self.recognizer(TextRecInput(img=[images[i]],
                                                       return_word_box=args.return_word_box))

        # One worker reads from the widest end, the rest from the narrowest: a wide line's
        # activations grow faster than its width, and two of the widest at once raised a
        # text-dense screen's OCR peak by 170 MiB (docs/BENCHMARKS.md, P7).
        for future in [self._pool.submit(work, k == 0) for k in range(self.workers)]:
            future.result()
        return _merged([done[i] for i in range(len(images))], images)


class _WidthQueue:
    """Line indices by aspect ratio, taken from either end under a lock."""

    def __init__(self, images: list[Any]):
        self._order = sorted(range(len(images)), key=lambda i: images[i].shape[1] / images[i].shape[0])
        self._lock = threading.Lock()

    def take(self, widest: bool) -> int | None:
        with self._lock:
            if not self._order:
                return None
            return self._order.pop() if widest else self._order.pop(0)


def _merged(outputs: list[Any], images: list[Any]) -> Any:
    """One-line outputs as one TextRecOutput, lines in the order they were given."""
    first = outputs[0]
    return type(first)(
        imgs=images,
        txts=tuple(out.txts[0] for out in outputs),
        scores=tuple(out.scores[0] for out in outputs),
        word_results=tuple(out.word_results[0] for out in outputs),
        elapse=sum(out.elapse or 0.0 for out in outputs),
        viser=first.viser,
    )


def _one_thread_recognizer(engine: Any) -> Any:
    """A recognizer built as rapidocr builds its own (``RapidOCR._load_rec_model``), but with an
    onnxruntime session of one intra-op thread."""
    import copy

    from rapidocr.ch_ppocr_rec import TextRecognizer

    cfg = engine.cfg
    rec_cfg = copy.deepcopy(cfg.Rec)
    rec_cfg.engine_cfg = copy.deepcopy(cfg.EngineConfig[rec_cfg.engine_type.value])
    rec_cfg.engine_cfg.intra_op_num_threads = 1
    rec_cfg.font_path = cfg.Global.font_path
    rec_cfg.model_root_dir = cfg.Global.model_root_dir
    return TextRecognizer(rec_cfg)


def bgr_pixels(image: Any) -> Any:
    """A Pillow image as the BGR uint8 array rapidocr works on: the same conversion rapidocr
    makes from a Pillow image itself (``cv2.cvtColor(np.array(img), COLOR_RGB2BGR)``), so the
    text read is the same, but the caller can drop the Pillow image before detection runs."""
    import cv2
    import numpy as np

    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def quad_to_box(quad: Any) -> tuple[int, int, int, int]:
    """Four corner points (possibly rotated) -> the enclosing axis-aligned pixel box."""
    xs = [float(p[0]) for p in quad]
    ys = [float(p[1]) for p in quad]
    return (int(min(xs)), int(min(ys)), int(round(max(xs))), int(round(max(ys))))


_ENGINE: RapidOcrEngine | None = None


def engine_factory() -> RapidOcrEngine:
    # The host may call the factory more than once; sessions are expensive, so share one.
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = RapidOcrEngine()
    return _ENGINE


@hookimpl
def register_ocr_engines(register):
    register("rapidocr", engine_factory)
