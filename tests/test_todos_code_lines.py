"""Whether a line reads as code (code_lines.py), learned from a system's own files
(train_code.py), and what the source-file rule does with it."""

from __future__ import annotations

import gzip
import json
import random

import pytest

from mustelid.plugins.todos import code_lines, train_code
from mustelid.plugins.todos.source_code import comments_of_code

# Languages and forms no statement pattern of source_code.py names (written here, not copied
# from a labelled note).
CODE = ["proc ::app::reload {{path \"\"}} { variable cache",
        "set cfg(depth) [expr {$n + 1}]",
        "let s:width = get(g:, 'statusline_width', 80)",
        "let rec walk acc = function [] -> acc | x :: rest -> walk (x :: acc) rest",
        "scanTokens inp__ n = go (alexScan inp__ 0) where",
        "m4_foreach([FLAG],m4_split($1),[dnl",
        "my %seen = map { $_ => 1 } @names;"]
# Lines a note's author writes: to-do items (naming code inside them too), changelog entries.
PROSE = ["- add support for --dry-run to the install script",
         "Fix the crash when the config file is empty",
         "implement retry with backoff for the HTTP client",
         "  * New upstream release, closes the old bug about locales.",
         "Update the manual page for foo_bar() and the examples",
         "Call the dentist to move Tuesday's appointment"]


@pytest.mark.parametrize("line", CODE)
def test_code_in_unnamed_languages_reads_as_code(line):
    assert code_lines.reads_as_code(line), code_lines.score(line, code_lines._weights())


@pytest.mark.parametrize("line", PROSE)
def test_items_and_entries_read_as_prose(line):
    assert not code_lines.reads_as_code(line), code_lines.score(line, code_lines._weights())


def test_case_is_folded():
    # OCR of a handwriting font or a terminal in capitals still reads Tcl as code.
    assert code_lines.grams("SET X 1") == code_lines.grams("set x 1")


def test_a_source_file_in_a_language_no_pattern_names_offers_only_its_tagged_comment():
    tcl = ["proc ::app::reload {{path \"\"}} { variable cache",
           "set cfg(depth) [expr {$n + 1}]",
           "# TODO: reload only the changed files",
           "set cfg(loaded) [clock seconds]",
           "wm title . \"Reloaded $cfg(depth)\"",
           "lappend cache $path",
           "update idletasks"]
    kept = [line for line in comments_of_code(tcl) if line.strip()]
    assert kept == ["TODO: reload only the changed files"]


def test_a_tag_that_opens_a_line_is_never_read_as_code(monkeypatch):
    # A comment whose mark OCR lost, in a picture of an editor: "TODO: cache winwidth(0)"
    # reads as code by its characters (here every line does).
    monkeypatch.setattr(code_lines, "CODE", -100.0)
    vim = ["status.vim (~/.vim/autoload) - VIM", "let s:width = get(g:, 'statusline_width', 80)",
           "let s:height = get(g:, 'statusline_height', 1)",
           "let s:seen = {}",
           "TODO: cache winwidth(0) per window",
           "return s:width"]
    kept = [line for line in comments_of_code(vim) if line.strip()]
    assert kept == ["TODO: cache winwidth(0) per window"]


def test_a_to_do_list_stays_a_list():
    # Items that name code are prose: the list is not taken for a source file.
    note = ["TODO", "- add foo_bar() to the public API", "- document the --dry-run flag",
            "- fix the crash in parse_args() on empty input", "# FIXME: the tests are slow"]
    assert comments_of_code(note) == note


def test_fit_learns_from_files_and_reports_held_out(tmp_path, capsys):
    rng = random.Random(3)
    (tmp_path / "src").mkdir()
    (tmp_path / "doc").mkdir()
    for i in range(30):
        body = "\n".join(f"x{j} = compute_{j}(y[{j}], z); // step" for j in range(rng.randrange(5, 20)))
        (tmp_path / "src" / f"m{i}.c").write_text("/* a comment */\n" + body + "\n")
        text = "\n".join(f"The program now handles case {j} and the manual says why." for j in range(8))
        (tmp_path / "doc" / f"README{i}").write_text(text + "\n")
    with gzip.open(tmp_path / "doc" / "changelog.gz", "wt") as f:
        f.write("  * Fixed the build on older systems.\n")
    train_code.main(["--code", str(tmp_path / "src"), "--prose", str(tmp_path / "doc"),
                     "--min-count", "2"])
    out, err = capsys.readouterr()
    model = json.loads(out)
    assert model["about"]["held_out"]["code"] > 0.9 and model["about"]["held_out"]["prose"] < 0.1
    assert "held out" in err
    weights = model["weights"]
    assert code_lines.score("a1 = compute_3(b[2], c); // step", weights) > \
        code_lines.score("The manual now says why the program handles it.", weights)
    # Comments are neither code nor prose to the fit.
    assert "w:comment" not in weights
