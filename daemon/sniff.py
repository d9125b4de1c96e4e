"""What a file is, from its first bytes: the mime type ingest routes by. Never trusts the name.

Hostile look-alikes are named on purpose (EPS, SVG, executables, archives) so routing can refuse
them with a reason instead of handing them to an image decoder.
"""

from __future__ import annotations

HEAD = 8192              # bytes that sniffing needs: read this many from the start of a file

EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
    "image/tiff": ".tif", "image/bmp": ".bmp", "image/heic": ".heic", "image/avif": ".avif",
    "image/svg+xml": ".svg", "application/pdf": ".pdf", "application/zip": ".zip",
    "application/gzip": ".gz", "application/x-elf": ".elf", "application/x-msdownload": ".exe",
    "application/postscript": ".eps", "text/plain": ".txt",
}

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1",
                b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_BMP_DIB_SIZES = {12, 40, 52, 56, 64, 108, 124}


def sniff(head: bytes) -> str | None:
    """The mime type from a file's first bytes, or None if unknown."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):   # TIFF, BigTIFF
        return "image/tiff"
    if head[:2] == b"BM" and len(head) >= 18 and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES:
        return "image/bmp"       # "BM" alone is too common at the start of text to trust
    if head[4:8] == b"ftyp":
        brands = {head[i:i + 4] for i in range(8, min(len(head), 64), 4)}
        if brands & _AVIF_BRANDS:
            return "image/avif"
        if brands & _HEIF_BRANDS:
            return "image/heic"
        return None              # MP4, MOV, 3GP...: not ours
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "application/zip"
    if head.startswith(b"\x7fELF"):
        return "application/x-elf"
    if head.startswith(b"MZ"):
        return "application/x-msdownload"
    if head.startswith(b"\x1f\x8b"):
        return "application/gzip"
    if head.startswith(b"%!PS") or head.startswith(b"\xc5\xd0\xd3\xc6"):   # text / DOS-binary EPS
        return "application/postscript"
    return _sniff_text(head)


def _sniff_text(head: bytes) -> str | None:
    if not head:
        return None
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "text/plain"                                   # UTF-16 with a BOM
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason != "unexpected end of data":
            return None
        text = head[: e.start].decode("utf-8")                # a character cut by the head limit
    if not text:
        return None
    stripped = text.lstrip("\ufeff \t\r\n").lower()
    if stripped.startswith(("<svg", "<?xml")) and "<svg" in stripped:
        return "image/svg+xml"
    control = sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n\f")
    return "text/plain" if control <= len(text) // 100 else None
