"""Opening images someone else made, safely, and a few cheap facts about them.

Every image in the inbox is untrusted. The rules (measured in NOTES.md): allowlist the decoders
so EPS never reaches Ghostscript, treat Pillow's decompression-bomb *warning* as an error,
decode every pixel with ``load()`` (``verify()`` misses truncation), and turn every failure into
a ``PermanentError`` with a reason a person can act on, so one bad file cannot take a worker down.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any, BinaryIO

from PIL import Image, ImageOps, ImageStat, UnidentifiedImageError

from mustelid.tasks import PermanentError

log = logging.getLogger(__name__)

# The formats an inbox image may be; everything else is refused before any decoder sees it.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")
# Pillow's own default (~89.5 MP, about 270 MB as RGB): phone photos and long screenshots fit.
DEFAULT_MAX_PIXELS = 89_478_485
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def load_image(
    path: str | os.PathLike[str] | BinaryIO, max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: tuple[str, ...] = FORMATS,
) -> Image.Image:
    """Decode an image completely and return it upright, in RGB.

    Raises ``PermanentError("image_too_large", ...)`` for images above ``max_pixels`` (or
    Pillow's own bomb limit) and ``PermanentError("unreadable_image", ...)`` for anything else
    that goes wrong: not an image, a refused format, truncated or corrupt data.
    Thread note: ``warnings.catch_warnings`` is process-global; call this from one thread.
    """
    return load_frames(path, max_pixels, formats, max_frames=1)[0]


def load_frames(
    path: str | os.PathLike[str] | BinaryIO, max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: tuple[str, ...] = FORMATS, max_frames: int = 1,
) -> list[Image.Image]:
    """Like ``load_image``, for every frame of a file whose frames are pages (a multi-page TIFF
    scan): each decoded, upright and RGB, all of them together at most ``max_pixels``.

    ``max_frames=1`` reads the first frame only (a GIF's animation is not pages). With more, a
    file of more frames is refused (``too_many_pages``) before any frame after the last allowed
    one is decoded. ``"HEIF"`` in ``formats`` registers pillow-heif's opener first.
    """
    if "HEIF" in formats:
        _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=formats) as im:
                return _decode_frames(im, max_pixels, max_frames)
    except PermanentError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise PermanentError("image_too_large", f"image is too large to open safely: {e}") from None
    except UnidentifiedImageError:
        raise PermanentError(
            "unreadable_image",
            f"not an image in a supported format ({', '.join(formats)})",
        ) from None
    except MemoryError:
        raise PermanentError("image_too_large", "not enough memory to decode this image") from None
    except Exception as e:               # decoders raise OSError, ValueError, SyntaxError, ...
        raise PermanentError("unreadable_image", f"the image is damaged or truncated: {e}") from None


def _decode_frames(im: Image.Image, max_pixels: int, max_frames: int) -> list[Image.Image]:
    frames: list[Image.Image] = []
    left = max_pixels                    # the pixel budget is for the whole file, not per frame
    while True:
        _check_pixels(im.size, left, frame=len(frames) if max_frames > 1 else None)
        left -= im.size[0] * im.size[1]
        im.load()                 # decodes every pixel: truncation and corruption show here
        _upright(im)
        frames.append(_to_rgb(im))
        if max_frames == 1:
            return frames
        try:
            im.seek(len(frames))         # walks one IFD at a time: never counts them all
        except EOFError:
            return frames
        if len(frames) >= max_frames:
            raise PermanentError(
                "too_many_pages",
                f"more than {max_frames} pages; documents of at most {max_frames} pages are read",
            )


def _register_heif() -> None:
    # Imported on first use: pillow-heif loads libheif, which nothing else needs. Registering
    # twice is harmless.
    from pillow_heif import register_heif_opener

    register_heif_opener()


def _check_pixels(size: tuple[int, int], max_pixels: int, frame: int | None = None) -> None:
    width, height = size
    which = f"page {frame + 1}: " if frame is not None else ""
    if width <= 0 or height <= 0:
        raise PermanentError("unreadable_image", f"{which}the image claims a size of {width}x{height}")
    if width * height > max_pixels:
        raise PermanentError(
            "image_too_large",
            f"{which}{width}x{height} is {width * height:,} pixels; "
            f"{'the pages before it leave' if frame else 'the limit is'} {max(max_pixels, 0):,}",
        )


def _upright(im: Image.Image) -> None:
    # Phones store portrait photos sideways plus an EXIF "rotate me" flag; OCR needs them upright.
    # Broken EXIF is common and harmless, so it costs the rotation, not the image.
    try:
        ImageOps.exif_transpose(im, in_place=True)
    except Exception as e:
        log.info("ignoring unusable EXIF orientation: %s", e)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode.startswith("I") or im.mode == "F":
        # 16/32-bit grey (scanners, some TIFF/PNG): a plain convert clips everything above 255
        # to white, so rescale the real range to 0..255 first.
        lo, hi = im.getextrema()
        scale = 255 / (hi - lo) if hi > lo else 1
        im = im.convert("F").point(lambda v: (v - lo) * scale).convert("L")
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        # Screenshots and logos often draw dark text on transparent pixels whose hidden colour is
        # black; dropping alpha would give black on black. Flatten onto white like a viewer does.
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def image_facts(img: Image.Image, colors: int = 5) -> dict[str, Any]:
    """Small, cheap facts for prompts: size, shape, mean colour and dominant colours.

    Works on a thumbnail of at most 64 px per side, so it costs about a millisecond at any size.
    """
    width, height = img.size
    small = img.convert("RGB") if img.mode != "RGB" else img
    small = small.resize(_fit(img.size, 64), Image.Resampling.BOX)
    mean = tuple(round(v) for v in ImageStat.Stat(small).mean)
    quantized = small.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    counts = sorted(quantized.getcolors() or [], reverse=True)
    total = sum(count for count, _ in counts) or 1
    dominant = [
        {"hex": _hex(palette[3 * i: 3 * i + 3]), "share": round(count / total, 3)}
        for count, i in counts
    ]
    return {
        "width": width,
        "height": height,
        "aspect": round(width / height, 3) if height else None,
        "orientation": "landscape" if width > height else "portrait" if height > width else "square",
        "megapixels": round(width * height / 1e6, 2),
        "mean_color": _hex(mean),
        "brightness": round(sum(w * v for w, v in zip((0.299, 0.587, 0.114), mean)) / 255, 3),
        "dominant_colors": dominant,
    }


def _fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, longest / max(width, height, 1))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)
