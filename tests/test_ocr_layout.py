"""OCR lines laid out as the note's file: indentation, blank lines, an editor's gutter and list
marks the detector left out (mustelid.ocr_layout; docs/EVAL.md, "Notes as pictures")."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from mustelid import OcrLine, laid_out_text
from mustelid.ocr_layout import LOST_MARK

IMAGES = Path(__file__).resolve().parents[1] / "examples" / "eval" / "notes-tune-images"
CW, H = 10, 20          # character width and line height of the rows drawn below


def line(text: str, col: int, row: int, x0: int = 100) -> OcrLine:
    """An OCR box of ``text`` starting ``col`` characters in, on row ``row`` (rows 20 px apart)."""
    x = x0 + col * CW
    return OcrLine(text, (x, row * H, x + len(text) * CW, row * H + H))


def test_indented_lines_and_free_lines_come_back_as_in_the_file():
    lines = [line("- Separate the scripts into a package;", 0, 0),
             line("these scripts are less used", 2, 1),
             line("- Internationalize with gettext.", 0, 3)]
    assert laid_out_text(lines) == ["- Separate the scripts into a package;",
                                    "  these scripts are less used",
                                    "",
                                    "- Internationalize with gettext."]


def test_edges_that_drift_a_little_each_row_stay_one_level():
    # A photo turned by a degree: each row starts 3 px (under a character) right of the last.
    lines = [OcrLine(f"item number {i} of the list", (100 + 3 * i, i * H, 400, i * H + H))
             for i in range(8)]
    assert all(not text.startswith(" ") for text in laid_out_text(lines))


def test_an_editors_line_numbers_are_dropped_and_its_empty_lines_kept():
    texts = {1: "Open", 3: "+ Display the case mode", 5: "+ emacs like key bindings",
             6: "  ^S for searching"}
    lines = []
    for n in range(1, 7):
        lines.append(OcrLine(str(n), (20, n * H, 40, n * H + H)))
        if n in texts:
            lines.append(line(texts[n].strip(), 2 if texts[n].startswith(" ") else 0, n, x0=50))
    assert laid_out_text(lines) == ["Open", "", "+ Display the case mode", "",
                                    "+ emacs like key bindings", "  ^S for searching"]


def test_a_gutter_number_read_in_one_box_with_its_line_is_dropped():
    # An editor whose gutter touches the code: the detector reads "117# TODO: ..." as one box
    # from the gutter's edge (notes-fresh30).
    def page(glued: str) -> list[OcrLine]:
        lines = []
        for n in (115, 116, 118, 119):
            lines += [OcrLine(str(n), (20, n * H, 50, n * H + H)), line(f"x{n} = {n}", 0, n, x0=60)]
        return lines + [OcrLine(glued, (20, 117 * H, 20 + len(glued) * CW, 117 * H + H))]

    out = laid_out_text(page("117# TODO: tree-seq equivalent"))
    assert "# TODO: tree-seq equivalent" in out and not any(t.startswith("117") for t in out)
    # Read with a space between (Vim's gutter, notes-fresh43): dropped the same way.
    out = laid_out_text(page("117 # ToD0: implement the multi-level version"))
    assert "# ToD0: implement the multi-level version" in out
    # A number that does not count between its neighbours is the line's own text.
    assert "90# x" in laid_out_text(page("90# x"))
    assert "90 apples" in laid_out_text(page("90 apples"))


def test_numbers_that_do_not_count_up_down_one_column_are_text():
    lines = [line("Buy", 0, 0), line("12", 5, 0), line("Eggs", 0, 1), line("6", 5, 1),
             line("Milk", 0, 2), line("2", 5, 2), line("Tea", 0, 3), line("40", 5, 3)]
    out = [t.strip() for t in laid_out_text(lines)]
    assert "12" in out and "40" in out


def test_a_row_the_page_had_no_room_to_finish_is_joined_back():
    # A note wrapped at 46 characters: each full row's next word would not have fitted.
    rows = ["- Remove some of the old porting cruft, since",
            "we no longer support it.",
            "- Separate out the shell scripts like gzexe",
            "into a new little package; these are less",
            "used and less reliable and should be optional.",
            "- Internationalize by using gettext."]
    out = laid_out_text([line(t, 0, i) for i, t in enumerate(rows)])
    assert out == ["- Remove some of the old porting cruft, since we no longer support it.",
                   # joined up to a file line's length; the rest is the paragraph's next line
                   "- Separate out the shell scripts like gzexe into a new little package;"
                   " these are less",
                   "used and less reliable and should be optional.",
                   "- Internationalize by using gettext."]


def test_rows_that_end_where_the_writer_chose_stay_apart():
    # A list of short entries is not a wrapped page, however alike their lengths.
    short = ["buy milk and eggs", "call mom tonight", "pick up the kids"]
    assert laid_out_text([line(t, 0, i) for i, t in enumerate(short)]) == short
    # On a wrapped page: a sentence ended, or room was left for the next word.
    rows = ["Some of the planned features of this release are:",
            "many more tests of the parser and its error paths",
            "Internationalize by using gettext and setlocale.",
            "Use the library in both programs and write docs",
            "for it.", "Make it convenient to define interfaces", "and menus"]
    out = laid_out_text([line(t, 0, i) for i, t in enumerate(rows)])
    assert out[:3] == rows[:3]
    assert out[3] == "Use the library in both programs and write docs for it."
    assert out[4:] == ["Make it convenient to define interfaces", "and menus"]


def _page(marks: dict[int, str], margin: bool = False) -> tuple[Image.Image, list[OcrLine]]:
    """A white page with rows of text blocks at x=100 and, on the rows in ``marks``, a glyph
    drawn 2 characters to the left: "-" a dash, "8" a tall digit; with ``margin``, a
    notebook's margin rule down the page just left of the marks."""
    image = Image.new("RGB", (500, 40 + 6 * H), "white")
    draw = ImageDraw.Draw(image)
    if margin:
        draw.line((79, 0, 79, image.height), fill=(200, 60, 60), width=2)
    lines = []
    for row in range(6):
        y = 20 + row * H
        draw.rectangle((104, y + 4, 300, y + 15), fill="black")      # the words
        glyph = marks.get(row)
        if glyph == "-":
            draw.rectangle((82, y + 9, 88, y + 10), fill="black")
        elif glyph == "8":
            draw.rectangle((82, y + 4, 88, y + 15), fill="black")
        lines.append(OcrLine(f"item {row} of the list", (100, y, 302, y + H)))
    return image, lines


def test_marks_the_detector_left_out_are_put_back_from_the_pixels():
    image, lines = _page({0: "-", 1: "-", 3: "-"})
    out = laid_out_text(lines, image)
    assert [t.startswith(f"{LOST_MARK} ") for t in out] == [True, True, False, True, False, False]
    # Marked lines start where their mark does; an unmarked line's words align with theirs.
    assert out[2] == "  item 2 of the list"


def test_a_margin_rule_beside_the_marks_is_no_glyph():
    image, lines = _page({0: "-", 1: "-", 3: "-"}, margin=True)
    out = laid_out_text(lines, image)
    assert [t.startswith(f"{LOST_MARK} ") for t in out] == [True, True, False, True, False, False]


def test_a_lone_glyph_or_a_tall_one_is_no_mark():
    image, lines = _page({2: "-"})
    assert not any(LOST_MARK in t for t in laid_out_text(lines, image))
    image, lines = _page({0: "8", 1: "8", 2: "8"})
    assert not any(LOST_MARK in t for t in laid_out_text(lines, image))


@pytest.mark.real
def test_real_ocr_of_a_pager_capture_gets_its_marks_and_indents_back():
    pytest.importorskip("rapidocr")
    from mustelid import clean_text
    from mustelid.plugins.ocr_rapid import RapidOcrEngine

    path = IMAGES / "img05.png"     # adduser's TODO in `less`: " * " items, wrapped under them
    lines = [OcrLine(clean_text(l.text), l.box, l.score) for l in RapidOcrEngine().read(str(path))]
    out = laid_out_text(lines, Image.open(path).convert("RGB"))
    items = [t for t in out if t.lstrip().startswith(LOST_MARK)]
    assert len(items) == 8, out
    first, second = out[0], out[1]
    assert second.strip() == "as of bookworm+1. Run-time warnings should be added"
    indent = len(second) - len(second.lstrip())
    assert indent > len(first) - len(first.lstrip())      # carried on under its item


# Any boxes an OCR engine may return, on any page: nothing is lost but a gutter's numbers.
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_box = st.tuples(st.integers(0, 400), st.integers(0, 400), st.integers(1, 300), st.integers(1, 60))
_ocr = st.lists(st.tuples(st.text(min_size=1, max_size=30), _box), max_size=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_ocr, st.booleans())
def test_every_line_read_is_laid_out_unless_it_is_a_bare_number(raw, with_page):
    # Tasks hand over clean_text'ed lines: single spaces, none at the ends.
    lines = [OcrLine(" ".join(text.split()), (x, y, x + w, y + h)) for text, (x, y, w, h) in raw]
    page = Image.new("RGB", (600, 400), "white") if with_page else None   # boxes may overflow it
    if page is not None:
        ImageDraw.Draw(page).rectangle((0, 0, 599, 399), outline="black")
    out = laid_out_text(lines, page)
    texts = [t.lstrip().removeprefix(f"{LOST_MARK} ") for t in out if t.strip()]
    # A row carried over is joined onto the line before it: every line read is a laid-out
    # line or a space-separated part of one, and nothing is made up.
    parts = [p for t in texts for p in _joined_parts(t, lines)]
    for line_ in lines:
        if line_.text.strip() and not line_.text.isdigit():
            # ... or, when it starts with a gutter's number glued to it, the rest of it.
            unglued = line_.text.lstrip("0123456789")
            assert line_.text in parts or unglued in parts
    assert len(texts) <= len([l for l in lines if l.text.strip()])


def _joined_parts(text: str, lines: list[OcrLine]) -> list[str]:
    """``text`` as the read lines it was joined from, longest prefixes first."""
    if not text:
        return []
    for line_ in sorted(lines, key=lambda l: -len(l.text)):
        if line_.text and (text == line_.text or text.startswith(line_.text + " ")):
            rest = _joined_parts(text[len(line_.text) + 1:], lines)
            if rest or text == line_.text:
                return [line_.text, *rest]
    return [text]
