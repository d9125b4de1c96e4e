"""Draw the sample business card in samples/ with Pillow's built-in font (no system fonts).

Run from anywhere: ``python scripts/make_sample_card.py``. The output is committed so that the
tests never depend on this script's fonts; re-run it only to change the card. Every name, address
and number on it is fictional: .example is a reserved domain and 020 7946 0xxx is the UK range
set aside for drama.
"""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "samples" / "alice-moreno.png"

# (text, font size, colour, gap after) from top to bottom
LINES = [
    ("Otterworks Instruments Ltd", 34, (20, 70, 120), 46),
    ("Alice Moreno", 56, (15, 15, 15), 10),
    ("Senior Field Engineer", 30, (70, 70, 70), 60),
    ("alice.moreno@otterworks.example", 30, (15, 15, 15), 14),
    ("+44 20 7946 0321", 30, (15, 15, 15), 14),
    ("www.otterworks.example", 30, (15, 15, 15), 0),
]


def draw_card() -> Image.Image:
    card = Image.new("RGB", (1050, 600), (250, 248, 240))   # 3.5 x 2 in at 300 dpi
    draw = ImageDraw.Draw(card)
    draw.rectangle([0, 0, 24, 600], fill=(20, 70, 120))     # a brand stripe, as cards have
    y = 70
    for text, size, colour, gap in LINES:
        font = ImageFont.load_default(size=size)
        draw.text((80, y), text, font=font, fill=colour)
        y += size + gap
    return card


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    draw_card().save(OUT, optimize=True)
    print(OUT)
