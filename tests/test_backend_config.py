"""Backend settings under [backend.NAME]: old [model] keys still read (with a deprecation
warning), the context a factory gets, and what `mustelid config` shows."""

from __future__ import annotations

import json
import logging
import tomllib

import pytest
from click.testing import CliRunner
from conftest import write_config

from mustelid import WaitingError, hookimpl
from mustelid.backend import BackendContext, backend_tables
from mustelid.cli import cli
from mustelid.config import ANNOTATED_CONFIG, Config, load_config
from mustelid.host import Host
from mustelid.plugins.llama_cpp import LlamaSettings
from mustelid.plugins.remote_backend import RemoteSettings
from mustelid.worker import WorkerContext

OLD_STYLE = """
[model]
threads = 1
n_ctx = 1024
kv_type = "q8_0"
url = "http://127.0.0.1:8080/v1"
remote_model = "tiny"
remote_timeout = 30
seed = 7
"""


def deprecations(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "mustelid.config" and "deprecated" in r.getMessage()]


def test_old_model_keys_are_read_into_the_backend_tables_with_a_warning_each(home, caplog):
    write_config(home, OLD_STYLE)
    with caplog.at_level(logging.WARNING, logger="mustelid.config"):
        cfg = load_config()
    assert cfg.model.threads == 1
    assert cfg.backend == {
        "llama_cpp": {"n_ctx": 1024, "kv_type": "q8_0", "seed": 7},   # seed: model.backend's
        "remote": {"url": "http://127.0.0.1:8080/v1", "model": "tiny", "timeout": 30},
    }
    assert sorted(deprecations(caplog)) == sorted([
        "model.n_ctx is deprecated; write it as [backend.llama_cpp] n_ctx",
        "model.kv_type is deprecated; write it as [backend.llama_cpp] kv_type",
        "model.url is deprecated; write it as [backend.remote] url",
        "model.remote_model is deprecated; write it as [backend.remote] model",
        "model.remote_timeout is deprecated; write it as [backend.remote] timeout",
        "model.seed is deprecated; write it as [backend.llama_cpp] seed",
    ])
    llama = BackendContext.from_config(cfg).parse_settings(LlamaSettings)
    assert (llama.n_ctx, llama.kv_type, llama.seed, llama.n_ctx_min) == (1024, "q8_0", 7, 1024)
    remote = BackendContext.from_config(cfg, "remote").parse_settings(RemoteSettings)
    assert (remote.url, remote.model, remote.timeout) == ("http://127.0.0.1:8080/v1", "tiny", 30)


def test_the_new_table_wins_over_an_old_key_and_seed_follows_the_backend(home, caplog):
    write_config(home, '[model]\nbackend = "remote"\nseed = 3\nn_ctx = 1024\n'
                       "[backend.llama_cpp]\nn_ctx = 8192\n")
    with caplog.at_level(logging.WARNING, logger="mustelid.config"):
        cfg = load_config()
    assert cfg.backend == {"llama_cpp": {"n_ctx": 8192}, "remote": {"seed": 3}}
    assert "model.n_ctx is deprecated; write it as [backend.llama_cpp] n_ctx (ignored: that " \
        "key is set)" in deprecations(caplog)


def test_a_new_style_config_logs_nothing_and_init_writes_one(home, caplog):
    with caplog.at_level(logging.WARNING, logger="mustelid.config"):
        annotated = Config.model_validate(tomllib.loads(ANNOTATED_CONFIG))
    assert deprecations(caplog) == []
    assert annotated.model == Config().model
    assert LlamaSettings.model_validate(annotated.backend["llama_cpp"]) == LlamaSettings()
    assert set(annotated.backend) == {"llama_cpp"}


def test_bad_old_values_are_reported_by_the_backend_naming_the_new_key(home):
    write_config(home, "[model]\nn_ctx = 10\n")
    ctx = BackendContext.from_config(load_config())
    with pytest.raises(WaitingError) as e:
        ctx.parse_settings(LlamaSettings)
    assert e.value.reason == "backend_config_invalid"
    assert e.value.message.startswith("[backend.llama_cpp] n_ctx: ")


def test_the_worker_hands_the_factory_a_backend_context(home):
    write_config(home, '[model]\nbackend = "probe"\nthreads = 3\n[backend.probe]\nlevel = 9\n')
    got = []

    class Probe:
        @hookimpl
        def register_backends(self, register):
            register("probe", lambda ctx: got.append(ctx) or "backend")

    host = Host(load=False)
    host.register(Probe(), "probe")
    cfg = load_config()
    assert WorkerContext(cfg, host).backend == "backend"
    (ctx,) = got
    assert isinstance(ctx, BackendContext)
    assert ctx.name == "probe" and ctx.settings == {"level": 9} and ctx.model.threads == 3
    assert ctx.models_dir == cfg.models_dir


def invoke(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_config_shows_backend_settings_with_the_plugins_defaults(home):
    assert invoke("config", "get", "backend.llama_cpp.n_ctx").strip() == "4096"
    assert float(invoke("config", "get", "backend.remote.timeout")) == 120
    write_config(home, "[backend.llama_cpp]\nn_ctx = 1024\n")
    assert invoke("config", "get", "backend.llama_cpp.n_ctx").strip() == "1024"
    data = json.loads(invoke("config", "--json"))
    assert data["backend"]["llama_cpp"]["n_ctx"] == 1024
    assert data["backend"]["llama_cpp"]["n_ctx_min"] == 1024     # follows n_ctx when only n_ctx is written
    assert data["backend"]["remote"]["url"] is None
    assert "n_ctx" not in data["model"]


def test_backend_tables_keep_an_unknown_or_invalid_table_as_written():
    cfg = Config(backend={"thirdparty": {"x": 1}, "llama_cpp": {"n_ctx": 10}})
    tables = backend_tables(cfg, {"llama_cpp": lambda ctx: None})   # no settings_model
    assert tables == {"llama_cpp": {"n_ctx": 10}, "thirdparty": {"x": 1}}
    from mustelid.plugins.llama_cpp import LlamaCppBackend

    tables = backend_tables(cfg, {"llama_cpp": LlamaCppBackend})
    assert tables["llama_cpp"] == {"n_ctx": 10}                      # invalid: as written


def test_a_first_context_larger_than_the_maximum_is_refused():
    with pytest.raises(ValueError, match="n_ctx_min .* larger than n_ctx"):
        LlamaSettings(n_ctx=1024, n_ctx_min=2048)
    assert LlamaSettings(n_ctx=2048, n_ctx_min=2048).n_ctx_min == 2048
    assert LlamaSettings(n_ctx=1024).n_ctx_min == 1024      # only n_ctx written: follows it


@pytest.mark.parametrize("value", ["inf", "nan", "-inf"])
def test_infinite_or_nan_numbers_in_the_config_are_refused(home, value):
    from mustelid.config import ConfigError

    write_config(home, f"[jobs]\ntimeout_seconds = {value}\n")
    with pytest.raises(ConfigError, match="timeout_seconds"):
        load_config()


def test_a_secret_written_in_the_config_is_never_printed(home):
    """A key pasted into the file (or under a name mustelid does not know) must not be echoed by
    the config error, `mustelid config` or `config get` (issue 13 class 4)."""
    from mustelid.config import ConfigError

    write_config(home, '[model]\napi_key = "sk-secret-999"\n')
    with pytest.raises(ConfigError) as e:
        load_config()
    assert "api_key" in str(e.value) and "sk-secret-999" not in str(e.value)
    write_config(home, '[backend.remote]\napi_key = "sk-secret-999"\ntoken = "t0k"\n')
    shown = invoke("config", "--json") + invoke("config", "get", "backend.remote.api_key")
    assert "sk-secret-999" not in shown and "t0k" not in shown and "(hidden)" in shown
