"""``mustelid plugins new NAME``: write a new plugin package that installs, loads and tests.

The package is the smallest complete one: a pyproject with the ``mustelid`` entry point and the
prompt as package data, a module with a Task, its hooks and its table's migration, the prompt,
tests written with ``mustelid.testing`` (fast ones with a fake model, one with the real model),
and a README. The files are templates in ``mustelid/templates/plugin/``; ``{{key}}`` markers are
filled by plain replacement, so the templates' own ``${...}`` and ``{...}`` are left alone.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mustelid import __version__

# template file -> where it goes in the new package
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "gitignore.tmpl": ".gitignore",
    "plugin.py.tmpl": "src/{package}/__init__.py",
    "prompt.txt.tmpl": "src/{package}/prompts/{name}.txt",
    "test_plugin.py.tmpl": "tests/test_{name}.py",
}

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,38}[a-z0-9]$")


class ScaffoldError(Exception):
    """The name is unusable or the target exists; worded for the command line."""


@dataclass(frozen=True)
class PluginNames:
    name: str        # task, table, plugin and entry-point name: "meter_readings"
    dist: str        # the distribution: "mustelid-meter-readings"
    package: str     # the import name: "mustelid_meter_readings"
    class_name: str  # the Task subclass: "MeterReadings"
    command: str     # the CLI command: "meter-readings"

    def values(self) -> dict[str, str]:
        return {"name": self.name, "dist": self.dist, "package": self.package,
                "Class": self.class_name, "command": self.command,
                "function": f"record_{self.name}", "mustelid_version": __version__}


def names_for(raw: str, taken: set[str] = frozenset()) -> PluginNames:
    """Every name the package needs, from what the user typed (``meter-readings``).

    ``taken``: command names already in use; the plugin's command must not replace one.
    """
    base = raw.strip().lower()
    for prefix in ("mustelid-", "mustelid_"):
        base = base.removeprefix(prefix)
    if not _NAME.match(base) or "--" in base or "__" in base:
        raise ScaffoldError(
            f"{raw!r} is not a usable plugin name: use 2-40 lowercase letters, digits, '-' or '_', "
            "starting with a letter (e.g. meter-readings)")
    name = base.replace("-", "_")
    if keyword.iskeyword(name):
        raise ScaffoldError(f"{raw!r} is a Python keyword; choose another name")
    command = name.replace("_", "-")
    if command in taken:
        raise ScaffoldError(f"`mustelid {command}` already exists; choose another name")
    return PluginNames(
        name=name,
        dist="mustelid-" + command,
        package="mustelid_" + name,
        class_name="".join(part.capitalize() for part in name.split("_")),
        command=command,
    )


def fill(template: str, values: dict[str, str]) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{{" + key + "}}", value)
    left = re.findall(r"\{\{\w+\}\}", out)
    if left:  # a typo in a template must not ship as literal text
        raise ScaffoldError(f"template has unknown markers: {sorted(set(left))}")
    return out


def create_plugin(raw_name: str, parent: Path,
                  taken: set[str] = frozenset()) -> tuple[Path, list[Path]]:
    """Write the package into ``parent/<dist>``; return its folder and the files written.

    Refuses to write into an existing folder: nothing of the user's is ever overwritten.
    """
    names = names_for(raw_name, taken)
    root = Path(parent).expanduser().resolve() / names.dist
    if root.exists():
        raise ScaffoldError(f"{root} already exists")
    values = names.values()
    templates = resources.files("mustelid").joinpath("templates", "plugin")
    rendered = {
        root / target.format(package=names.package, name=names.name):
            fill(templates.joinpath(source).read_text(encoding="utf-8"), values)
        for source, target in FILES.items()
    }
    written = []
    for path, text in rendered.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return root, written
