"""Draws every notes-tune and notes-tune2 text as a handwritten note, the way notes-dev's
handwriting pictures were made: the excerpt in a handwriting font from Debian, wrapped to the
note's width, on a whiteboard, a sticky note or a ruled notebook page, turned a little, some
blurred and saved as JPEG. The label of each picture is its text's label, copied.

Needs the Debian font packages notes-dev names (fonts-dkg-handwriting, fonts-femkeklaver,
fonts-breip, fonts-humor-sans, fonts-comic-neue, fonts-dancingscript, fonts-rufscript);
the pictures are kept in the repository, so nothing else needs them. Deterministic for a given
Pillow and font version.

    python examples/eval/notes-tune-hand/make_hand.py   # rewrites handNN.* and handNN.json
"""

from __future__ import annotations

import random
import shutil
import textwrap
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
SETS = [HERE.parent / "notes-tune", HERE.parent / "notes-tune2"]
FONTS = [  # (file, size in px): sizes that write about as large as each other
    ("/usr/share/fonts/truetype/fifthhorseman/dkg.ttf", 30),
    ("/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf", 30),
    ("/usr/share/fonts/truetype/breip/Breip.ttf", 30),
    ("/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf", 26),
    ("/usr/share/fonts/opentype/comic-neue/ComicNeue-Regular.otf", 28),
    ("/usr/share/fonts/opentype/dancingscript/DancingScript-Regular.otf", 32),
    ("/usr/share/fonts/truetype/rufscript/Rufscript010.ttf", 26),
]
STYLES = {  # paper colour, ink colour, ruled
    "whiteboard": ((248, 248, 246), (20, 40, 120), False),
    "sticky": ((255, 240, 140), (25, 25, 60), False),
    "notebook": ((252, 252, 250), (30, 30, 80), True),
}


def handwritten(lines: list[str], face: str, size: int, style: str, wrap_px: int,
                rng: random.Random) -> Image.Image:
    paper, ink, ruled = STYLES[style]
    f = ImageFont.truetype(face, size)
    per_line = max(18, int(wrap_px / f.getlength("n")))
    rows = [part for line in lines
            for part in (textwrap.wrap(line.strip(), per_line) if line.strip() else [""])]
    # A hand writes a nested item further in, but not column-true: keep some of the indent.
    indents = [len(line) - len(line.lstrip()) for line in lines
               for _ in (textwrap.wrap(line.strip(), per_line) if line.strip() else [""])]
    row_h = int(size * 1.55)
    width, height = wrap_px + 140, 110 + len(rows) * row_h
    im = Image.new("RGB", (width, height), paper)
    d = ImageDraw.Draw(im)
    if ruled:
        for i in range(len(rows) + 2):
            y = 50 + i * row_h + int(size * 1.2)
            d.line((0, y, width, y), fill=(170, 190, 225), width=1)
        d.line((55, 0, 55, height), fill=(230, 150, 150), width=2)
    for i, (row, indent) in enumerate(zip(rows, indents)):
        x = 70 + min(indent, 8) * size // 4 + rng.randint(-3, 3)
        d.text((x, 50 + i * row_h + rng.randint(-2, 2)), row, font=f, fill=ink)
    angle = rng.uniform(-2.5, 2.5)
    im = im.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=(120, 120, 120))
    blur = rng.choice([0.0, 0.0, 0.6, 1.0])
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im


def main() -> None:
    for old in HERE.glob("hand*.*"):
        old.unlink()
    texts = [t for folder in SETS for t in sorted(folder.glob("*.txt"))]
    for k, text in enumerate(texts, 1):
        rng = random.Random(k)
        face, size = FONTS[k % len(FONTS)]
        style = list(STYLES)[k % len(STYLES)]
        lines = text.read_text(encoding="utf-8").expandtabs(8).splitlines()
        im = handwritten(lines, face, size, style, rng.choice([640, 760, 880]), rng)
        out = HERE / f"hand{k:02d}.jpg"
        im.save(out, quality=rng.choice([70, 75, 80]))
        shutil.copyfile(text.with_suffix(".json"), HERE / f"hand{k:02d}.json")
        print(out.name, text.parent.name, text.name, Path(face).stem, style, im.size)


if __name__ == "__main__":
    main()
