"""Fit ``code_lines.py``'s model, whether a line reads as code or prose, on a system's own files:

    python -m mustelid.plugins.todos.train_code --code /usr/lib/python3 /usr/include ... \\
        --prose /usr/share/doc > code_model.json

then copy ``code_model.json`` beside ``code_lines.py``. No note is used: the lines come from
source files (by their suffix, or a script's ``#!``) and from documentation (README, TODO,
NEWS, changelogs, copyright files, plain or gzipped). Of each file a run of lines is taken, as a
note is an excerpt. A source file's comment lines are left out: a comment may be prose or code
commented out, and a C file's "#define" looks like one. Each language gives at most ``--files``
files, so the biggest does not drown the rest.

A multinomial naive Bayes over the set of each line's features (Laplace smoothing, equal
priors), features seen fewer than ``--min-count`` times dropped. Before fitting on all lines,
a fifth of the files is held out and judged by a fit on the rest: the share of their code lines
read as code and of their prose lines read as code, at ``code_lines.CODE``, go to stderr and are
the figures to believe.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from .code_lines import CODE, grams, score

SUFFIXES = {
    ".py", ".c", ".h", ".cc", ".cpp", ".hpp", ".cxx", ".m", ".java", ".js", ".ts", ".go", ".rs",
    ".pl", ".pm", ".rb", ".lua", ".tcl", ".el", ".scm", ".lisp", ".clj", ".vim", ".sh", ".bash",
    ".awk", ".m4", ".cmake", ".mk", ".php", ".sql", ".r", ".f90", ".f", ".pas", ".erl", ".hrl",
    ".ex", ".exs", ".ml", ".mli", ".hs", ".kt", ".scala", ".swift", ".cs", ".dart", ".jl", ".nim",
}
# A comment line: the languages' line comments, a block comment's lines.
_COMMENT = re.compile(r"^\s*(?:#+|//+|/\*+|\*+(?!/)|;+|--|%+|\"|\.\\\"|<!--|\(\*+|@c\b)\s?")
_DOCS = re.compile(r"(?i)^(?:readme|todo|news|changelog|changes|faq|bugs|thanks|authors|"
                   r"copyright|install|usage|history|roadmap|whatsnew|hacking)(?:\.|$)")
_MAX_BYTES = 2_000_000


def text_lines(path: Path) -> list[str]:
    """The non-blank lines of a text file, gzipped or not; none of a binary, huge or non-UTF-8
    file."""
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            data = f.read(_MAX_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, EOFError, UnicodeDecodeError):
        return []
    if len(data) > _MAX_BYTES or "\0" in text[:4000]:
        return []
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def excerpt(lines: list[str], size: int, rng: random.Random) -> list[str]:
    """A contiguous run of ``size`` lines at a random place, as a note is an excerpt."""
    if len(lines) <= size:
        return lines
    start = rng.randrange(len(lines) - size)
    return lines[start:start + size]


def _files(roots: Iterable[Path]) -> list[Path]:
    found = set()
    for root in roots:
        for folder, _, names in os.walk(root):
            found.update(Path(folder, name) for name in names)
    return sorted(p for p in found if p.is_file() and not p.is_symlink())


def code_samples(roots: Iterable[Path], files: int, size: int, rng: random.Random,
                 exclude: re.Pattern | None) -> Iterator[tuple[str, str, str]]:
    """(label, file, line): a source file's lines but its comments, as code."""
    by_language: dict[str, list[Path]] = {}
    for path in _files(roots):
        if exclude and exclude.search(str(path)):
            continue
        # A source file by its suffix; a file without one may be a script (its "#!" decides).
        suffix = path.suffix.lower()
        language = suffix if suffix in SUFFIXES else None if suffix else ""
        if language is not None:
            by_language.setdefault(language, []).append(path)
    for language, paths in sorted(by_language.items()):
        rng.shuffle(paths)
        taken = 0
        for path in paths:
            if taken >= files:
                break
            lines = text_lines(path)
            if not lines or not language and not lines[0].startswith("#!"):
                continue
            taken += 1
            for line in excerpt(lines, size, rng):
                if not _COMMENT.match(line):
                    yield "code", str(path), line


def prose_samples(roots: Iterable[Path], files: int, size: int, rng: random.Random,
                  exclude: re.Pattern | None) -> Iterator[tuple[str, str, str]]:
    """(label, file, line) of documentation files."""
    paths = [p for p in _files(roots) if _DOCS.match(p.name)
             and not p.name.endswith((".html", ".htm"))
             and not (exclude and exclude.search(str(p)))]
    rng.shuffle(paths)
    for path in paths[:files]:
        for line in excerpt(text_lines(path), size, rng):
            yield "prose", str(path), line


def fit(samples: Iterable[tuple[str, str, str]], min_count: int) -> dict[str, float]:
    """Each feature's log-ratio, P(feature | code) over P(feature | prose), Laplace-smoothed."""
    counts = {"code": Counter(), "prose": Counter()}
    for label, _, line in samples:
        counts[label].update(grams(line))
    code, prose = counts["code"], counts["prose"]
    vocabulary = set(code) | set(prose)
    size = len(vocabulary)
    code_total, prose_total = code.total() + size, prose.total() + size
    return {g: round(math.log((code[g] + 1) / code_total)
                     - math.log((prose[g] + 1) / prose_total), 3)
            for g in sorted(vocabulary) if code[g] + prose[g] >= min_count}


def judged(weights: dict[str, float], samples: list[tuple[str, str, str]]) -> dict[str, float]:
    """Of held-out lines, the share of code read as code and of prose read as code."""
    hits = Counter()
    totals = Counter(label for label, _, _ in samples)
    for label, _, line in samples:
        hits[label] += score(line, weights) >= CODE
    return {label: hits[label] / totals[label] for label in totals}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code", nargs="+", type=Path, required=True,
                        help="folders of source files")
    parser.add_argument("--prose", nargs="+", type=Path, required=True,
                        help="folders of documentation")
    parser.add_argument("--files", type=int, default=400, help="source files per language")
    parser.add_argument("--prose-files", type=int, default=3000, help="documentation files")
    parser.add_argument("--lines", type=int, default=40, help="lines of each file")
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--exclude",
                        help="a regular expression: files whose path it finds are left out")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    exclude = re.compile(args.exclude) if args.exclude else None
    samples = list(code_samples(args.code, args.files, args.lines, rng, exclude))
    samples += prose_samples(args.prose, args.prose_files, args.lines, rng, exclude)
    names = sorted({name for _, name, _ in samples})
    rng.shuffle(names)
    held = set(names[:len(names) // 5])
    left_out = judged(fit((s for s in samples if s[1] not in held), args.min_count),
                      [s for s in samples if s[1] in held])
    counts = Counter(label for label, _, _ in samples)
    print(f"lines: {dict(counts)} from {len(names)} files; a fifth of the files held out, at "
          f"{CODE}: code read as code {left_out['code']:.3f}, prose read as code "
          f"{left_out['prose']:.3f}", file=sys.stderr)
    weights = fit(samples, args.min_count)
    json.dump({"about": {"lines": dict(counts), "files": len(names), "held_out": left_out,
                         "min_count": args.min_count, "seed": args.seed},
               "weights": weights}, sys.stdout, separators=(",", ":"), ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
