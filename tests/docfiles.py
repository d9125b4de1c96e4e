"""Making documents for tests: PDFs with and without a text layer, HEIC, multi-page TIFF, and
hostile variants of each (encrypted, thousands of pages, giant pages, bombs, truncations).

PDFs are written by hand (a text layer in Helvetica, one of PDF's standard fonts) or with
pypdfium2 (scans: an image per page); HEIC with pillow-heif's encoder; TIFF with Pillow.
"""

from __future__ import annotations

import io
import random
import struct

from PIL import Image

Line = tuple[str, float, float, float]     # text, x, y (top, in points from the page top), size


def pdf_from_objects(objects: list[bytes], trailer: bytes = b"") -> bytes:
    """A PDF of the given objects (numbered from 1, object 1 the catalog) with a correct xref."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, trailer, xref))
    return out.getvalue()


def _escape(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def text_pdf(pages: list[list[str] | list[Line]], size: tuple[float, float] = (300, 842),
             trailer: bytes = b"") -> bytes:
    """A PDF whose pages carry a real text layer. A page is a list of lines: plain strings are
    set one below the other from the top; ``(text, x, y, size)`` places a line (``y`` from the
    page's top edge, in points)."""
    width, height = size
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>"
               % (b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(len(pages))), len(pages)),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    for index, lines in enumerate(pages):
        ops = []
        for n, line in enumerate(lines):
            text, x, y, points = line if isinstance(line, tuple) else (line, 30, 40 + 16 * n, 12)
            ops.append(b"BT /F1 %.2f Tf 1 0 0 1 %.2f %.2f Tm (%s) Tj ET"
                       % (points, x, height - y - points, _escape(text)))
        content = b"\n".join(ops)
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.2f %.2f] /Resources "
                       b"<< /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
                       % (width, height, 5 + 2 * index))
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content))
    return pdf_from_objects(objects, trailer)


def scan_pdf(images: list[Image.Image], dpi: float = 200) -> bytes:
    """A PDF of scanned pages: each image fills a page sized so that ``dpi`` renders it 1:1."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for image in images:
        width, height = image.width * 72 / dpi, image.height * 72 / dpi
        page = pdf.new_page(width, height)
        obj = pdfium.PdfImage.new(pdf)
        obj.set_bitmap(pdfium.PdfBitmap.from_pil(image.convert("RGB")))
        obj.set_matrix(pdfium.PdfMatrix().scale(width, height))
        page.insert_obj(obj)
        page.gen_content()
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def empty_pages_pdf(count: int, size: tuple[float, float] = (100, 100)) -> bytes:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(count):
        pdf.new_page(*size)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def encrypted_pdf() -> bytes:
    """A PDF under the standard security handler whose user password is not empty: the /U
    entry matches no empty password, which is all a reader can check before it gives up."""
    return text_pdf([["secret"]], trailer=(
        b"/Encrypt << /Filter /Standard /V 1 /R 2 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32
        + b"> /P -4 >> /ID [<00112233445566778899aabbccddeeff><00112233445566778899aabbccddeeff>]"
        b" "))


def noise(size=(320, 240), seed: int = 1) -> Image.Image:
    data = random.Random(seed).randbytes(size[0] * size[1] * 3)
    return Image.frombytes("RGB", size, data)


def page_with_text(lines: list[str], size=(600, 400)) -> Image.Image:
    """A white page with black text drawn by Pillow's default font, large enough to OCR."""
    from PIL import ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    for n, line in enumerate(lines):
        draw.text((30, 30 + 50 * n), line, fill="black", font=font)
    return image


def heic(image: Image.Image, **options) -> bytes:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    out = io.BytesIO()
    image.save(out, "HEIF", **options)
    return out.getvalue()


def heic_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A small HEIC whose image spatial extents (``ispe``) declare a giant picture."""
    data = bytearray(heic(noise()))
    at = data.find(b"ispe")
    struct.pack_into(">II", data, at + 8, width, height)    # after the box's version/flags
    return bytes(data)


def tiff_pages(images: list[Image.Image], **options) -> bytes:
    out = io.BytesIO()
    images[0].save(out, "TIFF", save_all=True, append_images=images[1:], **options)
    return out.getvalue()


def tiff_bomb_on_page(page: int, pages: int = 3) -> bytes:
    """A multi-page TIFF whose page ``page`` (from 0) declares 100,000 x 100,000 pixels."""
    data = bytearray(tiff_pages([noise(seed=i) for i in range(pages)]))
    assert data[:2] == b"II"
    ifd = struct.unpack_from("<I", data, 4)[0]
    for _ in range(page):
        count = struct.unpack_from("<H", data, ifd)[0]
        ifd = struct.unpack_from("<I", data, ifd + 2 + 12 * count)[0]
    for i in range(struct.unpack_from("<H", data, ifd)[0]):
        entry = ifd + 2 + 12 * i
        tag = struct.unpack_from("<H", data, entry)[0]
        if tag in (256, 257):                                      # ImageWidth, ImageLength
            struct.pack_into("<HHII", data, entry, tag, 4, 1, 100_000)
    return bytes(data)


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]


def bit_flipped(data: bytes, seed: int, flips: int = 8) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(flips):
        i = rng.randrange(32, len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)
