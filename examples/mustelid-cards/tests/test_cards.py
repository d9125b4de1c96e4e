"""Tests for the cards task, written with ``mustelid.testing``: no daemon, the real task code.

Fast tests stand a ``FakeBackend`` and ``FakeOcr`` in for the model and the OCR engine; the
``real`` ones read the sample card with RapidOCR and the default model (``mustelid models pull``).
Run them with ``pytest`` after ``pip install -e '.[test]'``.
"""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import mustelid_cards
from mustelid import PermanentError
from mustelid.testing import (
    FakeBackend,
    TaskRunner,
    persist_into_temp_db,
    requires_model,
    schema_problems,
)

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "alice-moreno.png"
CARD_TEXT = [
    "Otterworks Instruments Ltd",
    "Alice Moreno",
    "Senior Field Engineer",
    "alice.moreno@otterworks.example",
    "+44 20 7946 0321",
    "www.otterworks.example",
]
ALICE = {
    "name": "Alice Moreno", "title": "Senior Field Engineer",
    "company": "Otterworks Instruments Ltd", "email": "alice.moreno@otterworks.example",
    "phone": "+44 20 7946 0321", "website": "www.otterworks.example",
}


def test_every_field_is_bounded_for_the_grammar():
    assert schema_problems(mustelid_cards.Contact.model_json_schema()) == []


def test_contact_details_can_only_be_ones_printed_on_the_card():
    backend = FakeBackend(ALICE)
    with TaskRunner([mustelid_cards], backend=backend, ocr=CARD_TEXT) as runner:
        run = runner.run("cards", SAMPLE)
    assert run.result.email == "alice.moreno@otterworks.example"
    assert schema_problems(backend.calls[0].schema) == []
    schema = backend.calls[0].schema["properties"]
    assert schema["email"]["anyOf"][0]["enum"] == ["alice.moreno@otterworks.example"]
    assert schema["phone"]["anyOf"][0]["enum"] == ["+44 20 7946 0321"]
    prompt = backend.calls[0].messages[-1]["content"]
    assert "Alice Moreno" in prompt and "${" not in prompt


def test_a_name_not_on_the_card_is_sent_back_once_then_refused():
    invented = {**ALICE, "name": "Bob Smith"}
    backend = FakeBackend(invented, ALICE)
    with TaskRunner([mustelid_cards], backend=backend, ocr=CARD_TEXT) as runner:
        run = runner.run("cards", SAMPLE)
        assert run.result.name == "Alice Moreno" and run.stats["reasked"]
        assert "not printed on the card" in backend.calls[1].messages[-1]["content"]
        backend.replies = [invented]
        with pytest.raises(PermanentError) as failed:
            runner.run("cards", SAMPLE)
    assert failed.value.reason == "check_failed"


def test_an_image_without_contact_details_is_not_a_card():
    with TaskRunner([mustelid_cards], backend=FakeBackend(ALICE),
                    ocr=["Meeting notes", "bring the slides"]) as runner:
        with pytest.raises(PermanentError) as refused:
            runner.run("cards", SAMPLE)
    assert refused.value.reason == "not_a_card"


def test_contacts_table_and_command(tmp_path):
    with TaskRunner([mustelid_cards], backend=FakeBackend(ALICE), ocr=CARD_TEXT,
                    home=tmp_path) as runner:
        db = runner.persist(runner.run("cards", SAMPLE))
        [row] = db["contacts"].rows
        assert row["email"] == ALICE["email"] and row["file_sha256"]

        from mustelid.cli import cli

        mustelid_cards.register_commands(cli)
        out = CliRunner().invoke(cli, ["contacts", "--json", "--search", "otter"])
        assert out.exit_code == 0, out.output
        [listed] = json.loads(out.output)
        assert listed["name"] == "Alice Moreno" and listed["file"] == SAMPLE.name


def test_migration_and_persist_without_a_run(tmp_path):
    contact = mustelid_cards.Contact(name="Ada Lovelace", email="ada@engines.example")
    db = persist_into_temp_db("cards", contact, plugins=[mustelid_cards], home=tmp_path)
    assert [(r["name"], r["phone"]) for r in db["contacts"].rows] == [("Ada Lovelace", None)]


@pytest.mark.real
def test_reads_the_sample_card_with_the_real_model_and_ocr():
    requires_model()
    with TaskRunner([mustelid_cards]) as runner:
        run = runner.run("cards", SAMPLE)
    contact = run.result
    assert contact.name == "Alice Moreno"
    assert contact.email == "alice.moreno@otterworks.example"
    assert contact.phone == "+44 20 7946 0321"
    assert "Otterworks" in (contact.company or "")
    assert run.stats["model_id"].startswith("qwen2.5-coder-0.5b")
