"""Draw the sample inbox images in examples/samples/ (screenshots, a note, a whiteboard).

Pillow only, with its built-in font (``ImageFont.load_default(size=...)``, Pillow >= 10), so the
images come out the same on any machine without system fonts. Randomness (handwriting jitter,
sensor noise) comes from a seeded ``random.Random``: running this again rewrites identical files
for a given Pillow/libjpeg. The texts are invented; names, addresses and URLs use example domains.

    python examples/make_samples.py [OUTPUT_DIR]
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

OUT = Path(__file__).parent / "samples"


def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def save(img: Image.Image, out: Path, name: str) -> Path:
    path = out / name
    if name.endswith(".jpg"):
        img.convert("RGB").save(path, quality=82, subsampling=2)
    else:
        # A small palette keeps flat UI screenshots well under 150 KB, as real PNG screenshots are.
        img.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT,
                                    dither=Image.Dither.NONE).save(path, optimize=True)
    return path


def noise(size: tuple[int, int], rng: random.Random, amount: int) -> Image.Image:
    """Grey Gaussian-ish noise from our own seeded generator (Image.effect_noise is unseeded)."""
    tile = (size[0] // 2, size[1] // 2)
    data = bytes(max(0, min(255, int(128 + rng.gauss(0, amount))))
                 for _ in range(tile[0] * tile[1]))
    return Image.frombytes("L", tile, data).resize(size, Image.Resampling.BILINEAR)


# ---------------------------------------------------------------------------------------------
# Screenshots


def chat() -> Image.Image:
    """A phone messenger conversation with a friend: plans, a time, an amount, a place."""
    w, h = 480, 900
    img = Image.new("RGB", (w, h), "#ece5dd")
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w, 28), fill="#054d44")
    d.text((14, 6), "9:41", font=font(15), fill="white")
    d.text((w - 70, 6), "87%", font=font(15), fill="white")
    d.rectangle((0, 28, w, 100), fill="#075e54")
    d.text((16, 46), "<", font=font(28), fill="white")
    d.ellipse((44, 40, 88, 84), fill="#b0bec5")
    d.text((58, 50), "ML", font=font(18), fill="white")
    d.text((100, 42), "Maya Lindqvist", font=font(22), fill="white")
    d.text((100, 70), "online", font=font(15), fill="#d0f0e0")
    messages = [
        ("in", ["Hey! Are we still on for", "Saturday?"], "10:02"),
        ("out", ["Yes! Dinner at Luigi's", "at 7pm"], "10:05"),
        ("in", ["Great. Can you pick up the", "cake from Rosie's Bakery", "on Saturday morning?"],
         "10:06"),
        ("out", ["Sure, I will get it"], "10:07"),
        ("in", ["It's already paid, 24.50 EUR.", "Also please book a taxi home", "for 11pm"],
         "10:09"),
        ("out", ["Will do. See you then!"], "10:12"),
    ]
    y = 124
    f = font(19)
    for side, lines, time in messages:
        width = max(d.textlength(t, font=f) for t in lines) + 76
        height = 28 * len(lines) + 20
        x0 = 14 if side == "in" else w - 14 - width
        colour = "white" if side == "in" else "#dcf8c6"
        d.rounded_rectangle((x0, y, x0 + width, y + height), 10, fill=colour)
        for i, t in enumerate(lines):
            d.text((x0 + 12, y + 8 + 28 * i), t, font=f, fill="#111111")
        d.text((x0 + width - 50, y + height - 20), time, font=font(13), fill="#667781")
        y += height + 16
    d.rectangle((0, h - 70, w, h), fill="#f0f0f0")
    d.rounded_rectangle((12, h - 58, w - 70, h - 14), 22, fill="white")
    d.text((32, h - 46), "Type a message", font=font(18), fill="#8a8a8a")
    d.ellipse((w - 60, h - 60, w - 14, h - 14), fill="#128c7e")
    d.text((w - 44, h - 50), ">", font=font(22), fill="white")
    return img


def email() -> Image.Image:
    """A desktop mail client showing one message with a deadline, a link and an amount."""
    w, h = 1000, 680
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w, 44), fill="#1f3a5f")
    d.text((18, 11), "Mail", font=font(20), fill="white")
    d.rounded_rectangle((260, 8, 700, 36), 6, fill="#2f5580")
    d.text((274, 13), "Search mail", font=font(16), fill="#c8d6e8")
    d.rectangle((0, 44, 200, h), fill="#f2f4f7")
    for i, (name, count) in enumerate([("Inbox", "3"), ("Starred", ""), ("Sent", ""),
                                       ("Drafts", "1"), ("Archive", ""), ("Spam", "")]):
        y = 70 + 38 * i
        if i == 0:
            d.rectangle((0, y - 8, 200, y + 26), fill="#dce6f2")
        d.text((24, y), name, font=font(17), fill="#1b1b1b")
        d.text((170, y), count, font=font(17), fill="#1b1b1b")
    d.text((230, 64), "Q3 budget review - action items", font=font(26), fill="#111111")
    d.ellipse((230, 112, 274, 156), fill="#5c6bc0")
    d.text((242, 122), "DO", font=font(18), fill="white")
    d.text((290, 112), "Daniel Ortiz <daniel.ortiz@example.com>", font=font(17), fill="#111111")
    d.text((290, 136), "to me, finance-team@example.com", font=font(15), fill="#5f6368")
    d.text((w - 230, 112), "Tue, 12 May 2026, 09:14", font=font(15), fill="#5f6368")
    body = [
        "Hi team,",
        "",
        "Thanks for the review meeting this morning. The approved Q3 budget is",
        "$48,200.00. Two things before we close it:",
        "",
        "1. Please send me your updated forecasts by Friday.",
        "2. Review the draft plan at https://intranet.example.com/budget/q3",
        "   and add your comments before the next meeting on 19 May 2026.",
        "",
        "If anything is unclear, call me on extension 4417.",
        "",
        "Best,",
        "Daniel",
    ]
    for i, line in enumerate(body):
        d.text((230, 186 + 28 * i), line, font=font(18), fill="#202124")
    for i, label in enumerate(["Reply", "Forward"]):
        x = 230 + 130 * i
        d.rounded_rectangle((x, h - 70, x + 110, h - 30), 18, outline="#9aa0a6", width=2)
        d.text((x + 24, h - 60), label, font=font(17), fill="#3c4043")
    return img


def error_dialog() -> Image.Image:
    """A modal error dialog over a dimmed desktop window."""
    w, h = 800, 500
    img = Image.new("RGB", (w, h), "#3a6ea5")
    d = ImageDraw.Draw(img)
    d.rectangle((40, 30, 760, 470), fill="#e8e8e8")
    d.rectangle((40, 30, 760, 60), fill="#c9c9c9")
    d.text((52, 36), "Backup Utility", font=font(16), fill="#555555")
    d.rectangle((0, h - 36, w, h), fill="#202020")
    d.text((12, h - 28), "Start", font=font(16), fill="white")
    d.text((w - 70, h - 28), "14:32", font=font(16), fill="white")
    x0, y0, x1, y1 = 150, 110, 650, 370
    d.rectangle((x0 + 6, y0 + 6, x1 + 6, y1 + 6), fill="#7a7a7a")  # drop shadow
    d.rectangle((x0, y0, x1, y1), fill="white", outline="#888888")
    d.rectangle((x0, y0, x1, y0 + 34), fill="#f3f3f3")
    d.text((x0 + 12, y0 + 8), "Backup Utility - Error", font=font(16), fill="#111111")
    d.text((x1 - 26, y0 + 6), "x", font=font(18), fill="#111111")
    d.ellipse((x0 + 24, y0 + 58, x0 + 80, y0 + 114), fill="#d32f2f")
    d.line((x0 + 40, y0 + 74, x0 + 64, y0 + 98), fill="white", width=6)
    d.line((x0 + 64, y0 + 74, x0 + 40, y0 + 98), fill="white", width=6)
    lines = [
        ("Could not complete the backup.", 20, "#111111"),
        ("The disk BACKUP-01 is full (0 bytes free).", 16, "#333333"),
        ("Free up space or choose another disk,", 16, "#333333"),
        ("then try again.", 16, "#333333"),
        ("Error code: 0x80070070", 16, "#333333"),
    ]
    y = y0 + 56
    for text, size, colour in lines:
        d.text((x0 + 100, y), text, font=font(size), fill=colour)
        y += 32 if size > 16 else 26
    for i, label in enumerate(["Retry", "Cancel"]):
        bx = x1 - 220 + 110 * i
        d.rectangle((bx, y1 - 50, bx + 96, y1 - 18), fill="#e1e1e1",
                    outline="#0078d7" if i == 0 else "#adadad", width=2)
        d.text((bx + 24, y1 - 43), label, font=font(16), fill="#111111")
    return img


def web_page() -> Image.Image:
    """A shop's product page in a browser window."""
    w, h = 1024, 700
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w, 40), fill="#dee1e6")
    d.rounded_rectangle((10, 6, 290, 40), 8, fill="white")
    d.text((24, 14), "Summit 2P Ultralight Tent", font=font(14), fill="#202124")
    d.rectangle((0, 40, w, 84), fill="white")
    d.text((16, 50), "<   >   C", font=font(18), fill="#5f6368")
    d.rounded_rectangle((110, 48, 900, 78), 15, fill="#f1f3f4")
    d.text((130, 54), "https://www.northwind-outdoors.example/tents/summit-2p", font=font(16),
           fill="#202124")
    d.line((0, 84, w, 84), fill="#dadce0")
    d.rectangle((0, 85, w, 140), fill="#23412f")
    d.text((30, 100), "NORTHWIND OUTDOORS", font=font(24), fill="white")
    x = 520
    for item in ["Tents", "Backpacks", "Sleeping bags", "Sale"]:
        d.text((x, 104), item, font=font(17), fill="#e0efe4")
        x += d.textlength(item, font=font(17)) + 40
    d.text((30, 156), "Home > Tents > Summit 2P", font=font(15), fill="#5f6368")
    d.rectangle((30, 190, 480, 560), fill="#cfd8cc")
    d.polygon([(80, 520), (255, 250), (430, 520)], fill="#e07a2f")
    d.polygon([(255, 250), (300, 520), (430, 520)], fill="#b85d1d")
    d.text((520, 192), "Summit 2P Ultralight Tent", font=font(30), fill="#111111")
    d.text((520, 240), "4.6 out of 5 stars (212 reviews)", font=font(16), fill="#5f6368")
    d.text((520, 280), "$349.00", font=font(32), fill="#b12704")
    specs = ["Weight: 1.2 kg", "Sleeps 2, freestanding", "Waterproof to 3000 mm",
             "In stock: ships in 2 days"]
    for i, s in enumerate(specs):
        d.text((520, 340 + 30 * i), "- " + s, font=font(17), fill="#202124")
    d.rounded_rectangle((520, 480, 760, 530), 8, fill="#f7a600")
    d.text((580, 494), "Add to cart", font=font(20), fill="#111111")
    d.text((520, 550), "Free shipping on orders over $100", font=font(15), fill="#23412f")
    d.rectangle((0, h - 50, w, h), fill="#f1f3f4")
    d.text((30, h - 36), "Contact: help@northwind-outdoors.example", font=font(14),
           fill="#5f6368")
    d.text((w - 260, h - 36), "(c) 2026 Northwind Outdoors", font=font(14), fill="#5f6368")
    return img


# ---------------------------------------------------------------------------------------------
# Photos of handwriting


def handwriting(img: Image.Image, xy: tuple[int, int], text: str, size: int, ink: str,
                rng: random.Random, stroke: int = 0, slant: float = 0.0) -> None:
    """Write ``text`` one glyph at a time with a wandering baseline, uneven size and a small
    tilt per glyph: enough to look hand-made while staying legible to OCR."""
    x, y = xy
    drift = 0.0
    for ch in text:
        f = font(max(8, round(size * rng.uniform(0.93, 1.07))))
        if ch == " ":
            x += f.getlength(" ") * rng.uniform(0.9, 1.3)
            continue
        box = f.getbbox(ch, stroke_width=stroke)
        glyph = Image.new("L", (box[2] + 8, size * 2), 0)
        ImageDraw.Draw(glyph).text((4, size // 3), ch, font=f, fill=255, stroke_width=stroke,
                                   stroke_fill=255)
        glyph = glyph.rotate(rng.uniform(-6, 6) + slant, resample=Image.Resampling.BICUBIC,
                             expand=False)
        drift = max(-4.0, min(4.0, drift + rng.uniform(-0.8, 0.8)))
        img.paste(ink, (round(x), round(y + drift - size // 3)), glyph)
        x += f.getlength(ch) * rng.uniform(0.98, 1.1)


def note() -> Image.Image:
    """A to-do list in pen on a lined sticky note, photographed slightly crooked."""
    rng = random.Random(1906)
    w, h = 640, 640
    img = Image.new("RGB", (w, h), "#fdf3a7")
    d = ImageDraw.Draw(img)
    for y in range(120, h, 56):
        d.line((0, y, w, y), fill="#b8c7e0", width=2)
    d.line((70, 0, 70, h), fill="#e8a0a0", width=2)
    lines = [
        ("To do", 40, 60),
        ("- call the plumber tomorrow", 30, 128),
        ("- pay electricity bill by Friday", 30, 184),
        ("- buy milk and eggs", 30, 240),
        ("- email Sarah about the trip", 30, 296),
        ("- dentist appointment 14 May", 30, 352),
        ("- return library books", 30, 408),
    ]
    for text, size, y in lines:
        handwriting(img, (84, y), text, size, "#1c2f86", rng)
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    shade = noise((w, h), rng, 10)
    img = Image.blend(img, Image.merge("RGB", (shade, shade, shade)), 0.06)
    img = img.rotate(-2.5, resample=Image.Resampling.BICUBIC, fillcolor="#6b5a48")
    return img


def whiteboard() -> Image.Image:
    """A team whiteboard in marker, photographed at an angle under office lights."""
    rng = random.Random(2026)
    w, h = 1000, 720
    board = Image.new("RGB", (w, h), "#f4f5f2")
    glare = Image.new("L", (w, h), 0)
    ImageDraw.Draw(glare).ellipse((560, -140, 1180, 300), fill=70)
    board.paste("white", (0, 0), glare.filter(ImageFilter.GaussianBlur(80)))
    items = [
        ("SPRINT 14 - TODO", 44, "#1a1a1a", 60),
        ("1. fix login bug - Ana (urgent)", 34, "#1f3fa8", 150),
        ("2. update API docs by next Monday", 34, "#1f3fa8", 220),
        ("3. deploy v2.3 on Thursday", 34, "#1a1a1a", 290),
        ("4. order new monitors for QA", 34, "#1a1a1a", 360),
        ("5. book retro room for 28/05", 34, "#b3261e", 430),
    ]
    for text, size, ink, y in items:
        handwriting(board, (70, y), text, size, ink, rng, stroke=1, slant=-2)
    d = ImageDraw.Draw(board)
    d.line((70, 116, 470, 112), fill="#1a1a1a", width=3)
    d.rectangle((0, 0, w - 1, h - 1), outline="#9ea3a8", width=14)
    # Camera: a mild keystone (the board is above eye level), lens blur, sensor noise.
    frame = Image.new("RGB", (w, h), "#8b8f87")
    coeffs = _perspective([(0, 0), (w, 0), (w, h), (0, h)],
                          [(30, 10), (w - 20, 40), (w - 40, h - 30), (10, h - 10)])
    warped = board.transform((w, h), Image.Transform.PERSPECTIVE, coeffs,
                             Image.Resampling.BICUBIC, fillcolor="#8b8f87")
    frame.paste(warped)
    frame = frame.filter(ImageFilter.GaussianBlur(0.8))
    grain = noise((w, h), rng, 14)
    return Image.blend(frame, Image.merge("RGB", (grain, grain, grain)), 0.08)


def _perspective(src: list[tuple[int, int]], dst: list[tuple[int, int]]) -> list[float]:
    """Coefficients for Image.transform(PERSPECTIVE): output corner ``dst[i]`` shows input
    corner ``src[i]``. Solves the 8x8 system by Gauss-Jordan elimination (no numpy here)."""
    rows = []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([u, v, 1, 0, 0, 0, -x * u, -x * v, x])
        rows.append([0, 0, 0, u, v, 1, -y * u, -y * v, y])
    n = 8
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(n):
            if r != col:
                factor = rows[r][col] / rows[col][col]
                rows[r] = [a - factor * b for a, b in zip(rows[r], rows[col])]
    return [rows[i][n] / rows[i][i] for i in range(n)]


SAMPLES = {
    "chat.png": chat,
    "email.png": email,
    "error_dialog.png": error_dialog,
    "web_page.png": web_page,
    "note.jpg": note,
    "whiteboard.jpg": whiteboard,
}


def main(out: Path = OUT) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    return [save(draw(), out, name) for name, draw in SAMPLES.items()]


if __name__ == "__main__":
    for p in main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(f"{p}  {p.stat().st_size // 1024} KB")
