"""`mustelid plugins new NAME`: the package it writes installs, loads and passes its own tests."""

import json
import tomllib

import pytest
from click.testing import CliRunner
from test_example_plugin import mustelid, pip_install, run

from mustelid.cli import cli
from mustelid.prompts import render_text
from mustelid.scaffold import ScaffoldError, create_plugin, names_for

EXPECTED = {
    "pyproject.toml", "README.md", ".gitignore",
    "src/mustelid_meter_readings/__init__.py",
    "src/mustelid_meter_readings/prompts/meter_readings.txt",
    "tests/test_meter_readings.py",
}
EXPECTED_PROMPT = "src/mustelid_meter_readings/prompts/meter_readings.txt"


def invoke(*args, ok=True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_every_name_derives_from_the_one_typed():
    names = names_for("mustelid-Meter-Readings")
    assert (names.name, names.dist, names.package, names.class_name, names.command) == (
        "meter_readings", "mustelid-meter-readings", "mustelid_meter_readings",
        "MeterReadings", "meter-readings")


@pytest.mark.parametrize("bad", ["", "x", "1st", "has space", "cards!", "a--b", "trailing-",
                                 "class", "über"])
def test_unusable_names_are_refused(bad):
    with pytest.raises(ScaffoldError):
        names_for(bad)


def test_a_name_whose_command_exists_is_refused():
    with pytest.raises(ScaffoldError, match="mustelid jobs"):
        names_for("jobs", taken={"jobs", "run"})


def test_the_package_is_complete_and_every_marker_filled(tmp_path):
    root, written = create_plugin("meter-readings", tmp_path)
    assert root == tmp_path / "mustelid-meter-readings"
    assert {p.relative_to(root).as_posix() for p in written} == EXPECTED
    for path in written:
        assert "{{" not in path.read_text(), path
        if path.suffix == ".py":
            compile(path.read_text(), str(path), "exec")
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["mustelid"] == {
        "meter_readings": "mustelid_meter_readings"}
    prompt = (root / EXPECTED_PROMPT).read_text()
    messages = render_text(prompt, ocr_text="the OCR text")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "the OCR text" in messages[1]["content"]
    assert "record_meter_readings" in messages[0]["content"]


def test_an_existing_folder_is_never_overwritten(tmp_path):
    (tmp_path / "mustelid-notes").mkdir()
    (tmp_path / "mustelid-notes" / "keep.txt").write_text("mine")
    with pytest.raises(ScaffoldError, match="already exists"):
        create_plugin("notes", tmp_path)
    assert [p.name for p in (tmp_path / "mustelid-notes").iterdir()] == ["keep.txt"]


def test_plugins_new_command(home, tmp_path):
    out = invoke("plugins", "new", "meter-readings", "--dir", str(tmp_path)).output
    assert "wrote" in out and "pip install -e" in out
    assert (tmp_path / "mustelid-meter-readings" / "pyproject.toml").is_file()
    again = invoke("plugins", "new", "meter-readings", "--dir", str(tmp_path), ok=False)
    assert again.exit_code == 1 and "already exists" in again.output
    taken = invoke("plugins", "new", "jobs", "--dir", str(tmp_path), ok=False)
    assert taken.exit_code == 1 and "`mustelid jobs` already exists" in taken.output


def test_plugins_still_lists_with_json_beside_new(fake_home):
    data = json.loads(invoke("plugins", "--json").output)
    assert {"plugins", "tasks", "backends", "ocr_engines"} <= set(data)
    assert "echo" in data["tasks"]
    assert "new" in invoke("plugins", "--help").output


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory):
    """A package written by the real command, then built and installed like a user's."""
    parent = tmp_path_factory.mktemp("scaffold")
    proc = run(["-m", "mustelid", "plugins", "new", "meter-readings", "--dir", str(parent)],
               parent)
    assert proc.returncode == 0, proc.stderr
    root = parent / "mustelid-meter-readings"
    target = parent / "site"
    pip_install(root, target)
    return root, target


def test_the_new_plugin_loads_through_its_entry_point(scaffolded, home):
    root, target = scaffolded
    data = json.loads(mustelid(target, "plugins", "--json").stdout)
    plugin = {p["name"]: p for p in data["plugins"]}["meter_readings"]
    assert plugin["status"] == "ok" and plugin["source"] == "entry point (mustelid-meter-readings)"
    assert plugin["hooks"].split(", ") == ["register_commands", "register_migrations",
                                           "register_tasks", "route_file"]
    assert "meter_readings" in data["tasks"]
    assert json.loads(mustelid(target, "meter-readings", "--json").stdout) == []


def test_the_new_plugins_tests_pass_with_a_fake_model(scaffolded, home):
    root, target = scaffolded
    proc = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not real"], target,
               cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout


@pytest.mark.real
def test_the_new_plugins_real_model_test_passes(scaffolded, home, real_model):
    root, target = scaffolded
    proc = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "real"], target, cwd=root,
               timeout=900, MUSTELID_REQUIRE_REAL="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "skipped" not in proc.stdout
