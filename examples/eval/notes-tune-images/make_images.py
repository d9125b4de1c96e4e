"""Draws every notes-tune text as a picture, the way notes-dev's image inputs were made.

notes-dev's pictures are PIL drawings of an excerpt (paper, sticky note) and real program
windows (a pager in xterm, an editor) showing it. This machine has no X server and only the
DejaVu fonts, so the four styles here are drawn with Pillow in DejaVu: a pager in a terminal, an
editor window with line numbers, a rotated paper page (JPEG) and a sticky note (JPEG). The label
of each picture is its text's label, copied. Deterministic: the same Pillow draws the same files.

    python examples/eval/notes-tune-images/make_images.py   # rewrites imgNN.* and imgNN.json
"""

from __future__ import annotations

import random
import shutil
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
TEXTS = HERE.parent / "notes-tune"
FONTS = Path("/usr/share/fonts/truetype/dejavu")


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), size)


def lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").expandtabs(8).splitlines()


def pager(name: str, lines: list[str]) -> Image.Image:
    """`less` in an 80-column xterm: light grey on black, long lines cut at column 80 and carried
    on the next row, the file name and (END) in reverse video on the last row."""
    f = font("DejaVuSansMono.ttf", 15)
    cols, row_h = 80, 19
    rows = [chunk for line in lines for chunk in (textwrap.wrap(line, cols, drop_whitespace=False,
                                                               replace_whitespace=False) or [""])]
    width = 1024
    height = max(768, (len(rows) + 3) * row_h)
    im = Image.new("RGB", (width, height), "black")
    d = ImageDraw.Draw(im)
    for i, row in enumerate(rows):
        d.text((4, 4 + i * row_h), row, font=f, fill=(220, 220, 220))
    status = f"{name} (END)"
    y = height - row_h - 4
    d.rectangle((4, y, 4 + f.getlength(status), y + row_h - 2), fill=(220, 220, 220))
    d.text((4, y), status, font=f, fill="black")
    return im


def editor(name: str, lines: list[str]) -> Image.Image:
    """A text editor window: title bar, menu bar, a grey line-number gutter, soft-wrapped lines."""
    f = font("DejaVuSansMono.ttf", 14)
    ui = font("DejaVuSans.ttf", 13)
    width, row_h, gutter = 1280, 19, 48
    cols = int((width - gutter - 24) / f.getlength("m"))
    rows: list[tuple[str, str]] = []
    for n, line in enumerate(lines, 1):
        parts = textwrap.wrap(line, cols, drop_whitespace=False, replace_whitespace=False) or [""]
        rows += [(str(n) if k == 0 else "", part) for k, part in enumerate(parts)]
    height = max(800, 80 + (len(rows) + 2) * row_h)
    im = Image.new("RGB", (width, height), (246, 245, 244))
    d = ImageDraw.Draw(im)
    d.rectangle((0, 0, width, 30), fill=(222, 221, 218))
    d.text((width / 2 - 60, 8), f"{name} - Mousepad", font=ui, fill=(40, 40, 40))
    d.text((10, 38), "File   Edit   Search   View   Document   Help", font=ui, fill=(40, 40, 40))
    top = 64
    d.rectangle((0, top, width, height), fill="white")
    d.rectangle((0, top, gutter - 6, height), fill=(238, 238, 236))
    for i, (num, text) in enumerate(rows):
        y = top + 4 + i * row_h
        if num:
            d.text((gutter - 10 - f.getlength(num), y), num, font=f, fill=(140, 140, 140))
        d.text((gutter + 4, y), text, font=f, fill=(30, 30, 30))
    return im


def drawn(lines: list[str], face: str, size: int, paper: tuple[int, int, int], wrap_px: int,
          angle: float, blur: float, rng: random.Random) -> Image.Image:
    """A page or a note written in one font, wrapped to the paper's width, turned a little."""
    f = font(face, size)
    per_line = max(20, int(wrap_px / f.getlength("n")))
    rows = [part for line in lines
            for part in (textwrap.wrap(line, per_line) if line.strip() else [""])]
    row_h = int(size * 1.5)
    width = wrap_px + 120
    height = 100 + len(rows) * row_h
    im = Image.new("RGB", (width, height), paper)
    d = ImageDraw.Draw(im)
    for i, row in enumerate(rows):
        jitter = rng.randint(-2, 2)
        d.text((60 + jitter, 50 + i * row_h), row, font=f, fill=(25, 25, 60))
    im = im.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=(90, 90, 90))
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im


def main() -> None:
    for old in HERE.glob("img*.*"):
        old.unlink()
    for k, text in enumerate(sorted(TEXTS.glob("tune*.txt"))):
        nn = text.stem.removeprefix("tune")
        lines = lines_of(text)
        rng = random.Random(int(nn))
        style = k % 4
        if style == 0:
            im, ext = pager(text.name, lines), "png"
        elif style == 1:
            im, ext = editor(text.name, lines), "png"
        elif style == 2:
            im, ext = drawn(lines, "DejaVuSerif.ttf", 24, (250, 247, 235), 900,
                            rng.uniform(-1.8, 1.8), 0.6, rng), "jpg"
        else:
            im, ext = drawn(lines, "DejaVuSans-Oblique.ttf", 26, (255, 240, 140), 760,
                            rng.uniform(-2.5, 2.5), 0.0, rng), "jpg"
        out = HERE / f"img{nn}.{ext}"
        if ext == "jpg":
            im.save(out, quality=72)
        else:
            im.save(out, optimize=True)
        shutil.copyfile(text.with_suffix(".json"), HERE / f"img{nn}.json")
        print(out.name, im.size)


if __name__ == "__main__":
    main()
