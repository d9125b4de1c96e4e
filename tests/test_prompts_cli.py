"""`mustelid prompts`: list, show, and override (edit) prompt templates."""

import json
import re
from pathlib import Path

from click.testing import CliRunner
from daemonproc import cli_json

from mustelid import Evidence, Task
from mustelid.cli import cli
from mustelid.prompts import Prompts
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
