"""The screenshots task: evidence, per-job schema, grounded boxes, persistence with full-text
search, the CLI; then the real model and real OCR on the committed samples.

Unit tests use a fake worker context: fixed OCR lines, a scripted backend, no model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mustelid import JobInput, PermanentError
from mustelid.execute import run_job
from mustelid.ocr import OcrLine, normalise_box
from mustelid.store import Ledger, migrate, open_db
from scripted import ScriptedBackend, SourcePrompts
from mustelid.plugins import screenshots
from mustelid.plugins.screenshots import Screenshot, Screenshots
from mustelid.plugins.screenshots.candidates import find_candidates
from mustelid.plugins.screenshots.cli import list_screenshots
from mustelid.plugins.screenshots.kinds import find_signs, likely_kind
from mustelid.plugins.screenshots.task import line_choices

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "examples" / "samples"

# The error dialog sample (800x500) as OCR reads it, abridged; boxes in pixels.
DIALOG = [
    OcrLine("Backup Utility", (47, 35, 157, 58), 0.99),
    OcrLine("Backup Utility - Error", (159, 117, 313, 141), 0.98),
    OcrLine("Could not complete the backup.", (247, 166, 542, 192), 0.99),
    OcrLine("The disk BACKUP-01 is full (0 bytes free).", (248, 197, 546, 219), 0.98),
    OcrLine("Error code: 0x80070070", (247, 274, 425, 298), 0.97),
    OcrLine("Retry", (448, 323, 500, 352), 1.0),
    OcrLine("Cancel", (560, 325, 621, 349), 1.0),
    OcrLine("Backup Utility", (600, 471, 700, 494), 0.9),     # a repeated text (taskbar)
]


class FakeCtx:
    def __init__(self, lines, backend=None):
        from mustelid.config import Config

        self.config = Config()
        self.prompts = SourcePrompts()
        self.lines = lines
        self.backend = backend

    def load_image(self, path):
        from mustelid.imaging import load_image

        return load_image(path)

    def ocr(self, path):
        return self.lines


def dialog_job():
    return JobInput(id="J1", task="screenshots", path=str(SAMPLES / "error_dialog.png"),
                    mime="image/png")


def answer(**overrides):
    base = {"title": "Backup Utility", "summary": "A backup utility reports a full disk.",
            "kind": "error_dialog"}
    return {**base, **overrides}


# -- evidence -----------------------------------------------------------------------------------

def test_candidates_find_links_addresses_dates_amounts_and_names():
    lines = ["Daniel Ortiz <daniel.ortiz@example.com>", "Tue, 12 May 2026, 09:14",
             "$48,200.00. Two things", "Review https://intranet.example.com/budget/q3.",
             "It's already paid, 24.50 EUR.", "Marketing 2 review", "meeting on 19/05/2026"]
    found = {(c["type"], c["value"]): c for c in find_candidates(lines)}
    assert ("email", "daniel.ortiz@example.com") in found
    assert ("url", "https://intranet.example.com/budget/q3") in found     # trailing dot dropped
    assert found[("date", "12 May 2026")]["iso"] == "2026-05-12"
    assert found[("date", "19/05/2026")]["iso"] == "2026-05-19"
    assert ("amount", "$48,200.00") in found and ("amount", "24.50 EUR") in found
    assert ("name", "Daniel Ortiz") in found
    assert found[("email", "daniel.ortiz@example.com")]["line"] == 1
    assert not any(c["type"] == "date" and "Marketing" in c["value"] for c in found.values())


def test_signs_point_to_the_kind_of_screen():
    chat = ["9:41", "Maya Lindqvist", "online", "Hi!", "10:02", "Sure", "10:05", "Type a message"]
    assert likely_kind(chat) == "chat"
    assert likely_kind([l.text for l in DIALOG]) == "error_dialog"
    assert likely_kind(["Hello there friend"]) is None
    # No line of three words: an image viewer, a game, a demo; "other" ("none of these").
    assert likely_kind(["feh [1 of 1] - /home/a/sea.png", "debian 12", "17:16:48"]) == "other"


def test_only_kinds_with_signs_on_the_screen_are_offered(monkeypatch):
    # Without a fitted kind model (kind_model.json deleted), the signs alone narrow the kinds.
    from mustelid.plugins.screenshots import kind_model
    monkeypatch.setattr(kind_model, "fitted", lambda: None)
    task = Screenshots()
    # Signs of a message box but not clear ones (a short message with an error word): the
    # model chooses among error_dialog and the generic kinds.
    vague = [OcrLine("Something went wrong with the upload", (40, 40, 400, 60), 0.99)]
    schema = task.schema(task.prepare(dialog_job(), FakeCtx(vague)))
    assert schema["properties"]["kind"]["enum"] == ["error_dialog", "app", "other"]
    assert "error_dialog (an error or warning message box)" in task.prepare(
        dialog_job(), FakeCtx(vague)).variables["kinds"]
    bare = task.schema(task.prepare(dialog_job(), FakeCtx([OcrLine("Hello there friend",
                                                                   (0, 0, 50, 20))])))
    assert bare["properties"]["kind"]["enum"] == ["app", "other"]


def test_clear_signs_decide_the_kind_without_the_model():
    task = Screenshots()
    schema = task.schema(task.prepare(dialog_job(), FakeCtx(DIALOG)))
    assert schema["properties"]["kind"]["enum"] == ["error_dialog"]


KIND_CASES = {
    "chat": ["Team", "[09:12] <ana> the build is red again", "[09:13] <bo> looking",
             "[09:15] <ana> thanks!", "[09:20] <bo> fixed in main", "[09:21] <ana> great"],
    "email": ["Inbox (3)", "From: Dana Reyes <dana@example.org>", "To: me@example.com",
              "Subject: Quarterly figures", "Hi, the numbers are attached. Best, Dana"],
    "code": ["main.rs - editor", "fn main() {", "    let total = 0;",
             "    for x in items {", "        total += x;", "    }", "}"],
    "web_page": ["Example Shop", "https://shop.example.com/cart", "Your cart",
                 "Sign in", "Privacy"],
    "document": ["report.txt - Text Editor"] + [
        "This paragraph explains in plain words how the committee reached its decision today"
    ] * 9,
}


@pytest.mark.parametrize("kind", sorted(KIND_CASES))
def test_clear_signs_of_each_kind(kind):
    from mustelid.plugins.screenshots.kinds import clear_kind
    assert clear_kind(KIND_CASES[kind]) == kind


def test_an_address_bar_is_a_web_page_and_a_link_in_a_document_is_not():
    from mustelid.plugins.screenshots.kinds import clear_kind, weigh_signs
    prose = "The program plots functions and data and has been supported for many years now"
    browser = ["Server Tutorial x", "localhost:8765/doc/manual/howto/files.html", "Files",
               prose, prose]
    assert clear_kind(browser) == "web_page"
    viewer = ["/home/a/Documents/manual.pdf", "Manual 5.4", "Contents", prose,
              "Web site and trackers: http://example.org/projects/manual",
              "Mailing list: manual-info@lists.example.org"]
    assert weigh_signs(viewer)["web_page"][0] == 1            # a link in the text: a hint
    assert clear_kind(viewer) == "document"


def test_a_terminal_session_is_code_though_its_output_outnumbers_its_commands():
    from mustelid.plugins.screenshots.kinds import clear_kind
    listing = ["README", "apt+", "audio", "bpp", "changesetfs", "deb", "debd", "dpkg+",
               "gitfs+", "iso9660", "lslR", "mailfs", "patchfs", "rpm", "uzip", "uzoo"]
    session = (["kim@box: ~/tools", "kim@box:~/tools$ ls"] + listing
               + ["kim@box:~/tools$ python3 sync.py", "Traceback (most recent call last):",
                  "NameError: name 'x' is not defined", "kim@box:~/tools$ echo ok"])
    assert clear_kind(session) == "code"
    assert clear_kind(["kim@box: ~", "kim@box:~$ ls"] + listing) != "code"   # one command


def test_a_manual_page_is_a_document_unless_a_browser_shows_it_and_its_name_line_is_key():
    from mustelid.plugins.screenshots.kinds import clear_kind
    from mustelid.plugins.screenshots.salient import key_lines
    page = ["man tar", "TAR(1)", "NAME", "tar - an archiving utility", "SYNOPSIS",
            "tar -c [-f ARCHIVE] [OPTIONS] [FILE...]", "tar -x [-f ARCHIVE] [OPTIONS] [MEMBER...]",
            "tar -t [-f ARCHIVE] [OPTIONS] [MEMBER...]",
            "Manual page tar(1) line 1 (press h for help or q to quit)"]
    assert clear_kind(page) == "document"
    assert 4 in key_lines(page, title_line=1)
    assert clear_kind(["lynx"] + page[1:]) == "web_page"


def test_many_one_word_labels_are_an_apps_controls_not_a_picture():
    from mustelid.plugins.screenshots.kinds import clear_kind, weigh_signs
    keys = ["Calculator", "INV", "sin", "cos", "tan", "DRG", "not", "and", "xor", "base", "shr",
            "mod", "STO", "RCL", "SUM", "EXC", "DEG"]
    assert "other" not in weigh_signs(keys) and clear_kind(keys) is None
    assert clear_kind(["feh [1 of 1] - emerald.png", "emerald.png"]) == "other"


def test_a_clock_inside_a_line_or_an_irc_join_address_is_not_a_chat_or_mail():
    from mustelid.plugins.screenshots.kinds import weigh_signs
    top = ["top - 16:54:57 up 1:12, 0 users", "Tasks: 3 total", "load average: 1.01"]
    assert "chat" not in weigh_signs(top)
    join = ["guest (~guest@127.0.0.1) has joined #x"]
    assert "email" not in weigh_signs(join)


def test_a_logs_stamp_read_as_a_date_and_a_time_apart_is_no_message_time():
    from mustelid.plugins.screenshots.kind_model import features
    from mustelid.plugins.screenshots.kinds import message_times, weigh_signs
    # A log viewer colours the date and the time apart; OCR reads them as two boxes, the time
    # leading a line of its own (lnav on dpkg.log).
    log = []
    for n, (what, pkg) in enumerate([("status", "unpacked libudev1"), ("configure", "libudev1"),
                                     ("status", "installed libudev1"), ("install", "libgdbm6"),
                                     ("status", "half-installed libgdbm6"), ("trigproc", "libc")]):
        log += ["2025-06-24", f"14:36:2{n}", what, pkg]
    assert message_times(log) == [] and "chat" not in weigh_signs(log)
    lines = [{"text": t, "box": [0, 10 * i, 100, 10 * i + 8]} for i, t in enumerate(log)]
    assert features(lines)["leading_time"] == 0
    # A chat's own times still count.
    chat = ["10:01 <ana> is the build green?", "10:02 <bo> yes", "10:03 <ana> tagging now"]
    assert message_times(chat) == chat and "chat" in weigh_signs(chat)


def test_a_chat_log_with_a_stamp_before_each_speaker_is_a_chat():
    from mustelid.plugins.screenshots.kinds import clear_kind
    log = [f"{1700000000 + n} <{nick}> {text}" for n, (nick, text) in enumerate([
        ("ana", "is the build green again?"), ("bo", "ana: yes, since the last merge"),
        ("ana", "great, tagging the release now"), ("cy", "wait for the docs fix please"),
        ("bo", "cy: it landed an hour ago"), ("ana", "ok then, tagging")])]
    assert clear_kind(["tail -f out"] + log) == "chat"
    # An editor's line numbers before a comment's stars are no stamp and no speaker.
    code = ["1 /*", "2 * Place the parts in a file", "3 * named hooks.js", "4 */",
            "5 function load() {", "6   return 1;", "7 }", "8 var x = 2;"]
    assert clear_kind(code) == "code"


def test_a_chat_client_that_names_the_channel_first_and_a_bulleted_page_that_is_no_chat():
    from mustelid.plugins.screenshots.kinds import clear_kind, weigh_signs
    sic = [f"#dev : 12/06/26 00:3{n} <{nick}> {text}" for n, (nick, text) in enumerate([
        ("ana", "anyone tried the new kernel?"), ("bo", "ana: yes, it boots fine"),
        ("cy", "the wifi driver still crashes"), ("ana", "cy: which card?"),
        ("cy", "an old one, never mind")])]
    assert clear_kind(sic) == "chat"
    bullets = ["* The creation of data archive", "* The remote storage access",
               "* The duplication", "* The tracking of the modification history",
               "* The secure shell", "* Version control system tools"]
    assert "chat" not in weigh_signs(bullets)


def test_a_breadcrumb_trail_is_a_web_page_even_without_the_browser():
    from mustelid.plugins.screenshots.kinds import clear_kind
    prose = "Besides the while statement just introduced, the language uses the usual flow"
    page = ["Docs »", "3.11 Documentation » The Tutorial » 4. More Control Flow Tools",
            "Quick search", "4. More Control Flow Tools", prose, prose, prose, prose, prose,
            prose, prose, prose]
    assert clear_kind(page) == "web_page"


@pytest.mark.parametrize("row", ["Next Previous Contents", "| previous | next | modules | index",
                                 "Next: Thread Safety, Previous: The Closure API, Up: Using it",
                                 "Module Index : Topics : Keywords"])
def test_a_sites_navigation_row_is_a_web_page_sign(row):
    from mustelid.plugins.screenshots.kinds import weigh_signs
    assert weigh_signs([row, "2. The require Function"])["web_page"][0] == 2


def test_an_info_readers_header_and_tops_uptime_are_no_navigation_row():
    from mustelid.plugins.screenshots.kinds import weigh_signs
    info = "File: sed.info, Node: Overview, Next: Usage, Prev: Intro, Up: Top"
    assert "web_page" not in weigh_signs([info, "top - 16:54:57 up 1:12, 0 users"])


def test_a_mail_clients_buttons_and_table_headers_are_mail_signs_but_a_date_column_is_not():
    from mustelid.plugins.screenshots.kinds import weigh_signs
    prose = "The patent I have seen investigated in connection with the codec is older"
    client = ["Re: codec licence - Mail", "Get Messages", "Write", "Reply", "Forward",
              "Archive", "Spam", prose, prose]
    assert weigh_signs(client)["email"][0] >= 2
    table = ["From", '"Ann Example"', "To", "list@example.org", "Subject Re: a copy of a list"]
    assert weigh_signs(table)["email"][0] >= 2
    assert "email" not in weigh_signs(["Name", "Size", "Date", "control.tar.xz", "data.tar.xz"])


def test_a_document_viewers_page_counter_and_zoom_are_a_document_sign():
    from mustelid.plugins.screenshots.kinds import weigh_signs
    viewer = ["File View Edit Go Bookmarks Tools Settings Help", "12 of 50", "Zoom Out",
              "Fit Width", "Zoom In", "3.4. /bin : Essential user command binaries"]
    assert weigh_signs(viewer)["document"][0] >= 2


def test_a_package_list_with_counts_is_not_code():
    from mustelid.plugins.screenshots.kinds import weigh_signs
    rows = ["Installed Packages (791)", "admin", "Administrative utilities (24)", "devel",
            "Utilities and programs for software development (38)", "editors",
            "Text editors and word processors (9)", "fonts", "Fonts and font utilities (13)"]
    assert "code" not in weigh_signs(rows)


def test_an_address_written_with_its_scheme_under_a_title_is_only_a_hint():
    from mustelid.plugins.screenshots.kinds import weigh_signs
    readme = ["xmore", "Example Server", "http://example.org/", "(c) 2001 The Authors.",
              "This document lists the modes the server supports."]
    assert weigh_signs(readme)["web_page"][0] == 1


def test_a_repeated_line_stays_reachable_under_its_own_choice():
    choices = line_choices(["Backup Utility", "Retry", "Backup Utility"])
    assert choices == {"Backup Utility": 1, "Retry": 2, "Backup Utility (2)": 3}


def test_prepare_shows_the_lines_and_normalises_their_boxes():
    ev = Screenshots().prepare(dialog_job(), FakeCtx(DIALOG))
    assert ev.data["image"]["width"] == 800 and ev.data["image"]["height"] == 500
    assert ev.data["lines"][0] == {"text": "Backup Utility", "box": [59, 70, 196, 116],
                                   "score": 0.99}
    assert ev.variables["lines"].splitlines()[-1] == "Backup Utility (2)"   # as the title enum
    assert ev.variables["key_lines"].splitlines()[0] == "Could not complete the backup."
    assert ev.variables["likely"] == "error_dialog"


def test_no_text_is_said_by_code_not_guessed():
    task = Screenshots()
    ev = task.prepare(dialog_job(), FakeCtx([]))
    assert ev.data["lines"] == [] and ev.data["kinds"] == ["other"]
    assert ev.variables["lines"] == "(none: no text was found on it)"
    props = task.schema(ev)["properties"]
    assert props["title"]["enum"] == ["(no text)"] and props["kind"]["enum"] == ["other"]
    assert props["summary"]["enum"] == ["A picture: no text was found on it."]


# -- schema -------------------------------------------------------------------------------------

def test_schema_asks_only_title_summary_and_kind_and_bounds_them():
    task = Screenshots()
    ev = task.prepare(dialog_job(), FakeCtx(DIALOG))
    schema = task.schema(ev)
    props = schema["properties"]
    # Regions, entities and key text are code's (regions.py, salient.py): every token the
    # model does not write is a decode step saved.
    assert set(props) == {"title", "summary", "kind"}
    assert props["title"]["enum"] == ["Backup Utility"]      # the title bar, found by code
    assert props["kind"]["enum"] == ["error_dialog"]         # clear signs: code's kind
    assert props["summary"]["maxLength"] == 120
    assert set(schema["required"]) == set(props)
    # It must convert to a grammar, quotes and repeats in the lines included: a schema that
    # does not would fail the job closed.
    from mustelid.plugins.llama_cpp.gbnf import schema_to_gbnf

    # No title bar (a clock on the top row): the model picks among the lines.
    untitled = [OcrLine("12:04", (0, 0, 40, 20)),
                OcrLine('Say "hi" to Backup', (0, 300, 200, 320)), *DIALOG[1:], DIALOG[1]]
    schema = task.schema(task.prepare(dialog_job(), FakeCtx(untitled)))
    assert {'Say "hi" to Backup', "Backup Utility - Error (2)"} <= set(
        schema["properties"]["title"]["enum"])
    assert "Backup Utility - Error (2)" in schema_to_gbnf(schema)


def test_the_prompt_keeps_its_fixed_instructions_in_the_system_message():
    """The next screen reuses the prefill of an unchanged prefix (llama.cpp's KV cache): what
    never changes comes before anything of this screen."""
    task = Screenshots()
    ctx = FakeCtx(DIALOG)
    first = task.messages(dialog_job(), task.prepare(dialog_job(), ctx), ctx)
    other = FakeCtx([OcrLine("Lunch", (0, 0, 90, 20)), OcrLine("Maya: dinner?", (0, 40, 200, 60))])
    second = task.messages(dialog_job(), task.prepare(dialog_job(), other), other)
    assert first[0]["role"] == "system" and first[0] == second[0]
    assert "summary" in first[0]["content"] and "Backup" not in first[0]["content"]
    assert "Backup Utility" in first[1]["content"] and "Maya" in second[1]["content"]


def test_entities_are_code_s_links_addresses_dates_and_amounts_before_names():
    from mustelid.plugins.screenshots.regions import pick_entities
    candidates = [{"type": "name", "value": f"Name {n}"} for n in range(1, 8)] + [
        {"type": "url", "value": "https://a.example"}, {"type": "date", "value": "3 May 2026"},
        {"type": "name", "value": "Last Name"}]
    assert pick_entities(candidates) == [8, 9, 1, 2, 3, 4, 5, 6]
    assert pick_entities([]) == []


# -- grounding ----------------------------------------------------------------------------------

def test_regions_are_the_title_and_key_lines_with_their_ocr_boxes():
    backend = ScriptedBackend(answer())
    out = run_job(Screenshots(), dialog_job(), FakeCtx(DIALOG, backend))
    result = Screenshot.model_validate(out["data"])
    ocr_boxes = [normalise_box(l.box, 800, 500) for l in DIALOG]
    assert [(r.line, r.text, r.label) for r in result.regions] == [
        (1, "Backup Utility", "title"),
        (3, "Could not complete the backup.", "error message"),
        (4, "The disk BACKUP-01 is full (0 bytes free).", "key line"),
        (5, "Error code: 0x80070070", "error message")]
    assert [r.box for r in result.regions] == [ocr_boxes[n] for n in (0, 2, 3, 4)]
    # Key lines are code's (what the screen is about), whatever the model said.
    assert result.key_lines == [3, 4, 5] and result.key_text == [
        "Could not complete the backup.", "The disk BACKUP-01 is full (0 bytes free).",
        "Error code: 0x80070070"]


def test_a_mail_s_header_lines_are_labelled_sender_and_subject():
    from mustelid.plugins.screenshots.regions import label
    assert label("From: Daniel Ortiz <d@example.com>") == "sender"
    assert label("Subject: Q3 numbers") == "subject"
    assert label("def human_readable(value):") == "definition"
    assert label("Anything", title=True) == "title"


def test_a_summary_claim_the_screen_does_not_show_is_reasked_then_removed():
    """Grounded, not invented (issue 12): names, numbers and paths must be on the screen."""
    invented = answer(summary="Backup Utility on Windows 11 reports a full disk. "
                              "The disk BACKUP-01 is full.")
    backend = ScriptedBackend(invented, invented)
    out = run_job(Screenshots(), dialog_job(), FakeCtx(DIALOG, backend))
    result = Screenshot.model_validate(out["data"])
    assert len(backend.calls) == 2 and out["stats"]["reasked"]
    assert "'Windows', '11'" in backend.calls[1]["messages"][-1]["content"]
    assert result.ungrounded == ["Windows", "11"]
    assert result.summary == "The disk BACKUP-01 is full."
    # A grounded summary passes at once.
    fine = ScriptedBackend(answer(summary="Backup Utility: the disk BACKUP-01 is full "
                                          "(error code 0x80070070)."))
    assert not run_job(Screenshots(), dialog_job(), FakeCtx(DIALOG, fine))["stats"]["reasked"]


def test_a_summary_that_copies_the_request_is_reasked_then_replaced():
    # Qwen 0.5B at times answers with the prompt's own heading ("The lines that say most about
    # it: ..."): 22 of 580 summaries in the evals of sessions 26-31.
    from mustelid.plugins.screenshots.grounding import echoed
    copied = answer(summary="The lines that say most about it: Backup Utility")
    backend = ScriptedBackend(copied, copied)
    out = run_job(Screenshots(), dialog_job(), FakeCtx(DIALOG, backend))
    result = Screenshot.model_validate(out["data"])
    assert len(backend.calls) == 2 and out["stats"]["reasked"]
    assert "copies the request" in backend.calls[1]["messages"][-1]["content"]
    assert "say most" not in result.summary and "Backup Utility" in result.summary
    # The same words on the screen itself are no copy; a summary in its own words passes.
    asked = "A screenshot. The lines that say most about it:\nDescribe it in one short sentence."
    assert echoed("The lines that say most about it: x", asked, "The lines that say most about it") == []
    assert echoed("A backup dialog says the disk is full.", asked, "Backup") == []
    assert echoed("The lines that say most about it: x", asked, "Backup") == [
        "the lines that say", "lines that say most", "that say most about", "say most about it"]


def test_claims_are_names_numbers_paths_and_quotes_compared_loosely():
    from mustelid.plugins.screenshots.grounding import claims, ungrounded
    summary = ('WeeChat 3.8 shows #irssi. The error "File format not recognized" comes from '
               "notes.txt.xz, a file on Debian.")
    assert claims(summary) == ["File format not recognized", "WeeChat", "3.8", "notes.txt.xz",
                               "Debian"]
    screen = "weechat 3.8\nxz: notes.txt.xz: File  format not recognized"
    assert ungrounded(summary, screen) == ["Debian"]


def test_a_picture_with_little_text_gets_code_s_summary_not_an_invented_one():
    task = Screenshots()
    lines = [OcrLine("feh [1 of 1] - /home/a/sea.png", (0, 0, 400, 20)),
             OcrLine("debian 12", (0, 500, 80, 520)), OcrLine("17:16:48", (700, 580, 790, 598))]
    props = task.schema(task.prepare(dialog_job(), FakeCtx(lines)))["properties"]
    assert props["kind"]["enum"] == ["other"]
    assert props["summary"]["enum"] == [
        "Mostly a picture, with little text: feh [1 of 1] - /home/a/sea.png; debian 12"]


def test_the_title_is_the_title_bar_line_or_a_line_the_model_chose():
    from mustelid.plugins.screenshots.titles import is_menu_bar
    task = Screenshots()
    # The window need not be maximised: the title bar is the topmost row of text.
    lines = [OcrLine("notes.txt - Editor", (300, 200, 500, 220)),
             OcrLine("File Edit View Help", (300, 230, 500, 250)),
             OcrLine("Buy milk on the way home", (300, 300, 600, 320))]
    assert task.schema(task.prepare(dialog_job(), FakeCtx(lines)))["properties"]["title"][
        "enum"] == ["notes.txt - Editor"]
    # No title bar (an icon on the top row): any line that names something, never a menu bar.
    lines[0] = OcrLine("4", (300, 200, 320, 220))
    assert task.schema(task.prepare(dialog_job(), FakeCtx(lines)))["properties"]["title"][
        "enum"] == ["Buy milk on the way home"]
    assert is_menu_bar("File Edit Format Run Options Window Help")
    assert not is_menu_bar("Edit the report before Friday")
    # A program's own menus beside the common ones: capitalised single words only.
    assert is_menu_bar("File Options Buffers Tools Gnus Post Threads Article Score Agent Help")
    assert not is_menu_bar("Review The Options Before Friday")
    bad = ScriptedBackend(answer(title="Disk failure"), answer(title="Disk failure"))
    with pytest.raises(PermanentError) as e:
        run_job(Screenshots(), dialog_job(), FakeCtx(DIALOG, bad))
    assert "'Disk failure' is not a line" in e.value.message


def test_a_terminal_title_bar_that_names_only_the_shell_is_not_the_title():
    from mustelid.plugins.screenshots.titles import title_bar
    rows = [{"text": "bash", "box": [480, 0, 520, 15]},
            {"text": "Chapter 10. Data management (p3 of 30)", "box": [750, 45, 990, 60]},
            {"text": "* The creation of data archive", "box": [30, 70, 300, 85]}]
    assert title_bar(rows) is None
    rows[0]["text"] = "alex@vm: ~/src"          # a prompt's title names where the shell is
    assert title_bar(rows) == 1


def test_a_message_with_menu_words_is_no_menu_bar_and_a_button_is_no_title():
    from mustelid.plugins.screenshots.titles import is_menu_bar, title_lines
    message = 'Unsupported file format for file "budget.xlsx"'
    assert not is_menu_bar(message)
    rows = [{"text": message, "box": [333, 369, 641, 394]},
            {"text": "Close", "box": [483, 675, 517, 701]}]
    assert title_lines(rows) == [1]
    rows[0]["box"] = [333, 700, 641, 720]      # below the button: no title bar, still no button
    assert title_lines(rows) == [1]


def test_a_lone_menu_and_a_navigation_row_are_menu_bars_not_titles():
    from mustelid.plugins.screenshots.titles import is_menu_bar
    assert is_menu_bar("File") and is_menu_bar("View") and is_menu_bar("Next Previous Up")
    assert not is_menu_bar("SELECT") and not is_menu_bar("Table Of Contents")


def test_a_header_bars_button_is_not_the_title_bar():
    from mustelid.plugins.screenshots.titles import title_bar
    rows = [{"text": "Open", "box": [10, 5, 60, 30]}, {"text": "sched.py", "box": [450, 5, 520, 30]},
            {"text": "Save", "box": [900, 5, 950, 30]},
            {"text": "def enterabs(self, time, priority, action):", "box": [10, 80, 500, 100]}]
    assert title_bar(rows) == 2


def test_boxes_and_entities_a_model_supplies_are_replaced_by_ocr_facts():
    # A backend that ignores the grammar cannot smuggle a box or an entity in: the result's
    # shape has room for them (check fills them), so check rebuilds every one from the evidence.
    sneaky = answer(regions=[{"text": "Retry", "label": "button", "box": [1, 2, 3, 4]}],
                    entities=[{"type": "url", "value": "https://evil.example"}],
                    entity_choices=[7])
    out = run_job(Screenshots(), dialog_job(), FakeCtx(DIALOG, ScriptedBackend(sneaky)))
    assert [r["text"] for r in out["data"]["regions"]] == [
        "Backup Utility", *(l.text for l in DIALOG[2:5])]
    assert out["data"]["regions"][0]["box"] == normalise_box(DIALOG[0].box, 800, 500)
    assert out["data"]["entities"] == [
        {"type": "name", "value": "Backup Utility", "iso": None, "line": 1}]
    assert out["data"]["entity_choices"] == [1]


def test_entities_are_copied_from_the_candidates_code_keeps():
    lines = [OcrLine("Daniel Ortiz <daniel.ortiz@example.com>", (0, 0, 300, 20)),
             OcrLine("See https://intranet.example.com/q3", (0, 40, 300, 60))]
    job = JobInput("J", "screenshots", str(SAMPLES / "email.png"), mime="image/png")
    backend = ScriptedBackend(answer(title="Daniel Ortiz <daniel.ortiz@example.com>",
                                     kind="other"))
    out = run_job(Screenshots(), job, FakeCtx(lines, backend))
    assert out["data"]["entities"] == [
        {"type": "email", "value": "daniel.ortiz@example.com", "iso": None, "line": 1},
        {"type": "url", "value": "https://intranet.example.com/q3", "iso": None, "line": 2},
        {"type": "name", "value": "Daniel Ortiz", "iso": None, "line": 1}]


# -- persistence, search, CLI -------------------------------------------------------------------

def persisted_db(tmp_path, *answers):
    db = open_db(tmp_path / "s.db")
    migrate(db, [screenshots._migrations()])
    ledger = Ledger(db)
    task = Screenshots()
    ids = []
    for i, a in enumerate(answers):
        a, ocr = a if isinstance(a, tuple) else (a, DIALOG)
        ev = task.prepare(dialog_job(), FakeCtx(ocr))
        job_id, _ = ledger.enqueue("screenshots", idempotency_key=f"k{i}")
        ledger.claim("me", 30)
        result = Screenshot.model_validate(a)
        assert task.check(result, ev) == []
        assert ledger.complete(job_id, "me", result.model_dump(mode="json"),
                               persist=lambda db, row, r=result: task.persist(db, row, r))
        ids.append(job_id)
    return db, ids


def test_persist_and_full_text_search(tmp_path):
    db, ids = persisted_db(
        tmp_path, answer(),
        (answer(title="Lunch", summary="A chat with Maya about dinner on Saturday.",
                kind="chat", regions=[]),
         [OcrLine("Lunch", (0, 0, 90, 20)), OcrLine("Maya: dinner on Saturday at eight", (0, 40, 200, 60))]))
    row = db["screenshots"].get(1)
    assert row["job_id"] == ids[0] and row["kind"] == "error_dialog"
    assert json.loads(row["regions"])[3]["box"] == normalise_box(DIALOG[4].box, 800, 500)
    assert [r["job_id"] for r in list_screenshots(db, query="backup")] == [ids[0]]   # summary
    assert [r["job_id"] for r in list_screenshots(db, query="complete")] == [ids[0]]  # key text
    assert [r["job_id"] for r in list_screenshots(db, query="maya saturday")] == [ids[1]]
    assert list_screenshots(db, query='"unbalanced AND (') == []        # FTS syntax is quoted
    assert [r["kind"] for r in list_screenshots(db, kind="chat")] == ["chat"]
    db["screenshots"].update(2, {"title": "Dinner plans"})              # triggers keep FTS in step
    assert [r["id"] for r in list_screenshots(db, query="dinner plans")] == [2]


def test_cli_lists_and_searches_as_json(home):
    from mustelid.cli import _assembled
    from mustelid.config import load_config
    from mustelid.home import open_store

    db, ledger = open_store(load_config(), __import__("mustelid.host").host.Host())
    task = Screenshots()
    ev = task.prepare(dialog_job(), FakeCtx(DIALOG))
    job_id, _ = ledger.enqueue("screenshots", idempotency_key="k")
    ledger.claim("me", 30)
    result = Screenshot.model_validate(answer())
    task.check(result, ev)
    ledger.complete(job_id, "me", result.model_dump(mode="json"),
                    persist=lambda db, row: task.persist(db, row, result))
    runner = CliRunner()
    out = runner.invoke(_assembled(), ["screenshots", "--json"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert rows[0]["title"] == "Backup Utility" and rows[0]["key_text"][0] == (
        "Could not complete the backup.")
    assert rows[0]["regions"][3]["box"] == normalise_box(DIALOG[4].box, 800, 500)
    hit = runner.invoke(_assembled(), ["screenshots", "--search", "backup", "--json"])
    assert [r["job_id"] for r in json.loads(hit.output)] == [job_id]
    miss = runner.invoke(_assembled(), ["screenshots", "--search", "zebra", "--json"])
    assert json.loads(miss.output) == []
    plain = runner.invoke(_assembled(), ["screenshots"])
    assert "Backup Utility" in plain.output and "\t" in plain.output     # piped: TSV


# -- the real model and real OCR ----------------------------------------------------------------

def real_ctx():
    """A real WorkerContext (configured backend and OCR engine, loaded on first use)."""
    from mustelid.config import load_config
    from mustelid.host import Host
    from mustelid.worker import WorkerContext

    ctx = WorkerContext(load_config(), Host())
    try:
        ctx.prompts.text("screenshots")
    except TypeError:
        # daemon/prompts.py shadows the prompts/ package in an editable install, so the shipped
        # templates are not found there; render the same files from the source tree.
        ctx.prompts = SourcePrompts()
    return ctx


@pytest.mark.real
@pytest.mark.parametrize("sample, kind", [("chat.png", "chat"),
                                          ("error_dialog.png", "error_dialog")])
def test_real_model_describes_the_samples_with_ocr_boxes_only(home, real_model, sample, kind):
    ctx = real_ctx()
    try:
        job = JobInput("real", "screenshots", str(SAMPLES / sample), mime="image/png")
        out = run_job(Screenshots(), job, ctx)
    finally:
        ctx.close()
    result = Screenshot.model_validate(out["data"])
    lines = out["evidence"]["lines"]
    ocr_boxes = [l["box"] for l in lines]
    assert result.kind.value == kind
    assert result.title.strip() and result.summary.strip()
    assert result.regions or result.key_text
    for region in result.regions:
        assert region.box in ocr_boxes
        assert region.box == lines[region.line - 1]["box"] and region.text == lines[
            region.line - 1]["text"]
    for number, text in zip(result.key_lines, result.key_text):
        assert lines[number - 1]["text"] == text
    printed = " ".join(l["text"] for l in lines)
    assert all(e.value in printed for e in result.entities)


@pytest.mark.real
def test_real_model_records_a_picture_without_text_as_code_says(home, real_model, tmp_path):
    """Real OCR finds no text on a plain picture; the real backend decodes the schema whose
    every field has one value, and the job ends done with code's words, nothing invented."""
    from PIL import Image, ImageDraw

    picture = tmp_path / "aquarium.png"
    image = Image.new("RGB", (640, 400), (20, 60, 140))
    ImageDraw.Draw(image).ellipse((200, 150, 320, 210), fill=(240, 160, 30))
    image.save(picture)
    ctx = real_ctx()
    try:
        out = run_job(Screenshots(), JobInput("real", "screenshots", str(picture),
                                              mime="image/png"), ctx)
    finally:
        ctx.close()
    result = Screenshot.model_validate(out["data"])
    assert out["evidence"]["lines"] == []
    assert (result.kind.value, result.title) == ("other", "(no text)")
    assert result.summary == "A picture: no text was found on it."
    assert result.regions == [] and result.key_text == [] and result.entities == []


@pytest.mark.real
def test_real_daemon_describes_a_screenshot_and_search_finds_it(home, real_model):
    from conftest import write_config
    from daemonproc import cli, cli_json

    write_config(home, "[jobs]\ntimeout_seconds = 280\n")
    cli("submit", "--task", "screenshots", str(SAMPLES / "error_dialog.png"))
    cli("run", "--once", timeout=900)
    job = cli_json("jobs")[0]
    assert job["state"] == "done", job
    rows = cli_json("screenshots")
    assert len(rows) == 1 and rows[0]["kind"] == "error_dialog"
    assert rows[0]["file"] == "error_dialog.png"
    ocr_boxes = [l["box"] for l in cli_json("show", job["id"])["evidence"]["lines"]]
    assert all(r["box"] in ocr_boxes for r in rows[0]["regions"])
    # Full-text search over what the model wrote and the lines it picked.
    word = (rows[0]["key_text"] or [rows[0]["title"]])[0].split()[0]
    assert [r["job_id"] for r in cli_json("screenshots", "--search", word)] == [job["id"]]
    assert cli_json("screenshots", "--search", "zzzunlikelyzzz") == []


def test_key_lines_cover_what_recurs_on_the_screen_not_buttons_or_menus():
    from mustelid.plugins.screenshots.salient import key_lines
    chat = ["#ops - Chat", "File Edit View Help", "<kim> deploy of api-gateway failed again",
            "<lee> which api-gateway build?", "<kim> build 4411, see #ops-alerts",
            "<lee> ok", "OK"]
    picked = [chat[n - 1] for n in key_lines(chat, title_line=1)]
    assert picked[0] == "<kim> deploy of api-gateway failed again"
    assert "File Edit View Help" not in picked and "OK" not in picked
    mail = ["Inbox - Mail", "Date: Mon, 3 Mar 2025", "From: Dana Reyes <dana@example.org>",
            "Subject: Quarterly figures", "Hi team, the figures are attached."]
    assert {3, 4} <= set(key_lines(mail, title_line=1))


def test_a_subject_and_the_first_definition_are_key_lines_before_busier_lines():
    from mustelid.plugins.screenshots.salient import key_lines
    # Lines with many recurring names outweighed them when every line was weighed alike.
    code = ["main.py - Editor", "def load(path):",
            "    cache_store.fetch(cache_key, cache_store.default, cache_store.timeout)",
            "    cache_key = cache_store.key(cache_prefix, cache_suffix)",
            "    cache_store.put(cache_key, cache_prefix, cache_suffix)",
            "    log_writer.emit(log_level, log_format)",
            "    log_writer.flush(log_level, log_format)",
            "    return cache_store.get(cache_key) or cache_store.default"]
    assert 2 in key_lines(code, title_line=1)
    mail = ["Inbox - Mail", "From: Karl Fogel <kfogel@floss.example>", "Subject: Broken search",
            "time-forward fails with time-forward-hook and time-forward-limit in emacs-20",
            "time-forward-hook calls time-forward-limit in emacs-20 twice",
            "undo-list and undo-limit break in redo-mode with redo-list",
            "undo-list calls redo-mode and undo-limit with redo-list"]
    assert 3 in key_lines(mail, title_line=1)


def test_a_mails_sender_a_shell_function_and_a_named_file_are_key_lines():
    from mustelid.plugins.screenshots.salient import key_lines
    from mustelid.plugins.screenshots.titles import is_menu_bar
    # a mail's sender, before its body's busier lines and over the pager's key bindings
    mail = ["mutt", "i:Exit -:PrevPg <Space>:NextPg v:View Attachm. d:Del r:Reply j:Next",
            "Date: Wed, 16 Oct 2013 04:34:01 -0400", "From: Jeff King <peff@peff.example>",
            "Subject: pack corruption post-mortem",
            "error: index CRC mismatch for object $obj from $pack at offset 51653",
            "error: inflate: data stream error (invalid distance too far back)",
            "fatal: pack has bad object at offset 51653: inflate returned -3"]
    picked = [mail[n - 1] for n in key_lines(mail, title_line=1)]
    assert mail[3] in picked and mail[4] in picked and mail[1] not in picked
    assert is_menu_bar("^G Get Help  ^O Write Out  ^W Where Is") and is_menu_bar("1Help 2Save 3Mark")
    assert not is_menu_bar("From: Jeff King <peff@peff.example>")
    # a shell function is a definition; "print()" alone is a call
    script = ["mcedit", "#!/bin/sh", "action=$1", "do_view_action() {", 'case "${filetype}" in',
              'gzip -dc "${MC_EXT_FILENAME}" 2>/dev/null', 'xz -dc "${MC_EXT_FILENAME}" 2>/dev/null',
              'lzma -dc "${MC_EXT_FILENAME}" 2>/dev/null']
    assert 4 in key_lines(script, title_line=1)
    # the file an error names outweighs the error words the dialog repeats
    dialog = ["Open invoice", "Could not open invoice-2026-11.pdf:",
              "error: cannot recognize version marker", "warning: trying to repair broken xref",
              "error: no objects found", "mupdf: error: cannot open document"]
    assert 2 in key_lines(dialog, title_line=1)


# -- for the inbox router: is the picture a whole display? ----------------------------------


@pytest.mark.parametrize("size, whole", [
    ((1366, 768), True), ((768, 1366), True), ((1920, 1080), True), ((1170, 2532), True),
    ((1080, 1527), False),            # a scanned receipt
    ((4032, 3024), False),            # a camera's 12 MP frame
    ((1365, 768), False),             # a window or a region, not the whole display
])
def test_a_whole_display_capture_is_told_by_its_size(size, whole):
    from PIL import Image

    from mustelid import whole_screen

    assert whole_screen(Image.new("RGB", size)) is whole


def test_a_camera_photo_the_size_of_a_display_is_not_a_screen_capture(tmp_path):
    from PIL import Image

    from mustelid.imaging import load_image
    from mustelid import whole_screen

    photo = tmp_path / "photo.jpg"
    exif = Image.Exif()
    exif[271], exif[272] = "Camera Maker", "Model 7"
    Image.new("RGB", (1920, 1080), "white").save(photo, exif=exif)
    plain = tmp_path / "plain.png"
    Image.new("RGB", (1920, 1080), "white").save(plain)
    assert not whole_screen(load_image(str(photo))) and whole_screen(load_image(str(plain)))


def test_the_model_reads_the_key_lines_and_the_top_of_the_screen_within_a_budget():
    """Prefill is most of a screen's model time: the prompt holds the key lines, then the
    title bar and lines with words in reading order up to a character budget."""
    from mustelid.plugins.screenshots.salient import PROMPT_CHARS, context_lines
    texts = ["Mail - Inbox", "12:04", "File Edit View Help", "Subject: Q3 numbers"] + [
        f"Line {n} of the message body, with words in it" for n in range(60)]
    shown = context_lines(texts, keys=[4], title_line=1)
    assert shown[0] == 1 and 2 not in shown and 3 not in shown and 4 not in shown
    assert shown == sorted(shown) and shown[1:] == list(range(5, 5 + len(shown) - 1))
    assert sum(len(texts[n - 1]) for n in shown[1:]) <= PROMPT_CHARS < len(texts) * 45
    ev = Screenshots().prepare(dialog_job(), FakeCtx(
        [OcrLine(t, (0, 20 * i, 400, 20 * i + 15)) for i, t in enumerate(texts)]))
    assert len(ev.data["lines"]) == 60          # the evidence keeps every line, boxes and all
    prompt = ev.variables["lines"] + "\n" + ev.variables["key_lines"]
    assert "Line 55 " not in prompt and len(prompt.splitlines()) < 20


def test_a_mails_subject_is_its_title_and_a_breadcrumb_is_no_title_bar():
    from mustelid.plugins.screenshots.titles import title_bar, title_lines
    mail = [{"text": t, "box": [10, 5 + 30 * i, 600, 25 + 30 * i]} for i, t in enumerate(
        ["mutt", "From: Dana Reyes <dana@example.org>", "Subject: Quarterly figures", "Hi,"])]
    assert title_lines(mail) == [1]                  # the terminal's title bar
    assert title_lines(mail, "email") == [3]         # a mail is called by its subject
    crumbs = [{"text": "Python »", "box": [10, 5, 80, 20]},
              {"text": "3.11.2 Documentation » Library » pathlib", "box": [90, 5, 600, 20]},
              {"text": "pathlib — Object-oriented filesystem paths", "box": [10, 60, 700, 90]}]
    assert title_bar(crumbs) == 2


def test_a_pages_heading_is_a_key_line_and_the_model_reads_the_first_three_picked():
    from mustelid.plugins.screenshots.salient import HEADING, SHOWN_KEY_LINES, heading, key_lines
    page = ["Startup How-To - Browser", "Home | Docs | Download", "Startup How-To",
            "irssi connects to irc.libera.chat on start when autoconnect is set",
            "irssi keeps trying to reconnect to a server that does not answer",
            "the default config has a few servers and channels for irssi",
            "servers have channels and channels have nicks", "see also the irssi FAQ"]
    heights = [20.0, 20.0, 34.0, 20.0, 20.0, 20.0, 20.0, 20.0]
    assert heading(page, heights, title_line=1) == 3
    picked = key_lines(page, 1, heights)
    # Its words are the title bar's too: weighed like any line it would never be picked.
    assert picked[0] == 3 and 3 not in key_lines(page, 1)
    assert len(picked) == 5 and SHOWN_KEY_LINES == 3
    # Nothing stands out on a page set in one size, nor is the title bar a heading.
    assert heading(page, [20.0] * 8, 1) is None
    assert heading(page, [HEADING * 25] + [20.0] * 7, 1) is None


def test_prepare_keeps_up_to_five_key_lines_and_shows_the_model_three():
    texts = ["Release notes - Viewer", "Release notes for tarsnap-backup 2.1",
             "tarsnap-backup now prunes archives older than the retention window",
             "the retention window defaults to 30 days in tarsnap-backup.conf",
             "prune-archives runs after every nightly backup job",
             "nightly backup job logs go to /var/log/tarsnap-backup.log",
             "restore-archive reads keys from /etc/tarsnap/keys", "Close"]
    page = [OcrLine(t, (20, 10 + 30 * i, 20 + 9 * len(t), 30 + 30 * i), 0.99)
            for i, t in enumerate(texts)]
    ev = Screenshots().prepare(dialog_job(), FakeCtx(page))
    kept, shown = ev.data["key_lines"], ev.variables["key_lines"].splitlines()
    assert len(kept) > 3 and len(shown) == 3 and kept == sorted(kept)
    texts = [line["text"] for line in ev.data["lines"]]
    assert set(shown) < {texts[n - 1] for n in kept}


def test_an_editors_line_numbers_are_a_feature_of_the_screen():
    from mustelid.plugins.screenshots.kind_model import features

    def line(text, x1, y):
        return {"text": text, "box": [x1 - 20, y, x1, y + 18]}
    code = [line("# convert hard line breaks", 480, 0), line("ret = re.sub(a, b, mdwn)", 490, 40)]
    gutter = [line(str(n), 26, 20 * (n - 108)) for n in (108, 109, 110, 111, 113)]
    assert features(code + gutter)["gutter"] == 1.0
    # Quantities beside a list's items are no gutter: they do not count on.
    prices = [line(str(n), 26, 20 * i) for i, n in enumerate((12, 40, 3, 7, 25))]
    assert features(code + prices)["gutter"] == 0.0
    assert features(code)["gutter"] == 0.0
