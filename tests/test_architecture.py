"""The architecture rules, enforced (docs/ARCHITECTURE.md).

The import rules are import-linter contracts in pyproject.toml ([tool.importlinter]); this test
runs them, so a change that breaks a layer or makes a plugin import a private module fails CI.
import-linter finds modules by walking a package's folder, and ``mustelid`` is spread over four
folders (daemon/, store/, plugins/, prompts/), so the test lays them out as one package of
symlinks first.

The other rules (module and function size, SQL only in store/) are checked here directly.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"store": ROOT / "store", "plugins": ROOT / "plugins", "prompts": ROOT / "prompts"}
# What a plugin may import (docs/ARCHITECTURE.md "The public API"); everything else is private.
PUBLIC = {"mustelid", "mustelid.records", "mustelid.cli", "mustelid.backend", "mustelid.testing",
          "mustelid.learn"}
MAX_MODULE_LINES = 420        # "no module over ~400 lines"
MAX_FUNCTION_LINES = 60
# SQL in a string literal: a statement, or a WHERE fragment ("id = ?") handed to sqlite-utils.
SQL = re.compile(r"\b(SELECT\b.*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM"
                 r"|CREATE\s+(TABLE|INDEX|VIEW|TRIGGER|VIRTUAL)|PRAGMA\s+\w|BEGIN\s+IMMEDIATE)\b"
                 r"|\w+\s*(=|<=|>=|<|>|!=)\s*\?|\bIS\s+(NOT\s+)?NULL\b", re.S)


def _shadow_package(tmp: Path) -> Path:
    """tmp/mustelid: daemon/'s entries plus store/, plugins/, prompts/, all as symlinks."""
    pkg = tmp / "mustelid"
    pkg.mkdir()
    for entry in (ROOT / "daemon").iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    for name, folder in FOLDERS.items():
        (pkg / name).symlink_to(folder)
    return tmp


def _sources() -> list[tuple[str, Path]]:
    """(module name, file) for every module of the package."""
    out = []
    for base, prefix in [(ROOT / "daemon", "mustelid"), *((f, f"mustelid.{n}")
                                                         for n, f in FOLDERS.items())]:
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            out.append((".".join([prefix, *parts]), path))
    return out


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"]


def test_import_contracts_hold(tmp_path):
    shadow = _shadow_package(tmp_path)
    lint = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(shadow)}
    proc = subprocess.run([str(lint), str(ROOT / "pyproject.toml"), "--no-cache"],
                          cwd=shadow, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "broken" in proc.stdout and " 0 broken" in proc.stdout


def test_every_private_module_is_forbidden_to_plugins():
    """A new host module is private until it is added to PUBLIC on purpose: the contract must
    name it (or a package above it), or plugins could start importing it unnoticed."""
    contract = next(c for c in _contracts() if c["source_modules"] == ["mustelid.plugins"])
    forbidden = contract["forbidden_modules"]
    missing = []
    for module, _ in _sources():
        if module in PUBLIC or module.startswith("mustelid.plugins"):
            continue
        if not any(module == f or module.startswith(f + ".") for f in forbidden):
            missing.append(module)
    assert not missing, f"add to the plugins contract in pyproject.toml: {missing}"


def test_modules_and_functions_stay_short():
    long_modules, long_functions = [], []
    for module, path in _sources():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            long_modules.append(f"{module}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{module}.{node.name}: {length} lines")
    assert not long_modules, long_modules
    assert not long_functions, long_functions


def _string_literals(tree: ast.AST):
    """Every str constant except docstrings (prose may name SQL; code may not hold it)."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                       ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node


@pytest.mark.parametrize("folder", ["daemon", "plugins"])
def test_sql_is_written_only_in_store(folder):
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in _string_literals(ast.parse(path.read_text(encoding="utf-8"))):
            if SQL.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:80]!r}")
    assert not found, "\n".join(found)
