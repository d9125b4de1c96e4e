"""Issue 15, service: `mustelid service install|uninstall|status|unit` writes a systemd user unit
(Linux) or a launchd agent (macOS) that runs this python's `-m mustelid run` on this
MUSTELID_HOME, restarts it on failure and stops it with SIGTERM.

No test talks to the machine's real service manager: `systemctl` and `launchctl` are fakes on
PATH that record their arguments (a CI machine with a user session would otherwise really
enable a service)."""

import configparser
import os
import plistlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from daemonproc import MUSTELID

from mustelid import service


def _cli(*args, env):
    return subprocess.run([*MUSTELID, *args], capture_output=True, text=True, env=env,
                          timeout=60)


@pytest.fixture
def sandbox(home, tmp_path):
    """HOME, XDG_CONFIG_HOME and PATH in tmp; fake systemctl/launchctl that log their argv and
    fail when $FAKE_FAIL names them (as systemctl does without a user session)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    for tool in ("systemctl", "launchctl"):
        script = bin_dir / tool
        script.write_text(
            "#!/bin/sh\n"
            f'echo "{tool} $*" >> "{calls}"\n'
            f'case " $FAKE_FAIL " in *" {tool} "*)\n'
            '  echo "Failed to connect to bus: No medium found" >&2; exit 1;; esac\n'
            'case "$*" in *is-enabled*) echo enabled;; *is-active*) echo active;; esac\n'
            "exit 0\n")
        script.chmod(0o755)
    env = {**os.environ, "HOME": str(tmp_path / "user"), "XDG_CONFIG_HOME":
           str(tmp_path / "user" / "config"), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    env.pop("FAKE_FAIL", None)
    return env, calls, tmp_path / "user"


def _unit(text):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return parser


def test_the_systemd_unit_runs_this_python_on_this_home(home, monkeypatch):
    monkeypatch.chdir(home.parent)
    monkeypatch.setenv("MUSTELID_HOME", "home")               # relative: made absolute
    text = service.describe("linux").text
    unit = _unit(text)["Service"]
    assert unit["ExecStart"] == f'"{sys.executable}" "-m" "mustelid" "run"'
    assert f'Environment="MUSTELID_HOME={home.resolve()}"' in text.splitlines()
    assert f'Environment="MUSTELID_MODELS_DIR={os.environ["MUSTELID_MODELS_DIR"]}"' in text
    assert unit["Restart"] == "on-failure"
    assert unit["KillSignal"] == "SIGTERM" and unit["KillMode"] == "mixed"
    assert _unit(text)["Install"]["WantedBy"] == "default.target"
    # the command it runs is a working mustelid
    proc = subprocess.run([sys.executable, "-m", "mustelid", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "mustelid" in proc.stdout


def test_percent_and_dollar_in_a_path_stay_literal(monkeypatch, tmp_path):
    monkeypatch.setenv("MUSTELID_HOME", str(tmp_path / 'a %h $HOME "q"'))
    text = service.systemd_unit(["/opt/py $x/python", "-m", "mustelid", "run"],
                                service.environment())
    assert '"/opt/py $$x/python"' in text
    assert 'a %%h $HOME \\"q\\"' in text
    with pytest.raises(service.ServiceError):
        service.systemd_unit(["/a\nb"], {})


def _verify(path):
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                          text=True, timeout=60)
    # systemd-analyze exits 0 on many mistakes; what it says about *our* file is what counts
    about_ours = [line for line in (proc.stdout + proc.stderr).splitlines()
                  if path.name in line]
    return proc.returncode, about_ours


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze absent")
def test_systemd_analyze_verify_accepts_the_unit(home, tmp_path, monkeypatch):
    monkeypatch.setenv("MUSTELID_HOME", str(tmp_path / "my home %h $x"))
    path = tmp_path / "mustelid.service"
    path.write_text(service.describe("linux").text)
    assert _verify(path) == (0, [])
    # the check can fail: a misspelt setting is reported against the file
    broken = tmp_path / "broken" / "mustelid.service"
    broken.parent.mkdir()
    broken.write_text(path.read_text().replace("KillMode=mixed", "KillMode=gently"))
    assert _verify(broken)[1], "systemd-analyze said nothing about a bad KillMode"


def test_the_launchd_agent_is_a_valid_plist(home):
    agent = plistlib.loads(service.describe("macos").text.encode())
    assert agent["Label"] == service.LABEL
    assert agent["ProgramArguments"] == [sys.executable, "-m", "mustelid", "run"]
    assert agent["EnvironmentVariables"]["MUSTELID_HOME"] == str(home.resolve())
    assert agent["KeepAlive"] == {"SuccessfulExit": False}       # restart on failure only
    assert agent["RunAtLoad"] is True and agent["ExitTimeOut"] >= 10


def test_install_without_a_user_session_writes_the_unit_and_says_how_in_one_line(sandbox):
    env, calls, user = sandbox
    proc = _cli("service", "install", env={**env, "FAKE_FAIL": "systemctl"})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Failed to connect to bus" in proc.stderr
    assert "systemctl --user enable --now mustelid.service" in proc.stderr
    unit = user / "config" / "systemd" / "user" / "mustelid.service"
    assert "-m\" \"mustelid\" \"run\"" in unit.read_text()
    gone = _cli("service", "uninstall", env={**env, "FAKE_FAIL": "systemctl"})
    assert gone.returncode == 0 and not unit.exists()
    assert "could not ask the service manager to stop it" in gone.stdout


def test_install_status_uninstall_with_systemd(sandbox):
    env, calls, user = sandbox
    unit = user / "config" / "systemd" / "user" / "mustelid.service"
    dry = _cli("service", "install", "--dry-run", env=env)
    assert dry.returncode == 0 and "ExecStart=" in dry.stdout and not unit.exists()

    proc = _cli("service", "install", env=env)
    assert proc.returncode == 0, proc.stderr
    assert unit.exists()
    assert calls.read_text().splitlines() == ["systemctl --user daemon-reload",
                                              "systemctl --user enable --now mustelid.service"]
    status = _cli("service", "status", "--json", env=env)
    assert '"installed": true' in status.stdout and '"active": "active"' in status.stdout

    proc = _cli("service", "uninstall", env=env)
    assert proc.returncode == 0 and not unit.exists()
    assert "systemctl --user disable --now mustelid.service" in calls.read_text()
    assert '"installed": false' in _cli("service", "status", "--json", env=env).stdout


def test_install_and_uninstall_with_launchd(sandbox):
    env, calls, user = sandbox
    plist = user / "Library" / "LaunchAgents" / f"{service.LABEL}.plist"
    proc = _cli("service", "install", "--platform", "macos", env=env)
    assert proc.returncode == 0, proc.stderr
    assert plistlib.loads(plist.read_bytes())["Label"] == service.LABEL
    assert f"launchctl bootstrap gui/{os.getuid()} {plist}" in calls.read_text()
    proc = _cli("service", "uninstall", "--platform", "macos", env=env)
    assert proc.returncode == 0 and not plist.exists()
    assert f"launchctl bootout gui/{os.getuid()}/{service.LABEL}" in calls.read_text()


def test_an_unknown_platform_is_one_line():
    with pytest.raises(service.ServiceError, match="mustelid run"):
        service.manager_for("win32")


def test_unit_path_follows_xdg_config_home():
    assert service.unit_path("systemd", {"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == \
        Path("/x/systemd/user/mustelid.service")
    assert service.unit_path("launchd", {"HOME": "/h"}) == \
        Path(f"/h/Library/LaunchAgents/{service.LABEL}.plist")
