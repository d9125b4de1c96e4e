"""One test per hook (test_hook_<name>), plus the meta-test that keeps README honest."""

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from mustelid import Evidence, Generation, Task, hookimpl, hookspecs
from mustelid.host import Host
from mustelid.store import Ledger, migrate, open_db

REPO = Path(__file__).parent.parent
HOOKS = sorted(n for n in dir(hookspecs) if not n.startswith("_")
               and hasattr(getattr(hookspecs, n), "mustelid_spec"))


def test_every_hook_is_documented_in_readme_and_tested():
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Writing a plugin", 1)[1]
    tests = "\n".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    assert HOOKS, "no hookspecs found"
    for name in HOOKS:
        assert re.search(rf"^#+ .*`{name}", section, re.M), f"README lacks a heading for {name}"
        assert f"def test_hook_{name}(" in tests, f"no test_hook_{name}"


class Ping(Task):
    name = "ping"
    function = "ping"
    description = "test task"
    input_kind = "text"

    from pydantic import BaseModel as _B

    class Output(_B):
        ok: bool


class Plugin:
    """A plugin object registered in code, with every hook implemented."""

    def __init__(self):
        self.events = []

    @hookimpl
    def register_tasks(self, register):
        register(Ping())

    @hookimpl
    def register_backends(self, register):
        register("pingback", lambda config: "backend-object")

    @hookimpl
    def register_ocr_engines(self, register):
        register("fakeocr", lambda: "engine")

    @hookimpl
    def route_file(self, relpath, mime, config):
        return ["ping"] if relpath.startswith("pings/") else None

    @hookimpl
    def job_event(self, job, event):
        self.events.append((job["id"], event))

    @hookimpl
    def startup(self, daemon):
        self.events.append(("startup", daemon.owner))

    @hookimpl
    def shutdown(self, daemon):
        self.events.append(("shutdown", daemon.owner))


class Raising:
    @hookimpl
    def register_tasks(self, register):
        raise RuntimeError("boom")

    @hookimpl
    def job_event(self, job, event):
        raise RuntimeError("observer bug")


def make_host(*plugins):
    host = Host(load=False)
    for i, p in enumerate(plugins):
        host.register(p, f"p{i}")
    return host


def test_hook_register_tasks():
    host = make_host(Raising(), Plugin())
    assert list(host.tasks) == ["ping"]           # the raising plugin lost only its own part
    assert "boom" in host.plugins["p0"].error
    host2 = make_host(Plugin(), Plugin())
    assert list(host2.tasks) == ["ping"]          # duplicate names: first wins


def test_hook_register_backends(home):
    from mustelid.config import load_config
    from mustelid.worker import WorkerContext

    cfg = load_config()
    cfg.model.backend = "pingback"
    ctx = WorkerContext(cfg, make_host(Plugin()))
    assert ctx.backend == "backend-object"
    cfg.model.backend = "missing"
    from mustelid import WaitingError

    with pytest.raises(WaitingError) as e:
        WorkerContext(cfg, make_host(Plugin())).backend
    assert e.value.reason == "backend_missing"


def test_hook_register_ocr_engines(home):
    from mustelid.config import load_config

    host = make_host(Plugin())
    assert host.ocr_engines["fakeocr"]() == "engine"
    assert "rapidocr" in Host().ocr_engines  # the built-in registers the same way


def test_hook_register_migrations(tmp_path):
    from sqlite_utils.migrations import Migrations

    good, bad = Migrations("good"), Migrations("bad")

    @good()
    def m001(db):
        db["good_table"].create({"id": int}, pk="id")

    @bad()
    def m001_bad(db):
        db["half"].create({"id": int}, pk="id")
        raise RuntimeError("broken migration")

    class P:
        @hookimpl
        def register_migrations(self, register):
            register(bad)
            register(good)

    db = open_db(tmp_path / "m.db")
    errors = migrate(db, make_host(P()).migrations())
    assert db["good_table"].exists() and db["jobs"].exists()
    assert not db["half"].exists()               # rolled back
    assert len(errors) == 1 and "broken migration" in errors[0]
    assert migrate(db, [good]) == []             # applied once only


def test_hook_register_commands(fake_home):
    from daemonproc import cli

    out = cli("--help").stdout
    assert "echoes" in out and "expenses" in out


def test_hook_route_file(home, tmp_path):
    from mustelid.config import load_config
    from mustelid.ingest import route

    host = make_host(Plugin())
    cfg = load_config()
    assert route(host, cfg, "pings/a.jpg", "image/jpeg") == ["ping"]
    assert route(host, cfg, "a.jpg", "image/jpeg") == []          # no plugin claims it
    (home / "config.toml").write_text('[inbox]\ndefault_tasks = ["auto"]\n[inbox.routes]\n'
                                      'pings = ["echo"]\nreceipts = ["receipts"]\n')
    cfg = load_config()
    assert route(host, cfg, "pings/a.jpg", "image/jpeg") == ["echo"]      # the user's route wins
    assert route(host, cfg, "receipts/a.jpg", "image/jpeg") == ["receipts"]   # config routes
    assert route(host, cfg, "a.jpg", "image/jpeg") == ["auto"]                # default


def test_hook_job_event(tmp_path):
    plugin = Plugin()
    host = make_host(Raising(), plugin)
    db = open_db(tmp_path / "e.db")
    migrate(db)
    ledger = Ledger(db, on_event=host.job_event)
    job_id, _ = ledger.enqueue("ping", idempotency_key="k")
    ledger.claim("me", 30)
    assert ledger.complete(job_id, "me", {"ok": True})   # a raising observer changes nothing
    assert plugin.events == [(job_id, "running"), (job_id, "done")]


def test_hook_startup(fake_home):
    from mustelid.config import load_config
    from mustelid.runner import Daemon

    plugin = Plugin()
    host = Host(load_config().plugins_path)
    host.register(plugin, "observer")
    daemon = Daemon(load_config(), host, once=True)
    daemon.run()
    assert plugin.events[0] == ("startup", daemon.owner)


def test_hook_shutdown(fake_home):
    from mustelid.config import load_config
    from mustelid.runner import Daemon

    (fake_home / "inbox").mkdir(exist_ok=True)
    (fake_home / "inbox" / "a.txt").write_text("hello")
    plugin = Plugin()
    host = Host(load_config().plugins_path)
    host.register(plugin, "observer")
    daemon = Daemon(load_config(), host, once=True)
    daemon.run()
    assert plugin.events[-1] == ("shutdown", daemon.owner)
    assert daemon.stats["done"] == 1


# -- a plugin cannot take the host down (issue 13, class 5) ----------------------------------


@pytest.mark.parametrize("raised", ["SystemExit(3)", "KeyboardInterrupt()"])
def test_a_plugin_that_exits_at_import_is_reported_not_fatal(tmp_path, raised):
    (tmp_path / "exits.py").write_text(f"raise {raised}\n")
    (tmp_path / "fine.py").write_text(
        "from mustelid import hookimpl\n\n@hookimpl\ndef route_file(relpath, mime, config):\n"
        "    return ['fine']\n")
    host = Host(tmp_path)
    assert host.plugins["exits"].error.startswith(raised.split("(")[0])
    assert host.plugins["fine"].error is None
    assert host.first("route_file", relpath="a.jpg", mime="image/jpeg", config=None) == ["fine"]


def test_a_hook_raising_system_exit_loses_only_its_own_call(tmp_path):
    (tmp_path / "quits.py").write_text(
        "import sys\nfrom mustelid import hookimpl\n\n@hookimpl\ndef job_event(job, event):\n"
        "    sys.exit(1)\n\n@hookimpl\ndef route_file(relpath, mime, config):\n"
        "    raise KeyboardInterrupt\n")
    host = Host(tmp_path)
    host.job_event({"id": "j"}, "done")                          # does not raise
    assert host.first("route_file", relpath="a", mime="", config=None) is None
    assert "SystemExit" in host.plugins["quits"].error


# -- plugin code that must not block gets a deadline (issue 13, class 5) ---------------------

HANGS_AT_IMPORT = "import time\ntime.sleep(3600)\n"
HANGS_IN_HOOKS = (
    "import time\nfrom mustelid import hookimpl\nCALLS = []\n\n"
    "@hookimpl\ndef route_file(relpath, mime, config):\n"
    "    CALLS.append(relpath)\n    time.sleep(3600)\n\n"
    "@hookimpl\ndef job_event(job, event):\n    time.sleep(3600)\n")
ROUTES_TEXT = ("from mustelid import hookimpl\n\n@hookimpl\ndef route_file(relpath, mime, config):\n"
               "    return ['fine']\n")


def test_a_plugin_that_hangs_at_import_is_skipped_with_the_reason(tmp_path):
    (tmp_path / "a_hangs.py").write_text(HANGS_AT_IMPORT)
    (tmp_path / "b_fine.py").write_text(ROUTES_TEXT)
    host = Host(tmp_path, load=False)
    host.load_deadline = 0.5
    host.load()
    assert "did not return within 0.5 s" in host.plugins["a_hangs"].error
    assert host.plugins["b_fine"].error is None
    assert host.first("route_file", relpath="a.jpg", mime="image/jpeg", config=None) == ["fine"]


def test_a_hook_that_blocks_misses_its_deadline_once_and_is_disabled(tmp_path):
    (tmp_path / "a_fine.py").write_text(ROUTES_TEXT)
    (tmp_path / "b_sleeps.py").write_text(HANGS_IN_HOOKS)     # loaded last: asked first
    host = Host(tmp_path)
    host.deadlines.update(route_file=0.3, job_event=0.3)
    for name in ("one.jpg", "two.jpg"):
        assert host.first("route_file", relpath=name, mime="image/jpeg", config=None) == ["fine"]
    host.job_event({"id": "j"}, "done")
    host.job_event({"id": "j"}, "done")
    sleeper = host.plugins["b_sleeps"]
    assert sleeper.module.CALLS == ["one.jpg"]                   # disabled after the first miss
    assert set(host.disabled) == {("b_sleeps", "route_file"), ("b_sleeps", "job_event")}
    assert "must not block" in sleeper.error


def test_help_and_plugins_still_answer_beside_a_plugin_that_hangs_at_import(fake_home):
    (fake_home / "plugins" / "hangs.py").write_text(HANGS_AT_IMPORT)
    (fake_home / "plugins" / "hangs_registering.py").write_text(
        "import time\nfrom mustelid import hookimpl\n\n"
        "@hookimpl\ndef register_tasks(register):\n    time.sleep(3600)\n")
    from daemonproc import cli

    assert "Usage" in cli("--help", timeout=60).stdout
    listed = cli("plugins", "--json", timeout=60).stdout
    assert "hangs" in listed and "did not return within" in listed
    assert "register_tasks did not return within" in listed


def test_a_sleeping_route_file_hook_neither_freezes_the_daemon_nor_its_stop(fake_home):
    from daemonproc import DaemonProcess, cli_json, wait_for

    (fake_home / "plugins" / "zz_sleeps.py").write_text(HANGS_IN_HOOKS)
    (fake_home / "inbox").mkdir(exist_ok=True)
    d = DaemonProcess(fake_home)
    try:
        for name in ("a.txt", "b.txt"):
            (fake_home / "inbox" / name).write_text("hello " + name)
        wait_for(lambda: len([j for j in cli_json("jobs") if j["state"] == "done"]) == 2,
                 timeout=60, what="both files routed past the sleeping hook and done")
        d.signal()
        d.wait(20)                     # the stop is not held by the hook's thread
        assert d.proc.returncode == 0, d.output()
        assert "route_file did not return within" in d.output()
    finally:
        d.stop()
