import os
import shutil
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
REPO = TESTS.parent
SROIE = REPO.parent / "shared" / "data" / "sroie-dev"
sys.path.insert(0, str(TESTS))

# One shared copy of the real model for every temp home (assembled once by `mustelid models pull`).
os.environ.setdefault(
    "MUSTELID_MODELS_DIR",
    str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mustelid" / "models"),
)


def write_config(home: Path, text: str) -> None:
    (home / "config.toml").write_text(text, encoding="utf-8")


@pytest.fixture
def home(tmp_path, monkeypatch):
    """An empty MUSTELID_HOME; everything the code writes must land under it."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("MUSTELID_HOME", str(h))
    return h


@pytest.fixture
def fake_home(home):
    """A home whose config loads the fake test plugin and uses its backend."""
    plugins = home / "plugins"
    plugins.mkdir()
    shutil.copy(TESTS / "plugins" / "fakeplugin.py", plugins / "fakeplugin.py")
    write_config(home, """
[model]
backend = "fake"
[inbox]
stable_seconds = 0.3
default_tasks = ["echo"]
[jobs]
timeout_seconds = 5
backoff_seconds = 0.2
lease_seconds = 3
[schedules]
""")
    return home


def real_model_path():
    """The real default model if it has been pulled, else None (tests then skip, loudly)."""
    from mustelid.config import load_config
    from mustelid.models import resolve_model
    from mustelid.tasks import WaitingError

    try:
        return resolve_model(load_config())
    except WaitingError:
        return None


@pytest.fixture(scope="session")
def real_model():
    """The pulled default model. In CI (MUSTELID_REQUIRE_REAL=1) its absence is a failure, not
    a skip: the real-model tests are the ones that prove the product works."""
    path = real_model_path()
    if path is None:
        msg = "the default model is not pulled: run `mustelid models pull`"
        if os.environ.get("MUSTELID_REQUIRE_REAL"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path
