"""``mustelid.testing``'s home helpers: a throw-away ``MUSTELID_HOME`` with its own config, and
finding the real model (or skipping the test without it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import tomli_w

from mustelid.config import Config, home_from_env, load_config
from mustelid.models import resolve_model
from mustelid.tasks import WaitingError


@contextlib.contextmanager
def temp_home(path: str | os.PathLike[str] | None = None, *,
              config: dict[str, Any] | str | None = None) -> Iterator[Path]:
    """Point ``MUSTELID_HOME`` at ``path`` (default: a new temp dir, removed afterwards) for the
    duration, and write ``config`` (a dict or TOML text) as its config.toml.

    The models folder keeps pointing where it pointed before (``MUSTELID_MODELS_DIR``), so a model
    pulled once serves every test home. The environment is restored on exit.
    """
    shared_models = os.environ.get("MUSTELID_MODELS_DIR") or str(
        Config(home=home_from_env()).models_dir)
    saved = {k: os.environ.get(k) for k in ("MUSTELID_HOME", "MUSTELID_MODELS_DIR")}
    owned = path is None
    home = Path(tempfile.mkdtemp(prefix="mustelid-test-") if owned else path).resolve()
    home.mkdir(parents=True, exist_ok=True)
    if config is not None:
        write_config(home, config)
    os.environ["MUSTELID_HOME"] = str(home)
    os.environ["MUSTELID_MODELS_DIR"] = shared_models
    try:
        yield home
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if owned:
            shutil.rmtree(home, ignore_errors=True)


def write_config(home: Path, config: dict[str, Any] | str) -> Path:
    """Write config.toml into ``home``; it is validated by the real loader when read."""
    if isinstance(config, dict):
        config = tomli_w.dumps(config)
    path = home / "config.toml"
    path.write_text(config, encoding="utf-8")
    return path


def requires_model() -> Path:
    """The verified default (or configured) model, or skip the calling test when it is missing.

    With ``MUSTELID_REQUIRE_REAL=1`` (CI) a missing model fails the test instead: tests with the
    real model are the ones that prove a task works.
    """
    import pytest   # only where tests run: pytest is not a dependency of mustelid

    try:
        return resolve_model(load_config())
    except WaitingError as e:
        message = f"{e.message} (the real model is needed: run `mustelid models pull`)"
        if os.environ.get("MUSTELID_REQUIRE_REAL"):
            pytest.fail(message)
        pytest.skip(message)
