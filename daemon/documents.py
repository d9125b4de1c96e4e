"""Files with pages — PDF, HEIC/HEIF, multi-page TIFF — read as one document, safely.

A receipt or an invoice of three pages is one document: one job, its pages one below the other
in one image (``Document.image``, what ``ctx.load_image`` returns) and their text in reading
order, page after page (``Document.read_text``, what ``ctx.ocr`` returns), every box in the
pixels of that one image. So every task that reads images reads these files too, unchanged.

A PDF page's own text layer is used when it has one (exact, and no OCR); a page without one (a
scan) is rendered and read by the OCR engine. The bounds, as for images (``mustelid.imaging``):
at most ``MAX_PAGES`` pages, at most ``DEFAULT_MAX_PIXELS`` for all pages together, PDF pages
rendered at ``RENDER_DPI`` but never more than ``MAX_PAGE_SIDE`` pixels a side, and every
failure a ``PermanentError`` with a reason a person can act on.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from mustelid.imaging import DEFAULT_MAX_PIXELS, load_frames
from mustelid.ocr import OcrLine
from mustelid.sniff import HEAD, sniff
from mustelid.tasks import PermanentError

# The sniffed types read here; the other image types go to the OCR engine as they are.
PAGED_TYPES = ("application/pdf", "image/heic", "image/tiff")
# Receipts, invoices, statements and notes are a page or a few. A longer file is refused rather
# than read in part: a total on page 31 would otherwise be silently missed.
MAX_PAGES = 20
# 200 dpi puts 8 pt print at ~22 px, where the OCR reads it well; A4 is then 1654x2339 pixels.
RENDER_DPI = 200
# Scanner apps often make a page of 3024x4032 *points* (one point per camera pixel): such pages
# are rendered smaller rather than refused. Pages are at most 200 inches a side in the PDF
# standard (14,400 units); anything larger is refused as made to exhaust memory.
MAX_PAGE_SIDE = 4096
MAX_PAGE_POINTS = 14_400
# A page whose text layer holds fewer letters and digits than this is read as a scan (a scan
# app's "Page 1" footer is not the receipt's text).
MIN_TEXT_CHARS = 10


@dataclasses.dataclass
class Page:
    box: tuple[int, int, int, int]      # where the page lies on the document image, in pixels
    text: list[OcrLine] | None = None   # the PDF's own text (document pixels); None: OCR it


@dataclasses.dataclass
class Document:
    image: Any                          # Pillow RGB image: the pages one below the other
    pages: list[Page]

    def read_text(self, engine: Callable[[], Any], scratch: Path) -> list[OcrLine]:
        """The text lines of every page, page after page, boxed in document pixels. ``engine``
        gives the OCR engine, asked for only when a page has no text layer; an engine without
        ``read_image`` reads each page from a PNG in a temporary folder under ``scratch``."""
        lines: list[OcrLine] = []
        for page in self.pages:
            if page.text is not None:
                lines.extend(page.text)
                continue
            image = self.image if len(self.pages) == 1 else self.image.crop(page.box)
            x, y = page.box[:2]
            lines.extend(OcrLine(l.text, (l.box[0] + x, l.box[1] + y, l.box[2] + x,
                                          l.box[3] + y), l.score)
                         for l in _ocr_image(engine(), image, scratch))
        return lines


def paged_type(path: str | os.PathLike[str]) -> str | None:
    """The file's sniffed type if it is read as a document here, else None (also when it cannot
    be read: the image loader then says why, as before)."""
    try:
        with open(path, "rb") as f:
            mime = sniff(f.read(HEAD))
    except OSError:
        return None
    return mime if mime in PAGED_TYPES else None


def open_document(path: str | os.PathLike[str], mime: str,
                  max_pixels: int = DEFAULT_MAX_PIXELS) -> Document:
    """Decode every page of a PDF, HEIC or TIFF file (``mime`` as sniffed) into one Document.

    Raises ``PermanentError``: ``too_many_pages``, ``image_too_large``, ``encrypted_document``,
    ``unreadable_document`` (a damaged PDF), ``unreadable_image`` (a damaged HEIC or TIFF).
    """
    if mime == "application/pdf":
        return _open_pdf(path, max_pixels)
    if mime == "image/heic":
        # One photo: further top-level images of a HEIC are a burst or a depth map, not pages.
        return _stacked(load_frames(path, max_pixels, formats=("HEIF",)), [])
    if mime == "image/tiff":
        return _stacked(load_frames(path, max_pixels, formats=("TIFF",),
                                    max_frames=MAX_PAGES), [])
    raise PermanentError("unsupported_type", f"{mime} is not a document type")


def _open_pdf(path: str | os.PathLike[str], max_pixels: int) -> Document:
    import pypdfium2 as pdfium  # heavy (PDFium): only for PDFs

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as e:
        if e.err_code in (pdfium.raw.FPDF_ERR_PASSWORD, pdfium.raw.FPDF_ERR_SECURITY):
            raise PermanentError("encrypted_document", "the PDF is protected by a password; "
                                 "save a copy without one and drop that") from None
        raise PermanentError("unreadable_document", f"the PDF is damaged or truncated: {e}"
                             ) from None
    try:
        scales = _page_scales(pdf, max_pixels)
        images, texts = [], []
        for index, scale in enumerate(scales):
            page = pdf[index]
            try:
                bitmap = page.render(scale=scale, may_draw_forms=False)
                try:
                    images.append(bitmap.to_pil().convert("RGB"))
                    texts.append(_text_layer(page, bitmap))
                finally:
                    bitmap.close()
            finally:
                page.close()
        return _stacked(images, texts)
    except PermanentError:
        raise
    except MemoryError:
        raise PermanentError("image_too_large", "not enough memory to render this PDF") from None
    except Exception as e:               # PdfiumError, ValueError from a page with no size, ...
        raise PermanentError("unreadable_document", f"the PDF is damaged: {e}") from None
    finally:
        pdf.close()


def _page_scales(pdf: Any, max_pixels: int) -> list[float]:
    """The render scale of each page; refuses the document before anything is rendered."""
    count = len(pdf)
    if count == 0:
        raise PermanentError("unreadable_document", "the PDF has no pages")
    if count > MAX_PAGES:
        raise PermanentError("too_many_pages", f"the PDF has {count:,} pages; documents of at "
                             f"most {MAX_PAGES} pages are read (split it)")
    scales, total = [], 0
    for index in range(count):
        width, height = pdf.get_page_size(index)
        if not (width > 0 and height > 0):
            raise PermanentError("unreadable_document", f"page {index + 1} has no size")
        if max(width, height) > MAX_PAGE_POINTS:
            raise PermanentError(
                "image_too_large", f"page {index + 1} is {width / 72:,.0f}x{height / 72:,.0f} "
                f"inches; PDF pages are at most {MAX_PAGE_POINTS // 72} inches a side")
        scale = min(RENDER_DPI / 72, MAX_PAGE_SIDE / max(width, height))
        total += math.ceil(width * scale) * math.ceil(height * scale)
        if total > max_pixels:
            raise PermanentError(
                "image_too_large", f"the first {index + 1} pages are {total:,} pixels at "
                f"{RENDER_DPI} dpi; the limit is {max_pixels:,}")
        scales.append(scale)
    return scales


def _text_layer(page: Any, bitmap: Any) -> list[OcrLine] | None:
    """The page's own text, one line per run of text, boxed in the bitmap's pixels; None when
    the page has (next to) none, i.e. is a scan."""
    textpage = page.get_textpage()
    try:
        if sum(c.isalnum() for c in textpage.get_text_range()) < MIN_TEXT_CHARS:
            return None
        to_pixels = bitmap.get_posconv(page).to_bitmap
        lines = []
        for index in range(textpage.count_rects()):
            left, bottom, right, top = textpage.get_rect(index)
            text = " ".join(textpage.get_text_bounded(left, bottom, right, top).split())
            if text:
                (x0, y0), (x1, y1) = to_pixels(left, top), to_pixels(right, bottom)
                lines.append(OcrLine(text, (min(x0, x1), min(y0, y1), max(x0, x1),
                                            max(y0, y1))))
        return lines
    finally:
        textpage.close()


def _stacked(images: list[Any], texts: list[list[OcrLine] | None]) -> Document:
    """The pages one below the other, left-aligned on white; text boxes moved with them."""
    if len(images) == 1:
        width, height = images[0].size
        return Document(images[0], [Page((0, 0, width, height), texts[0] if texts else None)])
    from PIL import Image

    canvas = Image.new("RGB", (max(i.width for i in images), sum(i.height for i in images)),
                       "white")
    pages, top = [], 0
    for index, image in enumerate(images):
        canvas.paste(image, (0, top))
        text = texts[index] if texts else None
        if text is not None:
            text = [OcrLine(l.text, (l.box[0], l.box[1] + top, l.box[2], l.box[3] + top),
                            l.score) for l in text]
        pages.append(Page((0, top, image.width, top + image.height), text))
        top += image.height
        image.close()
    return Document(canvas, pages)


def _ocr_image(engine: Any, image: Any, scratch: Path) -> list[OcrLine]:
    read_image = getattr(engine, "read_image", None)
    if read_image is not None:
        return read_image(image)
    # An engine that reads only files (the hook's contract is ``read(path)``): a PNG in the data
    # dir, never in /tmp (mustelid writes under its home only), removed right after.
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        path = os.path.join(folder, "page.png")
        image.save(path, "PNG")
        return engine.read(path)
