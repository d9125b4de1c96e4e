"""The OCR data type shared by engines (plugins) and tasks.

Engines return ``OcrLine`` objects; tasks use the helpers here to lay them out as text and to
normalise boxes to the 0-1000 grid (as Ferret does) so that every box a task stores is an OCR box.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True)
class OcrLine:
    text: str
    box: tuple[int, int, int, int]    # x0, y0, x1, y1 in image pixels
    score: float = 1.0

    def to_dict(self) -> dict:
        return asdict(self)


def clean_text(text: str) -> str:
    """One OCR line as plain text: NFKC (folds the full-width punctuation of CJK-capable OCR
    models, "（" -> "(", into ASCII) and single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


class OcrEngine(Protocol):
    """What an OCR plugin's factory returns (``register_ocr_engines``)."""

    def read(self, path: str) -> list[OcrLine]:
        """The text lines of the image at ``path``, each with its pixel box and score."""
        ...

    # Optional: ``read_image(image) -> list[OcrLine]`` reads a decoded Pillow RGB image (a page
    # of a PDF, HEIC or TIFF document). Without it the host writes each page to a PNG in the
    # data dir and calls ``read``.


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Top-to-bottom, then left-to-right, treating boxes whose vertical centres are within half a
    line height as one row (receipts put label and amount on one row)."""
    if not lines:
        return []
    heights = sorted(l.box[3] - l.box[1] for l in lines)
    tol = max(4, heights[len(heights) // 2] // 2)
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda l: (l.box[1] + l.box[3]) / 2):
        centre = (line.box[1] + line.box[3]) / 2
        if rows:
            last = rows[-1]
            last_centre = sum((l.box[1] + l.box[3]) / 2 for l in last) / len(last)
            if abs(centre - last_centre) <= tol:
                last.append(line)
                continue
        rows.append([line])
    return [l for row in rows for l in sorted(row, key=lambda l: l.box[0])]


def row_groups(lines: list[OcrLine]) -> list[list[OcrLine]]:
    """The OCR lines of each visual row, in reading order: vertical centres within half the
    median line height of the row's first line (a receipt's label and its amount)."""
    ordered = reading_order(lines)
    if not ordered:
        return []
    heights = sorted(l.box[3] - l.box[1] for l in ordered)
    tol = max(4, heights[len(heights) // 2] // 2)
    rows: list[list[OcrLine]] = [[ordered[0]]]
    for line in ordered[1:]:
        prev = rows[-1][0]
        if abs((line.box[1] + line.box[3]) / 2 - (prev.box[1] + prev.box[3]) / 2) <= tol:
            rows[-1].append(line)
        else:
            rows.append([line])
    return rows


def rows_as_text(lines: list[OcrLine]) -> list[str]:
    """One string per visual row, cells joined by spaces, in reading order."""
    return [" ".join(l.text for l in row) for row in row_groups(lines)]


def normalise_box(box: tuple[int, int, int, int], width: int, height: int) -> list[int]:
    """Pixel box -> 0..1000 grid, clamped."""
    x0, y0, x1, y1 = box
    def n(v: float, size: int) -> int:
        return max(0, min(1000, round(v * 1000 / max(size, 1))))
    return [n(x0, width), n(y0, height), n(x1, width), n(y1, height)]
