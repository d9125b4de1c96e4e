"""`mustelid prompts`: list, show, and override (edit) prompt templates."""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from daemonproc import MUSTELID, cli_json

from mustelid import Evidence, Task
from mustelid.cli import cli
from mustelid.prompts import Prompts, find_prompt, prompt_package, render_text
from mustelid.testing import FakeBackend, TaskRunner


def shipped() -> dict[str, Path]:
    return {p.name: Path(p.path) for p in Prompts(None).list()}


def invoke(*args, ok=True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def listing():
    return {p["name"]: p for p in json.loads(invoke("prompts", "--json").output)}


def test_lists_every_shipped_prompt_with_its_path(home):
    shipped_paths = shipped()
    assert "receipts" in shipped_paths
    rows = cli_json("prompts")                       # the real command, in a real process
    assert {r["name"] for r in rows} == set(shipped_paths)
    for row in rows:
        assert row["in_effect"] == "shipped"
        assert Path(row["path"]) == shipped_paths[row["name"]] == Path(row["shipped_path"])


def test_edit_copies_the_shipped_template_into_the_override_folder(home):
    out = invoke("prompts", "edit", "receipts", "--no-open").stdout
    override = home / "prompts" / "receipts.txt"
    assert out.strip() == str(override)
    assert override.read_text() == shipped()["receipts"].read_text()
    row = listing()["receipts"]
    assert row["in_effect"] == "user" and row["path"] == str(override)
    assert Path(row["shipped_path"]) == shipped()["receipts"]


def test_show_prints_the_template_in_effect_and_shipped_on_request(home):
    invoke("prompts", "edit", "receipts", "--no-open")
    override = home / "prompts" / "receipts.txt"
    override.write_text(override.read_text() + "\nMY LOCAL RULE\n")
    assert "MY LOCAL RULE" in invoke("prompts", "show", "receipts").output
    shipped = invoke("prompts", "show", "receipts", "--shipped").output
    assert "MY LOCAL RULE" not in shipped and "--- system ---" in shipped


def test_edit_never_replaces_an_existing_override(home):
    override = home / "prompts" / "receipts.txt"
    override.parent.mkdir()
    override.write_text("--- system ---\nmine\n--- user ---\n${ocr_text}\n")
    assert invoke("prompts", "edit", "receipts", "--no-open").stdout.strip() == str(override)
    assert override.read_text().startswith("--- system ---\nmine")


def test_a_prompt_of_the_users_own_is_listed_but_has_no_shipped_text(home):
    (home / "prompts").mkdir()
    (home / "prompts" / "mine.txt").write_text("--- system ---\nhi\n--- user ---\nyo\n")
    row = listing()["mine"]
    assert row["in_effect"] == "user" and row["shipped_path"] is None
    bad = invoke("prompts", "show", "mine", "--shipped", ok=False)
    assert bad.exit_code == 1 and "not shipped" in bad.output


def test_unknown_prompt_names_the_known_ones(home):
    bad = invoke("prompts", "show", "nope", ok=False)
    assert bad.exit_code == 1 and "no prompt named 'nope'" in bad.output and "receipts" in bad.output
    assert invoke("prompts", "edit", "../config", ok=False).exit_code == 1
    assert not (home / "prompts").exists()


def test_show_escapes_terminal_control_sequences(home):
    (home / "prompts").mkdir()
    (home / "prompts" / "evil.txt").write_text("--- system ---\n\x1b[2Jx\n--- user ---\ny\n")
    out = invoke("prompts", "show", "evil").output
    assert "\x1b" not in out and "\\x1b[2J" in out and "--- user ---\ny" in out


class PromptProbe(Task):
    """Renders the shipped receipts prompt through the host's Prompts, like any task."""

    name, function, description = "probe", "probe", "renders a prompt"
    input_kind, accepts, prompt = "text", ("text/plain",), "receipts"

    from pydantic import BaseModel as _Base

    class Output(_Base):
        ok: bool

    def prepare(self, job, ctx):
        names = set(re.findall(r"\$\{(\w+)\}", ctx.prompts.text(self.prompt)))
        return Evidence(variables={n: "probe" for n in names})


def test_an_edited_override_is_what_tasks_are_sent(tmp_path):
    backend = FakeBackend({"ok": True})
    with TaskRunner(backend=backend, home=tmp_path) as runner:
        invoke("prompts", "edit", "receipts", "--no-open")
        override = tmp_path / "prompts" / "receipts.txt"
        override.write_text(override.read_text().replace(
            "--- system ---\n", "--- system ---\nOVERRIDDEN BY THE USER.\n"))
        runner.run(PromptProbe(), "anything")
    system = backend.calls[0].messages[0]
    assert system["role"] == "system" and system["content"].startswith("OVERRIDDEN BY THE USER.")


# --- one lookup for every task's templates ---------------------------------------------------

TEMPLATE = "--- system ---\nfrom {where}\n--- user ---\n${{text}}\n"


@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    """An installed plugin package ``probe_plugin`` shipping prompts/probe.txt and receipts.txt."""
    package = tmp_path / "site" / "probe_plugin"
    (package / "prompts").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name in ("probe", "receipts"):
        (package / "prompts" / f"{name}.txt").write_text(TEMPLATE.format(where="the plugin"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    return package


def test_a_template_is_the_users_then_the_plugins_then_mustelids(tmp_path, plugin_package):
    overrides = tmp_path / "overrides"
    overrides.mkdir()
    plugin = find_prompt("probe", override_dir=overrides, package="probe_plugin")
    assert (plugin.source, Path(plugin.path)) == ("plugin", plugin_package / "prompts/probe.txt")
    # a plugin's own template wins over a shipped one of the same name, for that plugin only
    assert find_prompt("receipts", package="probe_plugin").source == "plugin"
    assert find_prompt("receipts").source == "shipped"
    assert find_prompt("receipts", package="json").source == "shipped"   # ships no prompts/
    (overrides / "probe.txt").write_text(TEMPLATE.format(where="the user"))
    user = Prompts(overrides).render("probe", package="probe_plugin", text="t")
    assert user[0]["content"] == "from the user"
    assert Prompts(None).render("probe", package="probe_plugin", text="t")[0]["content"] == (
        "from the plugin")
    for missing in ("probe", "../overrides/probe", ""):
        with pytest.raises(KeyError):
            find_prompt(missing, override_dir=overrides / "sub")


def test_a_tasks_templates_are_in_its_own_package_unless_it_names_another():
    assert prompt_package(PromptProbe()) is None          # a lone module ships no prompts/
    from mustelid.plugins.receipts import Receipts

    assert prompt_package(Receipts()) == "mustelid.plugins.receipts"

    class Elsewhere(PromptProbe):
        prompt_package = "probe_plugin"

    assert prompt_package(Elsewhere()) == "probe_plugin"


def test_a_stray_dollar_names_the_file_and_line_and_the_fix(tmp_path):
    (tmp_path / "priced.txt").write_text(
        "# costs\n--- system ---\nRead it.\n\n--- user ---\n${text}\nin $ dollars\n")
    with pytest.raises(ValueError) as e:
        Prompts(tmp_path).render("priced", text="t")
    assert str(e.value) == (f"{tmp_path / 'priced.txt'}, line 7, column 4: '$' starts no "
                            "${name} placeholder; write $$ for a literal $")
    assert render_text("--- system ---\n$$5 for ${text}\n--- user ---\nx", text="t")[0] == {
        "role": "system", "content": "$5 for t"}


# --- mustelid prompts check ------------------------------------------------------------------

PLUGIN_WITH_PROMPTS = '''
from pydantic import BaseModel
from mustelid import Task, hookimpl


class Out(BaseModel):
    ok: bool


class Priced(Task):
    name, function, description = "priced", "priced", "uses its package's template"
    input_kind, accepts, Output = "text", ("text/plain",), Out
    prompt, prompt_package = "priced", "probe_plugin"


class Lost(Task):
    name, function, description = "lost", "lost", "asks for a template nobody ships"
    input_kind, accepts, Output = "text", ("text/plain",), Out
    prompt = "no_such_template"


@hookimpl
def register_tasks(register):
    register(Priced())
    register(Lost())
'''


def test_check_passes_the_shipped_templates(home):
    out = subprocess.run([*MUSTELID, "prompts", "check"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    rows = [line.split("\t") for line in out.stdout.splitlines()[1:]]
    assert {r[0] for r in rows} == set(shipped()) and {r[2] for r in rows} == {"ok"}


def test_check_names_each_bad_template_in_effect_with_line_and_the_fix(home, plugin_package):
    """A user's override and a plugin's own template with a stray $, and a task whose template
    is nowhere: the real command, in a real process, exits 1 naming each."""
    (home / "prompts").mkdir()
    override = home / "prompts" / "receipts.txt"
    override.write_text("--- system ---\nRead it.\n--- user ---\nTotal in $ or ${ocr_text}\n")
    (home / "prompts" / "fine.txt").write_text("--- system ---\nCosts $$5\n--- user ---\n${x}\n")
    bad_plugin = plugin_package / "prompts" / "priced.txt"
    bad_plugin.write_text("# a comment line\n--- system ---\nok\n\n--- user ---\n"
                          "${text} costs $5\n")
    (home / "plugins").mkdir()
    (home / "plugins" / "priced_plugin.py").write_text(PLUGIN_WITH_PROMPTS)
    env = {**os.environ, "PYTHONPATH": str(plugin_package.parent)}
    out = subprocess.run([*MUSTELID, "prompts", "check"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"{override}, line 4, column 10: '$' starts no ${{name}} placeholder; write $$ for " \
           "a literal $" in out.stderr
    assert f"{bad_plugin}, line 6, column 15: '$' starts no" in out.stderr
    assert "task lost asks for a template 'no_such_template' that is nowhere" in out.stderr
    assert "3 of " in out.stderr and "no_such_template, priced, receipts" in out.stderr
    status = {r.split("\t")[0]: r.split("\t")[2] for r in out.stdout.splitlines()[1:]}
    assert status["fine"] == status["todos"] == "ok" and status["receipts"] == "1 problem(s)"
    as_json = subprocess.run([*MUSTELID, "prompts", "check", "--json"], capture_output=True,
                             text=True, env=env, timeout=60)
    rows = {r["name"]: r for r in json.loads(as_json.stdout)}
    assert as_json.returncode == 1 and rows["priced"]["in_effect"] == "plugin"
    assert rows["receipts"]["in_effect"] == "user" and len(rows["receipts"]["problems"]) == 1
