"""examples/mustelid-cards, a third-party plugin package: built and installed the way a user
installs it (a wheel from its own pyproject, into a folder of its own), then loaded by the real
`mustelid` through its entry point, its tests run, and a card read by the real daemon."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "mustelid-cards"
SAMPLE = EXAMPLE / "samples" / "alice-moreno.png"


def pip_install(package: Path, target: Path) -> None:
    """``pip install --no-deps --target``: builds the wheel from the package's pyproject, as a
    user's install would, without touching the test environment. The source is copied first
    so the build's leftovers (build/, *.egg-info) never land in the repository."""
    source = target.parent / f"{package.name}-src"
    shutil.copytree(package, source, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", ".pytest_cache"))
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--target", str(target), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def env_with(target: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), env.get("PYTHONPATH")]))
    return env


def run(args: list[str], target: Path, cwd: Path | None = None, timeout: float = 120,
        **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env=env_with(target, **extra), timeout=timeout)


def mustelid(target: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    proc = run(["-m", "mustelid", *args], target, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("cards") / "site"
    pip_install(EXAMPLE, target)
    return target


def test_the_wheel_carries_the_module_prompt_and_entry_point(installed):
    assert (installed / "mustelid_cards" / "prompts" / "cards.txt").is_file()
    [dist] = installed.glob("mustelid_cards-*.dist-info")
    assert "[mustelid]\ncards = mustelid_cards" in (dist / "entry_points.txt").read_text()


def test_mustelid_loads_it_through_its_entry_point(installed, home):
    data = json.loads(mustelid(installed, "plugins", "--json").stdout)
    cards = {p["name"]: p for p in data["plugins"]}["cards"]
    assert cards["status"] == "ok", cards
    assert cards["source"] == "entry point (mustelid-cards)"
    assert cards["hooks"].split(", ") == ["register_commands", "register_migrations",
                                          "register_tasks", "route_file"]
    assert "cards" in data["tasks"]
    assert "contacts" in mustelid(installed, "--help").stdout
    assert json.loads(mustelid(installed, "contacts", "--json").stdout) == []


def test_its_fast_tests_pass(installed, home):
    proc = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not real"], installed,
               cwd=EXAMPLE)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "6 passed" in proc.stdout


@pytest.mark.real
def test_its_real_model_test_passes(installed, home, real_model):
    # MUSTELID_REQUIRE_REAL: a missing model must fail the example's test, not skip it.
    proc = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "real"], installed,
               cwd=EXAMPLE, timeout=900, MUSTELID_REQUIRE_REAL="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "skipped" not in proc.stdout


@pytest.mark.real
def test_a_card_dropped_in_the_inbox_becomes_a_contact(installed, home, real_model):
    (home / "config.toml").write_text("[inbox]\nstable_seconds = 0.2\n"
                                      "[jobs]\ntimeout_seconds = 600\n")
    (home / "inbox" / "cards").mkdir(parents=True)
    shutil.copy(SAMPLE, home / "inbox" / "cards" / "alice.png")
    mustelid(installed, "run", "--once", timeout=900)
    jobs = json.loads(mustelid(installed, "jobs", "--json").stdout)
    assert [(j["task"], j["state"]) for j in jobs] == [("cards", "done")], jobs  # route_file
    [contact] = json.loads(mustelid(installed, "contacts", "--json").stdout)
    assert contact["name"] == "Alice Moreno" and contact["file"] == "alice.png"
    assert contact["email"] == "alice.moreno@otterworks.example"
    assert contact["phone"] == "+44 20 7946 0321"
