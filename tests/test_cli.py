"""The CLI in-process (CliRunner) and as a real process."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from daemonproc import cli as run_cli

from mustelid.cli import cli


def invoke(*args, ok=True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_help_does_not_import_heavy_libraries(home):
    code = ("import sys; from mustelid.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('llama_cpp', 'rapidocr', 'onnxruntime', 'mlx', 'PIL.Image',"
            " 'numpy') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "HEAVY []" in out, out
    assert "expenses" in out and "submit" in out


def test_init_writes_annotated_config_and_refuses_to_overwrite(home):
    out = invoke("init").output
    assert "wrote" in out
    text = (home / "config.toml").read_text()
    assert "[inbox]" in text and "# " in text
    assert (home / "inbox").is_dir()
    assert invoke("init", ok=False).exit_code != 0
    invoke("init", "--force")


def test_config_get_prints_one_value(home):
    assert invoke("config", "get", "inbox.path").output.strip() == str(home / "inbox")
    assert invoke("config", "get", "model.threads").output.strip() == "2"
    bad = invoke("config", "get", "nope.key", ok=False)
    assert bad.exit_code == 1 and "unknown config key" in bad.output


def test_effective_config_as_json(home):
    data = json.loads(invoke("config", "--json").output)
    assert data["paths"]["db"] == str(home / "data" / "mustelid.db")
    assert data["model"]["name"] == "qwen2.5-coder-0.5b"


@pytest.mark.parametrize("toml, key", [
    ("[model]\nthreads = 0\n", "model.threads"),
    ("[jobs]\nmax_attempts = 'many'\n", "jobs.max_attempts"),
    ("[inbox]\nstable_secnds = 3\n", "inbox.stable_secnds"),
])
def test_bad_config_is_one_clear_line_naming_the_key(home, toml, key):
    (home / "config.toml").write_text(toml)
    proc = run_cli("status", check=False)
    assert proc.returncode == 1
    assert key in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_not_toml_is_a_clear_error(home):
    (home / "config.toml").write_text("this is = = not toml")
    proc = run_cli("status", check=False)
    assert proc.returncode == 1 and "not valid TOML" in proc.stderr


def test_broken_plugin_is_reported_and_skipped(fake_home):
    (fake_home / "plugins" / "broken.py").write_text("raise RuntimeError('I am broken')\n")
    (fake_home / "plugins" / "typo.py").write_text(
        "from mustelid import hookimpl\n@hookimpl\ndef register_taks(register):\n    pass\n")
    data = json.loads(invoke("plugins", "--json").output)
    status = {p["name"]: p["status"] for p in data["plugins"]}
    assert "I am broken" in status["broken"]
    assert status["typo"].startswith("error: invalid hook")
    assert status["fakeplugin"] == "ok"
    assert "echo" in data["tasks"] and "receipts" in data["tasks"]


def test_load_plugins_allow_list(fake_home, monkeypatch):
    monkeypatch.setenv("MUSTELID_LOAD_PLUGINS", "fakeplugin")
    data = json.loads(invoke("plugins", "--json").output)
    assert [p["name"] for p in data["plugins"]] == ["fakeplugin"]
    assert "echo" in data["tasks"] and "receipts" not in data["tasks"]
    monkeypatch.setenv("MUSTELID_LOAD_PLUGINS", "")
    assert json.loads(invoke("plugins", "--json").output)["plugins"] == []


def test_jobs_show_retry_status(fake_home, tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("PERMANENT refuse me")
    invoke("submit", str(f))
    run_cli("run", "--once")
    job = json.loads(invoke("jobs", "--json").output)[0]
    assert job["state"] == "dead" and job["reason"] == "not_echoable" and job["file"] == "x.txt"
    shown = json.loads(invoke("show", job["id"][:12], "--json").output)
    assert [e["event"] for e in shown["events"]] == ["queued", "running", "dead"]
    assert "retry" in invoke("retry", job["id"]).output or True
    assert json.loads(invoke("jobs", "--json").output)[0]["state"] == "queued"
    again = invoke("retry", job["id"], ok=False)
    assert again.exit_code == 1 and "only dead or waiting" in again.output
    status = json.loads(invoke("status", "--json").output)
    assert status["daemon"] == "stopped" and status["jobs"]["queued"] == 1


def test_terminal_output_escapes_control_characters(fake_home, tmp_path):
    f = tmp_path / "evil\x1b[2Jname.txt"
    f.write_text("hello")
    invoke("submit", str(f))
    out = invoke("jobs").output
    assert "\x1b" not in out and "\\x1b[2J" in out
