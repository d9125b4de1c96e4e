"""Keep the daemon running: a systemd user unit on Linux, a launchd agent on macOS.

Both start ``<this python> -m mustelid run`` (the interpreter of the environment mustelid is
installed in, so a venv keeps working), with the caller's ``MUSTELID_HOME`` (and models folder,
plugin selection) made absolute, restart it when it fails, and stop it with SIGTERM, which the
daemon answers by finishing or putting back the job in flight (``mustelid.runner``). Only the
daemon's main process gets the SIGTERM (systemd ``KillMode=mixed``): its model worker ignores
stop signals and is stopped by the daemon.

Nothing here needs a running service manager to *write* the file; ``install`` then asks
``systemctl --user`` or ``launchctl`` to enable and start it, and a machine without a user
session gets a ``ServiceError`` that says the file is written and how to enable it.
"""

from __future__ import annotations

import dataclasses
import os
import plistlib
import subprocess
import sys
from pathlib import Path
from typing import Any

UNIT = "mustelid.service"
LABEL = "org.mustelid.daemon"
ENV_KEYS = ("MUSTELID_HOME", "MUSTELID_MODELS_DIR", "MUSTELID_LOAD_PLUGINS")
PATH_KEYS = {"MUSTELID_HOME", "MUSTELID_MODELS_DIR"}
STOP_TIMEOUT_S = 30          # SIGTERM, then this long before SIGKILL (the daemon needs ~10 s)
RESTART_DELAY_S = 10


class ServiceError(Exception):
    """One line for the user: what failed and what to do."""


@dataclasses.dataclass(frozen=True)
class Service:
    manager: str          # "systemd" | "launchd"
    path: Path            # where the unit or plist is written
    text: str             # its content

    def enable_hint(self) -> str:
        if self.manager == "systemd":
            return f"systemctl --user daemon-reload && systemctl --user enable --now {UNIT}"
        return f"launchctl bootstrap gui/{os.getuid()} {self.path}"


def manager_for(platform: str | None = None) -> str:
    platform = platform or sys.platform
    if platform.startswith("linux"):
        return "systemd"
    if platform in ("darwin", "macos"):
        return "launchd"
    raise ServiceError(f"no service manager known on {platform}: run `mustelid run` from "
                       "your own start-up mechanism")


def command() -> list[str]:
    return [sys.executable, "-m", "mustelid", "run"]


def environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The variables that say which mustelid home the service runs on, paths made absolute
    (a service starts in another folder than the shell that installed it)."""
    env = os.environ if env is None else env
    out = {}
    for key in ENV_KEYS:
        if key in env:
            value = env[key]
            out[key] = str(Path(value).expanduser().resolve()) if key in PATH_KEYS else value
    return out


def _sd_quote(value: str, exec_line: bool = False) -> str:
    """A systemd value in double quotes: ``%`` is a specifier and, on ExecStart, ``$`` expands a
    variable; both are doubled to stay literal."""
    if "\n" in value or "\r" in value:
        raise ServiceError(f"cannot write a path with a line break into a unit: {value!r}")
    value = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{value.replace("$", "$$") if exec_line else value}"'


def systemd_unit(cmd: list[str], env: dict[str, str]) -> str:
    lines = [
        "# Written by `mustelid service install`; `mustelid service uninstall` removes it.",
        "[Unit]",
        "Description=mustelid: files what lands in the inbox, with a local model",
        "",
        "[Service]",
        "Type=exec",
        "ExecStart=" + " ".join(_sd_quote(a, exec_line=True) for a in cmd),
        *(f"Environment={_sd_quote(f'{k}={v}')}" for k, v in env.items()),
        "Restart=on-failure",
        f"RestartSec={RESTART_DELAY_S}",
        "# SIGTERM to the daemon only: it stops its model worker itself, after the job in flight",
        "KillSignal=SIGTERM",
        "KillMode=mixed",
        f"TimeoutStopSec={STOP_TIMEOUT_S}",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def launchd_plist(cmd: list[str], env: dict[str, str]) -> str:
    agent: dict[str, Any] = {
        "Label": LABEL,
        "ProgramArguments": cmd,
        "EnvironmentVariables": env,
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},   # start it again when it exits with a failure
        "ThrottleInterval": RESTART_DELAY_S,
        "ExitTimeOut": STOP_TIMEOUT_S,             # launchd stops with SIGTERM, then waits this
        "ProcessType": "Background",
    }
    return plistlib.dumps(agent).decode("utf-8")


def unit_path(manager: str, env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    home = Path(env.get("HOME") or Path.home())
    if manager == "systemd":
        config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
        return config / "systemd" / "user" / UNIT
    return home / "Library" / "LaunchAgents" / f"{LABEL}.plist"


def describe(platform: str | None = None) -> Service:
    """The unit or plist for this machine and this caller's environment (nothing written)."""
    manager = manager_for(platform)
    cmd, env = command(), environment()
    text = systemd_unit(cmd, env) if manager == "systemd" else launchd_plist(cmd, env)
    return Service(manager, unit_path(manager), text)


# -- talking to the service manager -------------------------------------------------------------


def _run(*args: str) -> tuple[bool, str]:
    """(succeeded, its output: stdout if it succeeded, else the error) — a missing tool is a
    failure, not an exception."""
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return False, f"{args[0]} not found"
    except subprocess.TimeoutExpired:
        return False, f"{args[0]} did not answer within 30 s"
    ok = proc.returncode == 0
    out = (proc.stdout.strip() or proc.stderr.strip()) if ok else \
        (proc.stderr.strip() or proc.stdout.strip())
    return ok, out or f"exit status {proc.returncode}"


def _first_line(text: str, containing: str = "") -> str:
    return next((line.strip() for line in text.splitlines() if containing in line), "")


def _launchd_target() -> str:
    return f"gui/{os.getuid()}"


def install(service: Service) -> list[str]:
    """Write the file, then enable and start it. Returns what was done, line by line."""
    service.path.parent.mkdir(parents=True, exist_ok=True)
    service.path.write_text(service.text, encoding="utf-8")
    done = [f"wrote {service.path}"]
    if service.manager == "systemd":
        steps = [("systemctl", "--user", "daemon-reload"),
                 ("systemctl", "--user", "enable", "--now", UNIT)]
    else:
        _run("launchctl", "bootout", f"{_launchd_target()}/{LABEL}")   # an older copy, if any
        steps = [("launchctl", "bootstrap", _launchd_target(), str(service.path))]
    for step in steps:
        ok, message = _run(*step)
        if not ok:
            raise ServiceError(
                f"wrote {service.path}, but `{' '.join(step)}` failed "
                f"({_first_line(message)}); to enable it "
                f"from a login session run: {service.enable_hint()}")
    done.append(f"enabled and started: {service.path.name}")
    return done


def uninstall(service: Service) -> list[str]:
    """Stop and disable it (best effort: the manager may not run here), then remove the file."""
    if service.manager == "systemd":
        stopped, message = _run("systemctl", "--user", "disable", "--now", UNIT)
    else:
        stopped, message = _run("launchctl", "bootout", f"{_launchd_target()}/{LABEL}")
    if not service.path.exists():
        return [f"no service file at {service.path}"]
    service.path.unlink()
    if service.manager == "systemd":
        _run("systemctl", "--user", "daemon-reload")
    if not stopped:
        return [f"removed {service.path} (could not ask the service manager to stop it: "
                f"{_first_line(message)})"]
    return [f"stopped and removed {service.path}"]


def status(service: Service) -> dict[str, Any]:
    """Whether the file is written, and what the service manager says about it."""
    info: dict[str, Any] = {"manager": service.manager, "file": str(service.path),
                            "installed": service.path.exists()}
    if service.manager == "systemd":
        for what in ("is-enabled", "is-active"):
            ok, message = _run("systemctl", "--user", what, UNIT)
            info[what.removeprefix("is-")] = _first_line(message)
    else:
        ok, message = _run("launchctl", "print", f"{_launchd_target()}/{LABEL}")
        info["loaded"] = ok
        info["state"] = _first_line(message, "state =") if ok else _first_line(message)
    return info
