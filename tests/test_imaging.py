"""Imaging: hostile and broken files become PermanentErrors with the right reason."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from mustelid import PermanentError
from mustelid import imaging
from mustelid.imaging import image_facts, load_image


def _save(path: Path, image: Image.Image, fmt: str, **options) -> Path:
    image.save(path, fmt, **options)
    return path


def _noise(size=(160, 120)) -> Image.Image:
    return Image.effect_noise(size, 64).convert("RGB")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size without carrying the pixels: what a bomb looks like at open."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)     # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def _reason(path_or_file, **kwargs) -> str:
    with pytest.raises(PermanentError) as e:
        load_image(path_or_file, **kwargs)
    assert e.value.message and e.value.message != e.value.reason      # a human-readable why
    return e.value.reason


# --- what loads --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP"])
def test_allowed_formats_load_as_rgb(tmp_path, fmt):
    path = _save(tmp_path / "img", _noise(), fmt)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == (160, 120)


def test_accepts_an_open_file(tmp_path):
    path = _save(tmp_path / "a.png", _noise(), "PNG")
    with open(path, "rb") as f:
        assert load_image(f).size == (160, 120)


def test_exif_orientation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6                                                   # "rotate 90° clockwise"
    path = _save(tmp_path / "phone.jpg", Image.new("RGB", (40, 20), "white"), "JPEG", exif=exif)
    assert load_image(path).size == (20, 40)


def test_broken_exif_costs_the_rotation_not_the_image(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise SyntaxError("bad EXIF")

    monkeypatch.setattr(ImageOps, "exif_transpose", broken)
    path = _save(tmp_path / "a.jpg", _noise(), "JPEG")
    assert load_image(path).size == (160, 120)


def test_transparency_is_flattened_onto_white(tmp_path):
    # Dark text drawn on transparent pixels whose hidden colour is black.
    image = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    image.putpixel((5, 5), (20, 20, 20, 255))
    img = load_image(_save(tmp_path / "shot.png", image, "PNG"))
    assert img.getpixel((0, 0)) == (255, 255, 255)
    assert img.getpixel((5, 5)) == (20, 20, 20)


def test_sixteen_bit_grey_is_rescaled_not_clipped(tmp_path):
    image = Image.new("I;16", (2, 1))
    image.putpixel((0, 0), 1000)
    image.putpixel((1, 0), 60000)
    img = load_image(_save(tmp_path / "scan.png", image, "PNG"))
    assert img.getpixel((0, 0))[0] < 10 and img.getpixel((1, 0))[0] > 245


# --- what is refused ---------------------------------------------------------------------------


def test_text_renamed_jpg_is_unreadable(tmp_path):
    path = tmp_path / "receipt.jpg"
    path.write_text("Total: 12.50 EUR\n")
    with pytest.raises(PermanentError) as e:
        load_image(path)
    assert e.value.reason == "unreadable_image"
    assert "JPEG" in e.value.message                                   # says what would work


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_image_is_unreadable(tmp_path, fmt):
    whole = io.BytesIO()
    _noise((400, 300)).save(whole, fmt)
    path = tmp_path / "cut"
    path.write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])  # a half-finished copy
    assert _reason(path) == "unreadable_image"


def test_declared_100k_by_100k_png_is_too_large(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(100_000, 100_000))
    assert _reason(path) == "image_too_large"


def test_pillow_bomb_warning_is_an_error_even_with_a_generous_limit(tmp_path):
    # 10,000 x 10,000 lies between Pillow's warning and error thresholds: the warning must count.
    path = tmp_path / "big.png"
    path.write_bytes(_png_header_only(10_000, 10_000))
    assert _reason(path, max_pixels=10**10) == "image_too_large"


def test_own_pixel_limit(tmp_path):
    path = _save(tmp_path / "a.png", _noise((100, 100)), "PNG")
    assert _reason(path, max_pixels=9_999) == "image_too_large"
    assert load_image(path, max_pixels=10_000).size == (100, 100)


def test_eps_renamed_jpg_never_reaches_ghostscript(tmp_path, monkeypatch):
    from PIL import EpsImagePlugin

    calls = []

    def ghostscript(*args, **kwargs):
        calls.append(args)               # not an exception: load_image would swallow that
        raise OSError("Ghostscript must never run on inbox files")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    path = _save(tmp_path / "receipt.jpg", Image.new("RGB", (20, 20), "white"), "EPS")
    assert path.read_bytes().startswith(b"%!PS")
    assert _reason(path) == "unreadable_image"
    assert calls == []


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a\xff\xff\xff\xff", b"BM" + b"\xff" * 60,
     b"II*\x00\x08\x00\x00\x00\xff\xff"],
    ids=["empty", "jpeg-magic-only", "png-magic-only", "gif-huge-garbage", "bmp-garbage",
         "tiff-garbage"],
)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_garbage_behind_valid_magic_is_a_permanent_error(tmp_path, data):
    path = tmp_path / "x"
    path.write_bytes(data)
    assert _reason(path) in {"unreadable_image", "image_too_large"}


# --- facts -------------------------------------------------------------------------------------


def test_image_facts_are_small_and_right():
    img = Image.new("RGB", (400, 200), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 100, 200))                           # a quarter blue
    facts = image_facts(img)
    assert facts["width"] == 400 and facts["height"] == 200
    assert facts["aspect"] == 2.0 and facts["orientation"] == "landscape"
    assert facts["megapixels"] == 0.08
    shares = {c["hex"]: c["share"] for c in facts["dominant_colors"]}
    assert shares == {"#ff0000": 0.75, "#0000ff": 0.25}
    assert facts["dominant_colors"][0]["hex"] == "#ff0000"              # largest first
    assert facts["mean_color"] == "#bf0040"
    assert 0 < facts["brightness"] < 1


def test_image_facts_accept_any_mode():
    facts = image_facts(Image.new("L", (10, 30), 255))
    assert facts["orientation"] == "portrait"
    assert facts["dominant_colors"] == [{"hex": "#ffffff", "share": 1.0}]
    assert imaging.FORMATS == ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")
