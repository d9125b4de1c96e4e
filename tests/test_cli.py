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


def test_status_says_why_the_daemon_is_paused_and_what_it_waits_on(fake_home, tmp_path,
                                                                      monkeypatch):
    """A daemon whose model cannot fit in memory publishes memory_budget, and `status` shows it
    (the daemon is run --once in-process; `daemon_running` is faked so status reads what it
    published, as it would from a live daemon)."""
    import mustelid.home
    from mustelid import runtime
    from mustelid.config import load_config
    from mustelid.host import Host
    from mustelid.runner import Daemon
    from conftest import write_config

    model = tmp_path / "big.gguf"
    with open(model, "wb") as f:
        f.truncate(600 << 20)                              # sparse: costs no disk
    write_config(fake_home, f'[model]\nbackend = "fake"\npath = "{model.as_posix()}"\n'
                 '[inbox]\nstable_seconds = 0\ndefault_tasks = ["echo"]\n')
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(f"MemAvailable: {400 * 1024} kB\n")   # cannot hold 600 MiB
    monkeypatch.setattr(runtime, "MEMINFO", meminfo)
    monkeypatch.setattr(runtime, "cgroup_headroom", lambda root=None: None)
    (fake_home / "inbox").mkdir(exist_ok=True)
    (fake_home / "inbox" / "a.txt").write_text("hello budget")
    cfg = load_config()
    Daemon(cfg, Host(cfg.plugins_path), once=True).run()

    monkeypatch.setattr(mustelid.home, "daemon_running", lambda cfg: True)
    status = json.loads(invoke("status", "--json").output)
    assert [p["reason"] for p in status["paused"]] == ["memory_budget"]
    assert "MiB" in status["paused"][0]["message"]
    assert status["inbox_files"]["found_by_scan"] == 1          # --once has no watcher
    assert status["inbox_files"]["found_by_watcher"] == 0
    out = invoke("status").output
    assert "paused: memory_budget" in out


def test_pauses_are_set_cleared_and_forgotten_when_stale():
    import sqlite3

    from mustelid.runner import Pauses, _pause_code

    now = [0.0]
    p = Pauses(lambda: now[0])
    assert p.summary() is None and p.reasons() == []
    p.set("ingest", "disk_full", "no space left")
    now[0] = 10
    p.set("ingest", "disk_full", "still no space")
    assert p.reasons() == [{"reason": "disk_full", "message": "still no space", "for_s": 10.0}]
    p.set("claim", "memory_budget", "600 MiB needed")
    p.clear("ingest")
    assert p.summary() == "memory_budget: 600 MiB needed"
    now[0] += Pauses.STALE_SECONDS + 1                      # never seen again: dropped
    assert p.summary() is None
    assert _pause_code(sqlite3.OperationalError("database or disk is full")) == "disk_full"
    assert _pause_code(sqlite3.OperationalError("database is locked")) == "database_locked"
    assert _pause_code(OSError(28, "No space left on device")) == "disk_full"
    assert _pause_code(OSError(13, "Permission denied")) == "filesystem_error"


def test_tracker_counts_what_is_settling_and_what_is_ready():
    from mustelid.inbox import StabilityTracker

    now = [0.0]
    t = StabilityTracker(1.0, clock=lambda: now[0])
    t.observe("a", 10, 1)
    t.observe("b", 10, 1)
    now[0] = 0.5
    t.observe("c", 10, 1)
    now[0] = 1.2
    assert t.counts() == {"tracking": 3, "settling": 1, "ready": 2}
    assert t.ready(limit=1) == ["a"]
    assert t.counts() == {"tracking": 3, "settling": 1, "ready": 1}


@pytest.mark.parametrize("raw, shown", [
    ("a\x1b[2Jb\x07\x9bc", "a\\x1b[2Jb\\x07\\x9bc"),              # C0 and C1 controls
    ("invoice\u202egpj.exe", "invoice\\u202egpj.exe"),             # RLO: would read "exe.jpg"
    ("\u202a\u202b\u202c\u202d", "\\u202a\\u202b\\u202c\\u202d"),  # embeddings, PDF, LRO
    ("\u2066x\u2067y\u2068z\u2069", "\\u2066x\\u2067y\\u2068z\\u2069"),  # isolates
    ("a\u200bb\u200ec\u200fd\ufeffe\u061cf", "a\\u200bb\\u200ec\\u200fd\\ufeffe\\u061cf"),
    ("line\u2028para\u2029", "line\\u2028para\\u2029"),
    ("tab\there\nnext", "tab\\there\\nnext"),                      # a TSV row stays one row
    ("bad\udcff\udcfe.txt", "bad\\xff\\xfe.txt"),                  # undecodable bytes of a name
    ("reçu 日本 Ωμέγα 😀", "reçu 日本 Ωμέγα 😀"),                    # ordinary text untouched
])
def test_clean_escapes_controls_bidi_and_format_characters(raw, shown):
    from mustelid.cli.output import clean

    assert clean(raw) == shown


def test_tsv_listing_escapes_a_bidi_override_in_a_file_name(fake_home, tmp_path):
    f = tmp_path / "invoice\u202egpj.exe"
    f.write_text("hello")
    invoke("submit", str(f))
    out = invoke("jobs").output                            # CliRunner output is not a tty: TSV
    assert "\u202e" not in out and "invoice\\u202egpj.exe" in out
    assert json.loads(invoke("jobs", "--json").output)[0]["file"] == "invoice\u202egpj.exe"


@pytest.mark.parametrize("where", ["home", "data", "data/archive"])
def test_run_refuses_an_inbox_that_holds_or_is_inside_its_own_data(home, where):
    """`mustelid run --inbox $MUSTELID_HOME` used to ingest its own database and feed on it
    (issue 13 class 7). Nothing is created or ingested."""
    from mustelid.cli import _assembled

    inbox = home if where == "home" else home / where
    result = CliRunner().invoke(_assembled(), ["run", "--once", "--inbox", str(inbox)])
    assert result.exit_code == 1, result.output
    assert "data folder" in result.output and "inbox.path" in result.output
    assert not (home / "data" / "mustelid.db").exists()


@pytest.mark.parametrize("content", [b"", b"garbage, not a database" * 10])
@pytest.mark.parametrize("command", [["jobs"], ["run", "--once"]])
def test_an_empty_or_corrupt_database_is_refused_in_one_line(home, content, command):
    """A zero-length database used to be silently made anew (history gone), a corrupt one gave
    a traceback (issue 13 class 9). Neither is touched."""
    from mustelid.cli import _assembled

    db = home / "data" / "mustelid.db"
    db.parent.mkdir(parents=True)
    db.write_bytes(content)
    result = CliRunner().invoke(_assembled(), command)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: the database") and "Traceback" not in result.output
    assert db.read_bytes() == content


@pytest.mark.parametrize("make", ["directory", "latin-1"])
def test_a_config_file_that_is_a_folder_or_not_utf8_is_one_line(home, make):
    from mustelid.cli import _assembled

    path = home / "config.toml"
    if make == "directory":
        path.mkdir()
    else:
        path.write_bytes("[inbox]\n# caf\xe9\n".encode("latin-1"))
    result = CliRunner().invoke(_assembled(), ["jobs"])
    assert result.exit_code == 1 and "config.toml" in result.output, result.output
    assert "Traceback" not in result.output


def test_the_data_folder_and_what_is_stored_are_the_users_alone(fake_home, monkeypatch):
    """Database, archive files and folders were 0644/0755 whatever the source's mode
    (issue 13 class 2); a world-readable receipt in the inbox stays private once stored."""
    import os
    import stat

    from daemonproc import cli as run_cli

    os.umask(0o022)
    (fake_home / "inbox").mkdir()
    note = fake_home / "inbox" / "a.txt"
    note.write_text("hello")
    note.chmod(0o644)
    run_cli("run", "--once")
    data = fake_home / "data"
    modes = {p.relative_to(data).as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in [data, *data.rglob("*")]}
    assert modes.pop(".") == 0o700
    loose = {name: oct(mode) for name, mode in modes.items()
             if mode & 0o077 or (mode & 0o700) not in (0o600, 0o700)}
    assert not loose, loose
    assert any(name.startswith("archive/") for name in modes)


def test_a_locked_or_read_only_database_is_one_line_and_reads_still_work(fake_home, tmp_path):
    """`submit` into a database a DB browser holds locked, or that cannot be written, gave a
    traceback (issue 13 class 9)."""
    import sqlite3
    import subprocess

    from daemonproc import cli as run_cli

    note = tmp_path / "a.txt"
    note.write_text("call the plumber")
    run_cli("jobs")                                            # creates and migrates the database
    db = fake_home / "data" / "mustelid.db"

    browser = sqlite3.connect(db, isolation_level=None)
    browser.execute("BEGIN EXCLUSIVE")                         # a DB browser mid-write
    try:
        locked = run_cli("submit", "--task", "echo", str(note), check=False, timeout=120)
    finally:
        browser.execute("ROLLBACK")
        browser.close()
    assert locked.returncode == 1 and "Traceback" not in locked.stderr, locked.stderr
    assert locked.stderr.startswith("Error: the database") and "is locked" in locked.stderr

    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (root ignores file modes)")
    try:
        listed = run_cli("jobs", check=False)
        readonly = run_cli("submit", "--task", "echo", str(note), check=False)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert listed.returncode == 0, listed.stderr                # reading needs no write access
    assert readonly.returncode == 1 and "Traceback" not in readonly.stderr, readonly.stderr
    assert "cannot be written" in readonly.stderr and "write access" in readonly.stderr
