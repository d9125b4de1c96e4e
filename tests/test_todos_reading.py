"""How a note is read before the model sees it (session 22, from notes-fresh6/7's misses):
source files, release notes, install instructions, FAQ answers and links."""

from __future__ import annotations

import pytest

from mustelid.plugins.todos import items, source_code
from mustelid.plugins.todos.todo_names import names_todo_list
from mustelid.plugins.todos.lines import source_layout
from mustelid.plugins.todos.source_code import comments_of_code

from test_todos import offered


def test_code_the_patterns_do_not_know_is_no_task_in_a_source_file(tmp_path):
    stub = ("# TODO: add support for returning TypedDict\ndef asdict(\n    inst: Instance,\n"
            "    recurse: bool = ...,\n    dict_factory: type[Mapping[Any, Any]] = ...,\n"
            "    filter: Filter | None = ...,\n) -> dict[str, Any]: ...\n")
    assert offered(tmp_path, stub) == ["TODO: add support for returning TypedDict"]


def test_a_tagged_comments_next_lines_carry_it_on_and_a_link_is_no_item(tmp_path):
    code = ("    # TODO: Decide whether we like these better\n    # than generated methods\n"
            "    # on the instances themselves.\n    # See:\n    # https://example.org/issue/4\n"
            "    def fields(self):\n        return self._fields\n"
            "    def names(self):\n        return list(self._fields)\n")
    assert offered(tmp_path, code) == [
        "TODO: Decide whether we like these better than generated methods on the instances "
        "themselves."]


def test_a_long_comment_in_code_is_source_and_only_its_tagged_part_asks(tmp_path):
    code = ("        # We only apply mutation (1), and ignore mutation (2).\n"
            "        # The reason is that (2) is easy to generate.\n        #\n"
            "        # TODO: repeat (1) on a geometric distribution.\n\n"
            "        # case (1): duplicate the choices.\n"
            "        attempt = data.choices[:start2] + data.choices[start1:]\n")
    assert offered(tmp_path, code) == ["TODO: repeat (1) on a geometric distribution."]


def test_a_tagged_block_comment_after_a_statement_asks_and_the_next_statement_does_not(tmp_path):
    code = ("typedef struct {\n    size_t offset; /* start: XXX - should this be off_t? */\n"
            "    size_t len; /* match length */\n    int flags;\n} match_t;\n")
    assert offered(tmp_path, code) == ["start: XXX - should this be off_t?"]


def test_release_notes_under_a_version_heading_ask_for_nothing(tmp_path):
    news = ("### JOE.next\n\n### JOE 4.6\n\n* Enhancements\n\n"
            "\t* Upgrade to Unicode 10.0.0.\n\t* Install Gnome .desktop files.\n\n"
            "* Bugs fixed\n")
    assert offered(tmp_path, news) == []
    roadmap = "## 2.0\n\n* Add a plugin API (planned)\n* Port to GTK 4\n"
    assert offered(tmp_path, roadmap) != []


def test_install_instructions_and_requirements_ask_for_nothing(tmp_path):
    readme = ("How to compile and install ncmpc\n--------------------------------\n\n"
              "You need:\n\n- a C++17 compliant compiler\n- `ncurses <https://example.org/>`__\n")
    assert offered(tmp_path, readme) == []
    assert offered(tmp_path, "Requirements\n============\n- install Gtk+ 2.4\n") == []


def test_an_faq_answer_under_a_question_heading_asks_for_nothing(tmp_path):
    faq = ("2. Why doesn't it execute files marked as executable?\n"
           "=====================================================\n\n"
           "  For security reasons it only runs desktop files. The types\n"
           "  don't really need to match exactly, but it is enough if one matches.\n")
    assert offered(tmp_path, faq) == []


def test_a_line_saying_how_the_list_is_ordered_is_no_item(tmp_path):
    text = "Items are in random order, mostly reverse chronological.\n\n- add an end-game table\n"
    assert offered(tmp_path, text) == ["- add an end-game table"]


def test_a_bullet_read_on_a_line_of_its_own_marks_the_words_below_it(tmp_path):
    text = "## UI\n\n*\n  Completion for Ruby's code\n*\n  irb integration\n"
    assert offered(tmp_path, text) == ["* Completion for Ruby's code", "* irb integration"]


def test_a_tag_without_a_colon_before_a_task_verb_reads_as_a_task():
    from mustelid.plugins.todos.lines import task_like
    assert task_like("XXX handle auth-int.") and task_like("TODO(kim) add caching")
    assert not task_like("TODO Mousepad") and not task_like("TODO - Mousepad")
    assert not task_like("TODO - list of things to do for libpng:")


def test_revision_verbs_start_tasks():
    from mustelid.plugins.todos.lines import task_like
    assert task_like("Revise everything about explodes.")
    assert task_like("Rephrase the warnings where required.")


def test_a_release_heading_with_a_month_name_and_changes_told_as_made_ask_for_nothing(tmp_path):
    news = ("Version 0.7.7   2017-dec-27\n-------------\n * Upgraded libpng to version 1.6.34.\n"
            " * Disallowed out-of-bounds values in rangeset options.\n")
    assert offered(tmp_path, news) == []
    from mustelid.plugins.todos.lines import task_like
    assert not task_like("* Upgraded zlib to 1.2.11.") and task_like("* Upgrade zlib to 1.2.11.")


def test_settings_and_usage_examples_ask_for_nothing_but_a_tag_in_a_script_does(tmp_path):
    script = ("# Input=nothing\n# Output=output-panel\n# Save-files=nothing\n\n"
              "#TODO: use the configured terminal\ngnome-terminal --working-directory=\"$D\" &\n")
    assert offered(tmp_path, script) == ["TODO: use the configured terminal"]
    examples = ("Some examples of ways to use devtodo:\n\n1. Displaying only one item:\n"
                "\ttodo 12\n\n2. Removing items 1 through 10:\n\ttdr 1-10\n")
    assert offered(tmp_path, examples) == []


def test_lisp_is_source_and_its_fixme_comment_is_one_item(tmp_path):
    scheme = (";; FIXME: the functions taking an optional TZ-OFFSET should be extended\n"
              ";; to take a symbolic time-zone; this string should be stored in\n"
              ";; the DATE structure.\n\n(define-module (srfi srfi-19)\n"
              "  #:use-module (ice-9 receive))\n(define (current-date) (now))\n")
    assert offered(tmp_path, scheme) == [
        "FIXME: the functions taking an optional TZ-OFFSET should be extended"]


def test_an_faq_entry_put_as_a_cry_is_answered_not_asked(tmp_path):
    faq = ("## Why does st not handle utmp entries?\n\nUse the utmp tool for this task.\n\n"
           "## Nothing works, and nothing is said about an unknown terminal!\n\n"
           "* Some programs just assume they run in xterm and rely on nothing else.\n")
    assert offered(tmp_path, faq) == []


def test_a_programs_readme_opening_describes_its_features(tmp_path):
    readme = ("FROTZ V2.54 - An interpreter for all Infocom and other Z-machine games.\n\n"
              "- compiles and runs on most common flavors of Unix.\n- Sound support through libao.\n"
              "- Config files.\n")
    assert offered(tmp_path, readme) == []


def test_prose_wrapped_at_the_notes_width_carries_on_in_lower_case(tmp_path):
    text = ("Finish porting Frotz to the PDP-10 line of mainframe computers.  Dumb\n"
            "works.  Full-screen support needed.\n\n"
            "Renaming a file should give the current filename as a default value.\n"
            "(Suggested by \"Micha\".)\n\n"
            "Add heuristic to stop when the improvement is too slow / antithrashing\n"
            "support singularities? this feature will be added eventually\n")
    got = offered(tmp_path, text)
    assert got[0].startswith("Finish porting") and got[0].endswith("support needed.")
    assert got[1].endswith('(Suggested by "Micha".)')
    assert got[2].startswith("Add heuristic") and got[3].startswith("support singularities?")


def test_a_version_is_no_list_number_but_an_outline_number_is(tmp_path):
    from mustelid.plugins.todos.lines import list_marked
    assert not list_marked("1.2.x versions, IIRC it didn't happen with 1.2.7.")
    assert list_marked("2.1 More non-blocking") and list_marked("3. Update the docs")


def test_a_tag_without_a_colon_asks_unless_it_titles_a_list():
    from mustelid.plugins.todos.lines import asks
    assert asks("TODO classpath?") and asks("TODO(1.5): turn into error")
    assert not asks("TODO for debian packaging of libgpg-error") and not asks("TODO list")


def test_a_done_heading_covers_items_ending_in_a_bracketed_remark(tmp_path):
    text = ("General:\n  - make deporhan a native filter (should be easy)\nDone:\n"
            "- add a TaskView view to show tasks [done with tasksel window]\n"
            "- Reword unclear messages [mostly done]\n- Pressing a key should jump to the first"
            " package\n  with the same initial letter [fixed with gtk2.6]\n")
    assert offered(tmp_path, text) == ["- make deporhan a native filter (should be easy)"]


def test_a_news_entry_dated_before_its_version_asks_for_nothing(tmp_path):
    news = ("2022-06-05: Version 7.4.3\n\n  * New Serbian translation of the manual.\n"
            "  * Skip GB18030 tests on Darwin.\n\n2020-10-12: Version 7.4.2\n\n  * Code cleanup.\n")
    assert offered(tmp_path, news) == []


def test_a_sample_configuration_explains_its_settings(tmp_path):
    rc = ("% Tell slrn which newsrc file it should use for which server.\n"
          "%server \"news.doe.com\" \".jnewsrc-doe\"\n\n"
          "% If a server requires authentication, add a nnrpaccess line for it.\n"
          "%nnrpaccess \"news.doe.com\" \"john\" \"secret\"\n\n"
          "% To offer your data voluntarily, set this variable to 1.\n"
          "%set force_authentication 0\n")
    assert offered(tmp_path, rc) == []


def test_instructions_a_readers_question_and_a_link_to_read_ask_for_nothing(tmp_path):
    doc = ("Instructions to code your own VLC Lua scripts and extensions\n\n"
           "Several types of scripts can currently be coded:\n"
           " * Art fetchers (see meta/README.txt)\n * Extensions (see extensions/README.txt)\n")
    assert offered(tmp_path, doc) == []
    faq = ("2.8. How can I rotate signatures in slrn ?\n\nThere are different ways to do this.\n"
           "Call a sig rotation program in the post_editor_command.\n")
    assert not any("How can I" in q for q in offered(tmp_path, faq))
    todo = ("TO DO\n=====\n\n* Translations.\n\n  User interface messages:\n"
            "  See http://translationproject.org/domain/dos2unix.html\n")
    assert not any("See http" in q for q in offered(tmp_path, todo))


def test_an_indented_line_starting_a_task_of_its_own_is_an_item(tmp_path):
    text = ("Usability issues:\n  * Rework repository and vendor dialog\n"
            "   Disable \"Undo\" and \"Redo\" if there is no action to perform\n"
            "  * Always show the progress bar in the main window and move it\n"
            "   to the left side\n")
    got = offered(tmp_path, text)
    assert 'Disable "Undo" and "Redo" if there is no action to perform' in got
    assert any(q.endswith("move it to the left side") for q in got)


def test_a_manuals_options_and_a_change_told_as_made_ask_for_nothing():
    from mustelid.plugins.todos.lines import list_marked, task_like
    assert not list_marked("-c, --config file") and not list_marked("-C[f][n], --create")
    assert list_marked("- add a --config option") and list_marked("-fix the build")
    assert not task_like("Support for configuring a TLS cipher string was added.")
    assert task_like("Check if the archive was changed for extfs, tar and cpio.")
    assert task_like("- [ ] Appropriate docs were updated (if necessary)")


def test_a_tag_in_mixed_case_or_misread_opens_a_comment_in_code(tmp_path):
    code = ("// ToD0: At some point we might want to limit the size of preallocations.\n"
            "void set_preallocate(bool p) {\n  preallocate_ = p;\n}\n"
            "bool preallocate() const { return preallocate_; }\n")
    assert offered(tmp_path, code) == [
        "ToD0: At some point we might want to limit the size of preallocations."]
    py = ("        # keep the dtype\n        if needs_conversion(left.dtype) or (\n"
          "            right.dtype == object\n        ):\n            left = left.astype(object)\n")
    assert offered(tmp_path, py) == []


def test_org_property_drawers_are_no_words_of_the_note(tmp_path):
    org = ("* Documentation\n  :PROPERTIES:\n  :CUSTOM_ID: documentation\n  :END:\n\n"
           "** TODO Document validity and trust issues.\n   :PROPERTIES:\n"
           "   :CUSTOM_ID: valid-trust\n   :END:\n**** DONE fix TODO items\n"
           "     CLOSED: [2018-03-04 Sun 08:55]\n")
    got = offered(tmp_path, org)
    assert "** TODO Document validity and trust issues." in got
    assert not any("PROPERTIES" in q or "CLOSED" in q for q in got)


def test_a_keep_a_changelog_file_thanks_and_a_command_table_ask_for_nothing(tmp_path):
    changelog = ("# Changes for Newsboat\n\n## 2.21 - 2020-09-20\n\n### Added\n\n"
                 "- Build dependency on AWK\n- Confirmation before marking all feeds as read\n")
    assert offered(tmp_path, changelog) == []
    thanks = "THANKS\n\nNiklas Angebrand for suggesting improvements and submitting code\n"
    assert offered(tmp_path, thanks) == []
    table = ("ABORT\t\tQuit without confirmation\nBACK\t\tClose current buffer and return\n"
             "BEGIN\t\tGo to the first line\nCLOSE_TAB\tClose tab\n")
    assert offered(tmp_path, table) == []


def test_a_sample_configuration_in_its_own_syntax_explains_its_settings(tmp_path):
    rc = ("# Set default values: use the mail submission port 587, and always use TLS.\n"
          "# On this port, TLS is activated via STARTTLS.\ndefaults\nport 587\ntls on\n"
          "tls_starttls on\n")
    assert offered(tmp_path, rc) == []


def test_a_changelog_title_over_a_todo_list_still_reads_the_version_list_as_a_record(tmp_path):
    text = ('" Changes\n" TODO:\n" Add an "unsafe eval" mode\n" Continue parsing on invalid '
            'line??\n"\n" v 0.9\n"   * Fixed docstring parsing for classes\n')
    got = offered(tmp_path, text)
    assert any("unsafe eval" in q for q in got) and not any("Fixed" in q for q in got)


def test_a_doc_comments_tags_end_what_a_todo_says_even_in_an_excerpt_that_starts_inside_it(
        tmp_path):
    header = ("     * @param status   Fill-in parameter for the status.\n     * @stable ICU 2.4\n"
              "     */\n    void setSource(const UnicodeString &s, UErrorCode &status);\n\n"
              "    /**\n     * Dumb recursive implementation of permutation.\n"
              "     * TODO: optimize\n     * @param source  the string to permute\n     */\n"
              "    static void permute(UnicodeString source);\n")
    assert offered(tmp_path, header) == ["TODO: optimize"]


def test_a_configuration_files_commented_settings_ask_for_nothing(tmp_path):
    text = ("# Enable logging and display of /var/log/faillog login failure info.\n#\n"
            "FAILLOG_ENAB\t\tyes\n\n#\n# Enable logging of successful logins\n#\n"
            "LOG_OK_LOGINS\t\tno\n\n# Enable display of unknown usernames\nLOG_UNKFAIL_ENAB\tno\n")
    assert offered(tmp_path, text) == []
    assert offered(tmp_path, text + "# TODO: enable the new option\n") == [
        "TODO: enable the new option"]


def test_a_manuals_options_and_what_they_do_ask_for_nothing(tmp_path):
    text = ("OPTIONS\n    -h, --help\n           Print the usage and exit.\n\n"
            "    -i, --interactive\n           Force interactive mode.\n\n"
            "    -o FILE  Write the output to FILE.\n")
    assert offered(tmp_path, text) == []
    # ioping(1): long options with one dash, arguments in lower case.
    ioping = ("OPTIONS\n  -b, -burst count\n      Make series of count requests without delay.\n"
              "  -c, -count count\n      Stop after count requests, default 0 (infinite).\n")
    assert offered(tmp_path, ioping) == []
    # A wrapped sentence that starts with an option is not one.
    item = "* fix documentation for new -7 switch and the new semantics of\n  -1 and -L.\n"
    assert offered(tmp_path, item) == [
        "* fix documentation for new -7 switch and the new semantics of -1 and -L."]


def test_a_list_most_of_whose_entries_record_changes_records_them_all(tmp_path):
    news = ("* Support for TLS variables on FreeBSD arm and\n  aarch64 architectures.\n\n"
            "* GDB now supports hardware watchpoints on FreeBSD/Aarch64.\n\n"
            "* Remove support for building against Python 2, it is now only possible to\n"
            "  build GDB against Python 3.\n\n* DBX mode has been removed.\n")
    assert offered(tmp_path, news) == []
    todo = ("* Remove support for Python 2\n* Add a --quiet option\n"
            "* The parser has been rewritten\n* Fix the crash on empty input\n")
    # One change told as made among tasks: the list is still a to-do list.
    assert "* Add a --quiet option" in offered(tmp_path, todo)


def test_an_faq_of_questions_and_answers_asks_for_nothing(tmp_path, monkeypatch):
    from mustelid.plugins.todos import note_model
    monkeypatch.setattr(note_model, "has_todos", lambda feats: None)   # the rule alone
    faq = ("Q. Low on disk space?\nA. abcde has different algorithms to schedule ripping - to\n"
           "   optimize for disk conservation, use -l. You can also define\n"
           "   WAVOUTPUTDIR to store the WAV files on another disk.\n")
    assert offered(tmp_path, faq) == []
    assert offered(tmp_path, "Q: fix the queue\n- add a retry\n") != []


def test_an_outlines_topic_over_deeper_headings_is_their_title(tmp_path):
    org = ("* Simple tasks\nThese don't require much Emacs knowledge.\n\n"
           "** Convert modes that use view-mode to be derived from special-mode\n\n"
           "** Major modes should have a menu entry\n")
    assert offered(tmp_path, org) == ["** Convert modes that use view-mode to be derived from "
                                      "special-mode", "** Major modes should have a menu entry"]
    asks = "** Document all the new stuff.\n*** Describe the options\n"
    assert "** Document all the new stuff." in offered(tmp_path, asks)


def test_a_makefiles_and_a_lua_files_comments_ask_only_where_tagged(tmp_path):
    make = ("\t# Remove profile generation binary since we are done with it.\n"
            "\t$(MAKE) clean-retain-profile\n\ttouch $@\n\nbuild_all_generate_profile:\n"
            "\t$(MAKE) all\n\nrun_profile_task:\n\t@ # FIXME: can't run for a cross build\n"
            "\t$(LLVM_PROF_FILE) ./$(BUILDPYTHON) || true\n")
    assert offered(tmp_path, make) == ["FIXME: can't run for a cross build"]
    lua = ("    -- Save closed tabs for each window\n    assert(state[w])\n"
           "    state[w].closed = {}\n    for i, tab in ipairs(closed_tabs) do\n"
           "        state[w].closed[i] = tab\n    end\n"
           "    -- HACK: This is rather brittle; need a better API for session stuff\n"
           "    if not v.private then\n        state[w].open[i].view_uid = view_uids[v]\n"
           "    end\n")
    assert offered(tmp_path, lua) == [
        "HACK: This is rather brittle; need a better API for session stuff"]


def test_changes_told_in_the_third_person_or_credited_are_records(tmp_path):
    told = ("o adds agent forwarding support\no adds ECDSA cert authentication\n"
            "o adds support for building with OpenSSL 3\n")
    assert offered(tmp_path, told) == []
    credited = ("- Fix building with -Wformat-security (Martin Pitt)\n"
                "- Add Catalan locale to LINGUAS (Richard Hughes)\n"
                "- Check the package_id for utf8 validity (Richard Hughes)\n")
    assert offered(tmp_path, credited) == []


def test_a_list_stating_what_the_program_does_asks_nothing_unless_it_asks(tmp_path):
    stated = ("- Word completion looks for candidates in all open buffers.\n"
              "- Unicode codes can be entered without leading zeroes.\n"
              "- Fourteen new color names are available, from rosy to crimson.\n"
              "- Option --zero hides the interface.\n")
    assert offered(tmp_path, stated) == []
    asked = ("* The --add_extra_groups option is deprecated.\n"
             "  Run-time warnings should be added to notify users.\n"
             "* The --force-badname option is deprecated.\n"
             "  Run-time warnings should be added to notify users.\n"
             "* The --quiet option is gone.\n")
    assert offered(tmp_path, asked) != []


def test_an_interactive_session_and_a_commits_message_ask_only_where_tagged(tmp_path):
    doctest = (">>> import iniconfig\n>>> ini = iniconfig.IniConfig.parse('example.ini')\n"
               ">>> def postprocessor(path, key, value):\n...     return key, value\n")
    assert offered(tmp_path, doctest) == []
    commit = ("commit 349b8477a5461ddb1d02ae36d741db17da9bfde3\n"
              "Author: Matthew Brush <mbrush@codebrainz.ca>\n"
              "Date:   Thu Jul 10 00:30:13 2014 -0700\n\n    Re-organize the main menu a bit\n\n"
              "    * Remove Text and Navigation main menus\n    * Add Search main menu\n"
              "      - TODO: the tab list might be better as a GtkNotebook menu?\n")
    assert offered(tmp_path, commit) == [
        "- TODO: the tab list might be better as a GtkNotebook menu?"]


def test_a_calls_arguments_over_lines_are_code_and_credits_and_bsd_terms_ask_nothing(tmp_path):
    code = ("        self.finalize_options()\n\n        # TODO(sf): Remove this at the next bump\n"
            "        if self.builders != ['html']:\n"
            "            log.warn(\"[pbr] Sphinx 1.6 added native support for \"\n"
            "                     \"found in 'setup.cfg'. As a result, the \"\n")
    assert offered(tmp_path, code) == ["TODO(sf): Remove this at the next bump"]
    assert offered(tmp_path, "Thanks to:\n- Jens Georg <mail@jensge.org>\n") == []
    bsd = ("- Redistributions of source code must retain the above\n"
           "  copyright notice, this list of conditions.\n"
           "- Redistributions in binary form must reproduce the above\n")
    assert offered(tmp_path, bsd) == []


def test_a_sample_configurations_commented_out_settings_make_it_one(tmp_path):
    conf = ("# e2scrub configuration file\n\n# Uncomment to enable automatic periodic runs\n"
            "# periodic_e2scrub=1\n\n# e-mail destination used when problems are found\n"
            "# recipient=root\n\n# Set this to 1 to enable fstrim for everyone.\n# fstrim=0\n")
    assert offered(tmp_path, conf) == []
    assert offered(tmp_path, conf + "# TODO: document the snapshot size\n") == [
        "TODO: document the snapshot size"]


def _ranked_quotes(text: str) -> list[str]:
    lines = source_layout(text.splitlines(), limit=None)
    return [quote for _, _, quote in items.ranked(lines, set(), set())]


def test_a_verb_in_the_middle_of_a_wrapped_sentence_is_no_task_of_its_own():
    # notes-train1's debconf.conf and xmahjongg's INSTALL: the verb after "where to" or
    # "will build and" is the sentence's, not an order to the reader.
    prose = ("This is the configuration file that debconf reads on start-up. It tells debconf "
             "where to\nstore data. The format of this file is a set of stanzas, and each "
             "stanza\nholds the settings of one database, written one to a line as a name and "
             "a value.")
    assert _ranked_quotes(prose) == []
    # After a modal the verb is the ask, and a nested entry under its own mark starts one.
    modal = ("A cache that only ever sees reads of a file that is far larger than itself, or "
             "that scans the\nfile once, will have a cache hit rate of zero. This is a waste of "
             "memory. It should\ndetect this situation and turn itself off until the hit rate "
             "improves again, later on.")
    assert _ranked_quotes(modal)[-1].startswith("detect this situation")
    nested = ("- cols/rows\n    : Make unhide smarter to find hidden regions on either side of\n"
              "      selected ranges.\n    : support delete for discontinuous ranges")
    assert _ranked_quotes(nested) == [
        ": Make unhide smarter to find hidden regions on either side of",
        ": support delete for discontinuous ranges"]


def test_a_ticked_box_ending_in_code_quotes_is_done_not_a_heading(tmp_path):
    # notes-fresh17: "- [x] `Xarray dev call`" read as a heading framed by "-" and "`", so its
    # tick was never seen and the finished item was offered.
    text = ("We plan to publicize this document on :\n\n- [x] `Xarray dev call`\n"
            "- [ ] `Scientific Python discourse`\n- [ ] `Xarray blog`\n")
    assert offered(tmp_path, text) == ["- [ ] `Scientific Python discourse`",
                                       "- [ ] `Xarray blog`"]


def test_vim_script_and_tcl_are_source_and_only_their_tags_ask(tmp_path):
    vim = ("    \" Finally, look for any additions to the content model.\n"
           "    \" TODO: Can the \"-\" be separated by whitespace from the \"(\"?\n"
           "    let seen = { '+(': 0, '-(': 0 }\n    while 1\n"
           "      let [token, end] = s:lex(line, end)\n      if token == '>'\n"
           "        return indent\n      endif\n"
           "      \" TODO: Should use s:lex here and check for >.\n"
           "      return getline(v:lnum) =~ '^\\s*>' ? indent : indent + 2\n    endif\n")
    assert offered(tmp_path, vim) == [
        'TODO: Can the "-" be separated by whitespace from the "("?',
        "TODO: Should use s:lex here and check for >."]
    # As OCR reads a picture of Tcl: the "#" on lines of their own, the tags below them.
    tcl = ("proc asn::asnGeneralizedTime {UTCtimestring} {\n    #\n"
           "    the generalized time tag is 0x18\n    #\n"
           "    ToD0: accept clock seconds as well as an integer\n    #\n\n"
           "    set ascii [encoding convertto ascii $UTCtimestring]\n"
           "    set len [string length $ascii]\n"
           "    return [binary format H2a*a* 18 [asnLength $len] $ascii] }\n")
    assert offered(tmp_path, tcl) == ["ToD0: accept clock seconds as well as an integer"]


def test_a_sample_configuration_explains_its_settings_and_asks_nothing(tmp_path):
    muttrc = ("# Append rather than prepend when writing to mbox automatically.\n"
              "# This is a traditional entry and should usually be set.\nset append\n\n"
              "# Confirm sending of messages:\nset asksend\n\n"
              "# Uncomment this in order to get coloured output.\n#set colour-pager\n\n"
              "# Assume a CRT-like terminal and invoke $PAGER if output does not fit.\n"
              "set crt\n")
    rtorrent = ("# Default directory to save the downloaded torrents.\n#\n"
                "#directory.default.set = ./\n\n"
                "# Close torrents when disk-space is low.\n#\n"
                "#schedule2 = low_diskspace,5,60,close_low_diskspace=100M\n\n"
                "# Make sure you don't run multiple instances.\n#\n#session.path.set = ./s\n")
    assert offered(tmp_path, muttrc) == [] and offered(tmp_path, rtorrent) == []
    # Outside a configuration "set" is a task's verb.
    assert offered(tmp_path, "- set up the printer\n- call mum\n") == [
        "- set up the printer", "- call mum"]


def test_an_faq_answer_indented_under_its_question_is_advice(tmp_path):
    faq = ("How do I stop monitoring an interface?\n\n"
           "  Execute \"vnstat --remove -i interfacename\" with correct permissions.\n\n\n"
           "How do I uninstall vnStat?\n\n"
           "  You only need to run 'make uninstall' in the directory that comes when the\n"
           "  .tar.gz is extracted. Just make sure it's the same version you have\n")
    assert offered(tmp_path, faq) == []
    # A list under a question is the note's own.
    assert offered(tmp_path, "What to pack for the trip?\n  - book the taxi\n"
                             "  - renew the passport\n") == ["- book the taxi",
                                                             "- renew the passport"]


def test_the_steps_a_manual_gives_its_reader_are_no_tasks(tmp_path):
    steps = ("2. General Instructions\n-----------------------\n\n"
             "To build NcFTP and the utility programs, you can simply do the following:\n\n"
             "    1.  (Optional) Install ncurses (available from a GNU mirror).\n"
             "    2.  Run the \"./configure\" script in the NcFTP source directory.\n"
             "    3.  (Probably not necessary) Inspect the Makefiles in each subdirectory.\n"
             "    4.  \"make install\"\n")
    assert offered(tmp_path, steps) == []


def test_a_python_table_with_trailing_comments_is_source(tmp_path):
    text = ("    # see issue #39\n    # Spaces around period `schema . name` are valid\n"
            "    # TODO: Spaces before period not implemented\n    # See issue #601.\n"
            "    (r'[A-Z]\\w*(?=\\s*\\.(?!\\d))', tokens.Name),  # 'Name'.\n"
            "    # FIXME(atronah): never match,\n"
            "    # because `re.match` doesn't work with look-behind regexp feature\n"
            "    (r'(?<=\\.)[A-Z]\\w*', tokens.Name),  # .'Name'\n"
            "    (r'[A-Z]\\w*(?=\\()', tokens.Name),  # side effect: change kw to func\n")
    got = offered(tmp_path, text)
    # The tagged comments ask (a plain comment under a tag still rides along with it); the
    # table's entries and the untagged comments above the tag do not.
    assert got[0] == "TODO: Spaces before period not implemented"
    assert got[-1] == ("FIXME(atronah): never match, because `re.match` doesn't work with "
                       "look-behind regexp feature")
    assert not any("tokens.Name" in q or "issue #39" in q for q in got)


def test_a_banner_titles_a_section_unless_it_shouts_a_task(tmp_path):
    text = ("** Bugs **\n\n- mput will try to upload directories\n\n** Requested Features **\n\n"
            "From Jules <jules@jules.com>:\n> it would be great to upload the file on each :w\n\n"
            "** Definitely Required Features **\n\n- Abort download/uploads?\n\n"
            "*** CALL MUM ***\n")
    assert offered(tmp_path, text) == ["- mput will try to upload directories",
                                       "> it would be great to upload the file on each :w",
                                       "- Abort download/uploads?", "*** CALL MUM ***"]


def test_a_table_of_contents_lists_sections_not_tasks(tmp_path):
    text = ("saned setup\n-----------\n\n"
            "Please read this file carefully to set up the server.\n\n"
            " -> Setting up permissions for saned\n -> Fix the scanner cable\n\n"
            "Setting up permissions for saned\n--------------------------------\n\n"
            "A saned user and a saned group have been added.\n")
    got = offered(tmp_path, text)
    assert "-> Fix the scanner cable" in got
    assert not any("permissions" in q for q in got)


def test_a_shell_case_on_options_is_source_and_only_its_tags_ask(tmp_path):
    """A completion script's branches ("(--quote-chars|--no-quote-chars)") are statements:
    its commands are not tasks, its TODO comments are."""
    script = ("\t\tcomplete -P \"$PREFIX\" -u\n\t\t;;\n\t(--pax-option)\n"
              "\t\t# TODO: not yet supported\n\t\t;;\n"
              "\t(--quote-chars|--no-quote-chars)\n\t\t;;\n"
              "\t(--rmt-command|--rsh-command)\n\t\tWORDS=()\n"
              "\t\tcommand -f completion//reexecute -e\n\t\t;;\n")
    assert offered(tmp_path, script) == ["TODO: not yet supported"]
    # Prose in brackets is no branch.
    note = "buy stamps\n(optional)\nfix the gate\n(see below)\n"
    assert offered(tmp_path, note) == ["buy stamps (optional)", "fix the gate (see below)"]


def test_the_sections_of_a_document_that_hold_no_tasks_offer_nothing(tmp_path):
    # A POD's AUTHOR and LICENSE after its TODO: names spelt out against spam, a link, terms.
    pod = ("=head1 TODO\n\nAdd a retry option for slow mirrors.\n\n=head1 AUTHOR\n\n"
           "    Jane Roe <jane at example.org>\n    https://example.org/\n\n"
           "    Joe Bloggs <joe at example.net>\n\n=head1 LICENSE\n\nSame terms as Perl itself.\n")
    assert offered(tmp_path, pod) == ["Add a retry option for slow mirrors."]
    # A mailing list's rules, up to the next heading.
    mail = ("Mailing list: help-foo@example.org\n- please use this list for all questions.\n"
            "- archived at: https://lists.example.org/foo\n\nTODO:\n- add a man page\n"
            "- port the tests to pytest\n")
    assert offered(tmp_path, mail) == ["- add a man page", "- port the tests to pytest"]
    # A heading that gives its value on its line holds only up to the gap.
    repo = ("Known bugs\n\nRepository: https://example.org/foo/\nBugs can be reported there.\n\n"
            "- the parser drops comments inside strings\n- add a retry option for slow mirrors\n")
    assert offered(tmp_path, repo) == ["- the parser drops comments inside strings",
                                       "- add a retry option for slow mirrors"]


def test_install_steps_and_a_signature_in_a_files_header_ask_nothing(tmp_path):
    unit = ("# Example unit to run foo at boot\n#\n# To install:\n#\n"
            "#  * Copy this file to /etc/systemd/system/foo.service\n#  * Edit the ExecStart line.\n"
            "#  * Run: sudo systemctl enable foo\n#\n"
            "#  -- Jane Roe <jane@example.org>  Mon, 01 Jan 2024 10:00:00 +0100\n")
    assert offered(tmp_path, unit) == []


def test_lisp_calls_named_with_hyphens_are_code(tmp_path):
    lisp = (";; TODO: bind C-c C-c to the runner\n(setq foo-prefix (and (stringp prefix)\n"
            "                     (file-exists-p prefix)\n                     prefix)))\n\n"
            ";; Load the hooks.\n(add-hook 'foo-mode-hook 'foo-setup)\n(defconst foo-pattern\n"
            "  \"^FOO: \\\\(.*\\\\)$\")\n")
    assert offered(tmp_path, lisp) == ["TODO: bind C-c C-c to the runner"]


def test_a_to_do_heading_ends_a_section_of_changes(tmp_path):
    vim = ("\" Changes\n\" TODO:\n\" Add a plain output mode\n\" Fix parsing of nested imports\n"
           "\"\n\" v 1.2\n\"   * Fixed docstring parsing\n")
    assert offered(tmp_path, vim) == ["Add a plain output mode", "Fix parsing of nested imports"]
    changes = "Notes\n\nRecent changes:\n- the tempo command\n- a second output\n"
    assert offered(tmp_path, changes) == []


def test_a_done_button_beside_the_title_is_no_heading_but_a_boards_done_column_is():
    from mustelid import OcrLine
    from mustelid.plugins.todos.buttons import without_buttons

    def box(text, x0, y0, x1):
        return OcrLine(text, (x0, y0, x1, y0 + 30), 0.99)

    phone = [box("< Notes", 30, 80, 130), box("Done", 615, 80, 690),
             box("* [ ] Change to use ruff", 40, 210, 320),
             box("* [ ] Automate the release process via GH actions.", 40, 250, 660)]
    assert [l.text for l in without_buttons(phone)] == [
        "< Notes", "* [ ] Change to use ruff", "* [ ] Automate the release process via GH actions."]
    board = [box("To do", 20, 20, 100), box("Done", 400, 20, 470),
             box("write the report", 20, 80, 230), box("book the hall", 410, 80, 590)]
    assert without_buttons(board) == board
    alone = [box("Done", 20, 20, 90), box("- book the hall", 20, 80, 230)]
    assert without_buttons(alone) == alone


def test_a_tag_in_mixed_case_after_code_asks(tmp_path):
    lua = ("if ok then\n  send(node, host); -- ToDo send the last activity too\n"
           "end -- ToDo else return an error\nend\nlocal n = 0\nreturn n\n")
    assert offered(tmp_path, lua) == ["ToDo send the last activity too", "ToDo else return an error"]
    assert offered(tmp_path, "Todo.txt is a plain text format.\nIt keeps one task a line.\n") == []


def test_a_dot_marks_list_items(tmp_path):
    text = ("New features\n------------\nMedium priority:\n  - new pane views:\n"
            "    . horizontal view\n    . quick view\n    . info view\n")
    assert offered(tmp_path, text)[-3:] == [". horizontal view", ". quick view", ". info view"]
    assert offered(tmp_path, "... and so on.\n") == []


def test_an_installation_section_and_a_note_to_the_reader_ask_nothing(tmp_path):
    readme = ("A tool that runs commands when files change.\n\n"
              "Source Installation - BSD, Mac OS, and Linux\n-------------------------------\n\n"
              "    ./configure\n    make test\n    make install\n\n"
              "To see the build options run `./configure -h`\n\nTODO\n----\n\n- add a man page\n")
    assert offered(tmp_path, readme) == ["- add a man page"]
    # A heading in emphasis marks whose colon is no value on its line.
    started = ("***How to get started:***\n\nmdp needs the ncursesw headers to compile.\n"
               "So make sure you have them installed:\n\n- on Raspbian you need `libncurses5-dev`\n")
    assert offered(tmp_path, started) == []
    assert offered(tmp_path, "Notes\n\nPlease note that this version does not read "
                             "files over 2GB.\n") == []


def test_the_rest_of_a_sentence_that_asks_nothing_asks_nothing(tmp_path):
    text = ("Notes\n-----\n\nPlease note that this version does not read files larger than\n"
            "2GB. I have tried to raise this limit, but without success. Use gzip\n"
            "instead for very large files.\n\nTODO\n\n- raise the limit to 4GB\n")
    assert offered(tmp_path, text) == ["- raise the limit to 4GB"]


def test_a_tag_before_a_long_clause_on_for_asks_but_a_short_title_does_not(tmp_path):
    code = ("def load(path):\n    lines = read(path)\n"
            "    # TODO for the cache fix, also respect the output path,\n"
            "    # if different from the input\n    return lines\n")
    assert offered(tmp_path, code) == [
        "TODO for the cache fix, also respect the output path, if different from the input"]
    assert offered(tmp_path, "TODO for debian packaging of libfoo\n\n- add a watch file\n") == [
        "- add a watch file"]


def test_a_tag_closing_a_comment_after_code_asks_and_the_code_around_it_does_not(tmp_path):
    perl = ("package Shell;\n\nuse vars qw($term);    # to reach it from the prompt\n"
            "$term = new Term::ReadLine 'Shell';\n"
            "$term->bind_key(ord \"\\cc\", 'abort'); # not works yet FIXME!!!\n"
            "&toplevel;                      # never returns\n")
    assert offered(tmp_path, perl) == ["not works yet FIXME!!!"]
    # "TODO" closing a sentence is a noun, not a tag.
    assert offered(tmp_path, "Notes on the build\n\nThe steps are in the TODO\n") == []


def test_ruby_definitions_and_calls_without_brackets_are_code(tmp_path):
    ruby = ("    def reset\n      Style.clear_index\n      reset_color_scheme\n    end\n\n"
            "    # Note: color usage also depends on use_color being set\n"
            "    # TODO: Discuss removing this method\n    def supports_rgb_color?\n"
            "      true\n    end\n")
    assert offered(tmp_path, ruby) == ["TODO: Discuss removing this method"]


def test_a_date_before_each_line_marks_a_list_of_tasks(tmp_path):
    dated = ("\tCurrent development directions\n\n"
             "20141130\tshall support a dual configure style\n"
             "20141129\trename configure options to match the program options\n"
             "2014-11-27\tclean up the image info code\n")
    assert offered(tmp_path, dated) == [
        "20141130 shall support a dual configure style",
        "20141129 rename configure options to match the program options",
        "2014-11-27 clean up the image info code"]


def test_a_copyright_notice_is_no_task(tmp_path):
    header = ("# fimgs : a script for viewing images in various formats\n"
              "# (c) 2007-2013 Michele Martone\n# TODO: accept a list of directories\n")
    assert offered(tmp_path, header) == ["TODO: accept a list of directories"]
    notes = ("TODO\n\nCopyrisht (C) 2005 Amos Waterland\n2007-2013 Michele Martone\n"
             "- add a --timeout option\n- port the tests to the new runner\n")
    assert offered(tmp_path, notes) == ["- add a --timeout option", "- port the tests to the new runner"]


def test_a_tags_comment_that_reads_as_a_markdown_heading_asks(tmp_path):
    # A picture of Python code whose other comment marks OCR lost: "###" stays.
    # (One import: two would make it a source file, whose tagged comment asks as well.)
    code = ("import socket\n\n### FIXME: Implement millisecond granularity\n"
            "class dstat_plugin(dstat):\nTime from an NTP server.\n")
    assert "### FIXME: Implement millisecond granularity" in offered(tmp_path, code)
    assert offered(tmp_path, "## Release day\n\n- tag the release\n") == ["- tag the release"]


def test_a_files_imports_make_it_code_when_a_picture_lost_its_comment_marks(tmp_path):
    # As OCR reads a picture of a Ruby file: the "#" of every comment gone.
    ruby = ("require 'strscan'\nrequire 'stringio'\n\n"
            "TODO: use [[:alpha:]] in all regexps\n\n"
            "module Kramdown\n  module Parser\n"
            "    Used for parsing a document in kramdown format.\n"
            "    * Create a new subclass\n    * add the needed parser methods\n")
    assert offered(tmp_path, ruby) == ["TODO: use [[:alpha:]] in all regexps"]
    python = ("global socket\nimport socket\nglobal struct\nimport struct\n\n"
              "FIXME: Implement millisecond granularity as well\n\n"
              "class dstat_plugin(dstat):\n    Time from an NTP server.\n"
              "    make sure that it does not impact your other counters too much.\n")
    assert offered(tmp_path, python) == ["FIXME: Implement millisecond granularity as well"]
    # One import named in a list is an item of the list, not a file's head.
    todo = "TODO\n\n- import socket\n- write the docs\n- fix the build\n"
    assert offered(tmp_path, todo) == ["- import socket", "- write the docs", "- fix the build"]


def test_a_licence_known_by_its_title_asks_nothing(tmp_path):
    mpl = ('Mozilla Public License Version 2.0\n==================================\n\n'
           '1. Definitions\n--------------\n\n1.1. "Contributor"\n'
           '    means each individual or legal entity that creates, contributes to\n\n'
           '1.3. "Contribution"\n    means Covered Software of a particular Contributor.\n')
    assert offered(tmp_path, mpl) == []
    # A task that names a licence is a task.
    assert offered(tmp_path, "TODO\n- Switch to the Apache License\n- Add a LICENSE file\n") == [
        "- Switch to the Apache License", "- Add a LICENSE file"]


@pytest.mark.parametrize("heading, names", [
    ("Things for the short term", True), ("Long-term goals:", True), ("Roadmap", True),
    ("Future work", True), ("FEATURES TO ADD (NOT IN ANY PARTICULAR ORDER)", True),
    ("Add features to the parser", False), ("The long term effects of caching", False),
    ("Short term memory is limited", False)])
def test_a_plans_heading_names_a_to_do_list(tmp_path, heading, names):
    assert names_todo_list(heading) is names
    if names:        # the heading is no item of the list it names
        assert offered(tmp_path, f"{heading}\n\n- write the parser\n- add a man page\n") == [
            "- write the parser", "- add a man page"]


def test_an_excerpt_opening_inside_a_docstring_reads_its_code_as_code(tmp_path):
    # The first quotes close a docstring the excerpt started in (notes-fresh28): the lines
    # after them are statements, the ones before are the docstring's prose.
    code = ('    or the preceding token if the position is between tokens.\n    """\n'
            "    return self._tokens[bisect.bisect(self._offsets, offset) - 1]\n\n"
            "  def get_token(self, lineno: int, col_offset: int) -> Token:\n"
            '    """\n    Returns the token containing the given position.\n    """\n'
            "    # TODO: add test for multibyte unicode.\n"
            "    return self.get_token_from_offset(self.line_to_offset(lineno, col_offset))\n")
    assert offered(tmp_path, code) == ["TODO: add test for multibyte unicode."]
    # Read from its start, a file's docstring stays prose and its code stays code.
    opened = ('def f(x):\n    """Return x.\n\n    Add one to it first.\n    """\n'
              "    # TODO: check the type\n    return x + 1\n")
    assert offered(tmp_path, opened) == ["TODO: check the type"]


@pytest.mark.parametrize("title", ["ToDo list for khard", "TODO list for txt2html",
                                   "Todo list for the next release"])
def test_a_to_do_lists_title_naming_its_project_is_no_item(tmp_path, title):
    assert names_todo_list(title)
    note = f"{title}\n\n1. Add support for vcard attributes\n2. Implement the impp attribute\n"
    assert offered(tmp_path, note) == ["1. Add support for vcard attributes",
                                       "2. Implement the impp attribute"]


def test_an_editor_whose_title_names_a_source_file_shows_code(monkeypatch):
    # As OCR reads a picture of an editor: comment marks and underscores lost, so the lines
    # alone do not make a source file to the patterns; the window's title does (notes-fresh29).
    # (The learned reading, code_lines, knows these lines for code: it is set aside here, so
    # that the title alone is what is tested.)
    monkeypatch.setattr(source_code, "reads_as_code", lambda line: False)
    code = ["TOD0: check list of keywords", "GROOVY KEYWORDS = %w[", "as assert def in",
            "#:nodoc:", "KEYWORDS EXPECTING VALUE = WordList.new.add %w[",
            "case instanceof new return throw typeof while as assert in", "# :nodoc:",
            "GROOVY_MAGIC_VARIABLES = %w[ it ] # :nodoc:", "IDENT_KIND = Java::IDENT_KIND.dup.",
            "add(GR0OVY_KEYWORDS, :keyword).", "TODO: interpretation inside"]
    # Not known for a source file by itself (a call against its bracket, "add(...)", is
    # a statement that would tip it: notes-fresh35's CMake).
    bare = [line for line in code if not line.startswith("add(")]
    assert comments_of_code(bare) == bare
    kept = comments_of_code(["groovy.rb - coderay/scanners", *code])
    assert [line for line in kept if line] == ["TOD0: check list of keywords",
                                               "TODO: interpretation inside"]
    # A file named inside a line is no window's title ("python setup.py install").
    named = ["Run python setup.py install as root.", *bare]
    assert comments_of_code(named) == named


def test_a_tag_without_its_mark_or_colon_opens_a_comment_and_a_bare_call_is_code(tmp_path):
    lua = ("cfg_xrandr.lua — notion\nend\nfor_all_workspaces_do(roundone)\n\n"
           "for workspace,screens in pairs(wanderers) do\n"
           "ToD0 add to screen with least # of workspaces instead of just the\n"
           "first one that applies\nif screens[workspace:screen_of():name()] then\n"
           "add_safe(new_mapping, workspace:screen_of():id(), workspace)\nelse\nend\n"
           "for i,workspace in pairs(orphans) do\n"
           "-- ToD0 add to screen with least # of workspaces\n"
           "add_safe(new_mapping, 0, workspace)\nend\n")
    assert offered(tmp_path, lua) == [
        "ToD0 add to screen with least # of workspaces instead of just the first one that "
        "applies", "ToD0 add to screen with least # of workspaces"]


def test_a_word_cut_at_the_lines_end_is_no_decoration():
    from mustelid.plugins.todos.lines import heading
    # "WRITE-/PIPE-" goes on as "ATTACHMENT ETC" on the next line (notes-fresh29): an item.
    assert heading("- MORE ATTACHMENT STUFF: REMOVE-ATTACHMENT, WRITE-/PIPE-") is None
    assert heading("--- Fixed ---") == ("major", "Fixed")
    assert heading("- Done -") == ("major", "Done")


def test_spaced_docstring_quotes_and_lisp_forms_alone_on_their_line_read_as_code(tmp_path):
    from mustelid.plugins.todos.source_code import _statement
    # OCR reads a docstring's quotes as '" " "' (notes-fresh30): still a docstring.
    code = ('    and returns the number of items.\n    " " "\n    counter = count()\n'
            "    return next(counter)\n\n# TODO: tree-seq equivalent\n\ndef lmap(f, *seqs):\n"
            '    """An extended version of map() returning a list."""\n'
            "    return _lmap(make_func(f), *seqs)\n")
    assert offered(tmp_path, code) == ["TODO: tree-seq equivalent"]
    # A Lisp form opened on a line of its own is a statement too.
    assert _statement("  (cond") and _statement("     (save-excursion")
    assert not _statement("(see the manual)") and not _statement("(conditions apply)")


def test_a_man_pages_source_asks_only_in_its_tagged_comments(tmp_path):
    troff = (".IP\nThe padding is needed as many operating systems (e.g. Linux)\n"
             "implement read-ahead bugs in their filesystem I/O.\n"
             '.\\" XXX: Someone should check if the bug is still present.\n'
             ".TP\n.B \\-no\\-pad\nDo not pad the end by 150 sectors.\n")
    assert offered(tmp_path, troff) == ["XXX: Someone should check if the bug is still present."]
    # Without a tag the manual asks nothing.
    assert offered(tmp_path, troff.replace("XXX: ", "")) == []


def test_a_code_tag_is_no_part_of_the_todos_title():
    from mustelid.plugins.todos.lines import title_of
    assert title_of("FIXME: if this is the last component") == "If this is the last component"
    assert title_of("XXX: check the bug") == "Check the bug"
    assert title_of("TOD0: tree-seq equivalent") == "Tree-seq equivalent"
    assert title_of("XXX handle auth-int") == "XXX handle auth-int"     # no colon: its words


def test_a_summary_of_what_a_file_does_is_no_list_of_tasks(tmp_path):
    note = ("# This is executed on a tag in the main branch\n# Summary of the steps:\n"
            "# - build wheels and sdist\n# - upload wheels and sdist to PyPI\n"
            "# TODO: smoke test wheels and sdist\n# TODO: add changelog to release text body\n")
    got = offered(tmp_path, note)
    assert "TODO: smoke test wheels and sdist" in got and "TODO: add changelog to release text body" in got
    assert not any("build wheels" in q or "upload wheels" in q for q in got)


def test_a_mappings_entries_a_tcl_arrays_setting_and_a_misread_name_are_statements(tmp_path):
    from mustelid.plugins.todos.source_code import _statement
    assert _statement('        "timeout": None,') and _statement("    'encoding': DEFAULT_ENCODING,")
    assert _statement('set g(version) "4.2"')
    assert _statement("        1fh.file_name_length = #filename")     # OCR's "1" for "l"
    assert not _statement('"Quoted": a remark that goes on.') and not _statement("2 apples = lunch")
    # A dictionary's entries around a tagged comment: only the comment asks (notes-fresh31).
    code = ('        "tty_out": True,\n        "unify_ttys": False,\n'
            "        # how long the process should run before it is auto-killed\n"
            '        "timeout": None,\n        # TODO write some docs on "long-running processes"\n'
            "        # these control whether or not stdout/err will get aggregated together\n"
            '        "no_out": False,\n        "no_err": False,\n')
    got = offered(tmp_path, code)       # the comment carries on to the next one (items.py)
    assert len(got) == 1 and got[0].startswith('TODO write some docs on "long-running processes"')


# -- session 32, from notes-fresh32's first run ---------------------------------------------


def test_an_item_with_items_nested_under_it_that_names_their_topic_is_no_task(tmp_path):
    note = ("TODO\n* storage API:\n  - rework the open call\n  - add a cache of listings\n"
            "* command line tool:\n  - move the helpers to their own file\n")
    assert offered(tmp_path, note) == ["- rework the open call", "- add a cache of listings",
                                       "- move the helpers to their own file"]
    # A heading that is a task itself is no topic's name: a verb first, or a request.
    assert items._heads_a_list("* storage API:") and items._heads_a_list("- ProdsParser")
    assert not items._heads_a_list("* rework the storage:")
    assert not items._heads_a_list("* please check:") and not items._heads_a_list("- youtrack: TBD")
    # Not nested (same indent, or after a blank line): an item like the others.
    flat = "TODO\n- parser speed\n- add a cache of listings\n- fix the open call\n"
    assert "- parser speed" in offered(tmp_path, flat)


def test_a_tag_with_its_kind_after_a_hyphen_opens_a_comment(tmp_path):
    from mustelid.plugins.todos.lines import title_of
    code = ("    size_t n = tail_size(v);\n    if (n < LIMIT) {\n"
            "      // ToDO-OPT No need to copy the whole tail here\n"
            "      copy_tail(v, n);\n      grow(v);\n    }\n")
    got = offered(tmp_path, code)
    assert got == ["ToDO-OPT No need to copy the whole tail here"]
    assert title_of(got[0]) == "No need to copy the whole tail here"
    assert title_of("FIXME-PERF: cache this") == "Cache this"
    assert title_of("TODO-list of things") == "List of things"     # as before


def test_an_import_inside_a_docstring_means_its_closing_quotes_were_lost(tmp_path):
    code = ('    """Fetch the pages of a site.\n\n    TODO:\n    - retry on timeouts\n'
            "    I u I\n\nimport logging\nimport sys\n\nfrom site_tools import Fetcher\n")
    assert offered(tmp_path, code) == ["- retry on timeouts"]


def test_a_verb_done_again_or_undone_starts_a_task():
    from mustelid.plugins.todos.lines import task_like, task_verb
    assert task_verb("re-index") and task_verb("rebuild") and task_verb("unset")
    assert not task_verb("read-only") and not task_verb("under") and not task_verb("record")
    assert task_like("re-index the manual.") and not task_like("record of the changes")


def test_a_todo_list_of_noun_phrases_among_its_tasks_offers_them_all(tmp_path):
    note = ("fix the parser, and document it\n\nre-index the manual.\n\nmanual toc handling\n\n"
            "biblio templates\nfront page templates\n\nbetter table error checking\n\n"
            "submit the patch that implements the locator\nand the resolver in the SAX modules\n")
    got = offered(tmp_path, note)
    assert "biblio templates" in got and "manual toc handling" in got
    # The line opening on "and" carries the sentence above on: one item, not two.
    assert "submit the patch that implements the locator and the resolver in the SAX modules" in got
    assert not any(q.startswith("and ") for q in got)


@pytest.mark.parametrize("line", ["TODO (in no particular order)", "## TODO (in no particular order)",
                                  "TODO for 2.0", "TODO for 2.0:"])
def test_a_todo_heading_with_a_remark_or_a_version_after_it(line):
    from mustelid.plugins.todos.context import todo_heading
    assert todo_heading(["Changes", line, "- ordered sets"]) == 1
    assert todo_heading(["TODO for the next release. Then ship it"]) is None


def test_a_changelog_with_a_todo_section_at_its_end_offers_that_section(tmp_path):
    note = ("v0.2.0, 2014-01-02\n  * New C extension\n  * Updated API slightly\n\n"
            "v0.1.0, 2013-11-10\n  * Initial release.\n\n\nTODO (in no particular order)\n"
            "-----------------------------\n- Ordered sets and maps\n"
            "- A good performance measurement suite\n")
    assert offered(tmp_path, note) == ["- Ordered sets and maps",
                                       "- A good performance measurement suite"]


def test_done_alone_indented_under_an_item_finishes_that_item_only(tmp_path):
    note = ("TODO:\n  - continue where a previous run stopped.\n\n"
            "  - make it build on 64-bit machines\n    (lib changed to lib64 in three places)\n"
            "    DONE\n\n  - estimate when the copy will be ready.\n\n"
            "  - check more return values of library calls.\n")
    assert offered(tmp_path, note) == ["- continue where a previous run stopped.",
                                       "- estimate when the copy will be ready.",
                                       "- check more return values of library calls."]


def test_an_xml_comment_is_a_comment_and_elements_alone_are_statements(tmp_path):
    from mustelid.plugins.todos.source_code import _statement
    assert _statement('<xsl:with-param name="node" select="$target" />') and _statement("</ref>")
    assert not _statement("<b>Note</b> the tags go here")
    xslt = ('<xsl:template name="ref">\n  <ref>\n    <xsl:attribute name="idref">\n'
            '      <xsl:value-of select="@id"/>\n    </xsl:attribute>\n'
            "    <!-- FIXME manual name -->\n"
            '    <xsl:apply-templates select="$target"/>\n  </ref>\n</xsl:template>\n')
    assert offered(tmp_path, xslt) == ["FIXME manual name"]


def test_a_mail_address_alone_is_no_entry(tmp_path):
    note = ("TODO list for the monitor.\n\n\t* Option for LED colors;\n\t* Multiple CPU support;\n"
            "\nFeel free to mail your ideas to:\n\n\tdev@lists.example.org\n")
    assert "dev@lists.example.org" not in offered(tmp_path, note)


@pytest.mark.parametrize("line", [
    "Please submit feature requests to <dev@lists.example.org>",
    "Please send 'stress' bug reports, questions, and suggestions to",
    "Please send good ideas", "Submit a bug report to L<the bug tracker on CPAN>",
    "PLEASE READ THE MAN PAGE BEFORE EDITING THIS FILE!"])
def test_an_invitation_to_the_reader_to_write_in_or_read_first_is_no_task(tmp_path, line):
    note = f"TODO\n- add a cache of listings\n- fix the open call\n\n{line}\n"
    assert offered(tmp_path, note) == ["- add a cache of listings", "- fix the open call"]


@pytest.mark.parametrize("line", ["- send patches upstream", "- report the bug to the kernel folks",
                                  "- please send the draft to Ann", "- read the spec before coding"])
def test_the_authors_own_sending_and_reading_stay_tasks(tmp_path, line):
    note = f"TODO\n- add a cache of listings\n{line}\n"
    assert line in offered(tmp_path, note)


def test_a_tagged_line_ending_in_a_colon_over_a_link_is_an_item_not_a_heading(tmp_path):
    code = ("    if n < 30:\n        # TODO: implement power series:\n"
            "        # http://example.org/papers/tdist.pdf\n        raise ImportError(\n"
            "            'You must have scipy installed'\n        )\n    return norm_ppf(x)\n")
    got = offered(tmp_path, code)
    assert len(got) == 1 and got[0].startswith("TODO: implement power series:")
    # Over a list, the colon heads it: the items ask, not the heading.
    listed = "# TODO: things to port:\n#  - fix the open call\n#  - add a cache of listings\n"
    assert not any(q.startswith("TODO") for q in offered(tmp_path, listed))


def test_the_paragraph_right_under_a_bare_todo_heading_is_what_it_asks(tmp_path):
    code = ("\tif v, ok := rvi.(Unmarshaler); ok {\n\t\treturn v.UnmarshalTOML(data)\n\t}\n\n"
            "\t// TODO:\n\t// The behavior here is incorrect whenever a type satisfies the\n"
            "\t// text interface but also corresponds to a table. In particular, it\n"
            "\t// should only be applied to primitive values.\n\n\tk := rv.Kind()\n")
    got = offered(tmp_path, code)
    assert got and got[0] == "The behavior here is incorrect whenever a type satisfies the"


def test_a_pointer_to_a_link_for_more_is_no_task(tmp_path):
    note = ("TODO\n- add a cache of listings\n- fix the open call\n\n"
            "Also, see http://www.example.org/src/util/ for other stuff that may help.\n")
    assert offered(tmp_path, note) == ["- add a cache of listings", "- fix the open call"]


# -- session 32, from notes-fresh34's first run ---------------------------------------------


def test_an_ml_block_comment_and_a_matchs_arms_read_as_code(tmp_path):
    from mustelid.plugins.todos.source_code import _statement
    assert _statement("        | Set s -> s") and _statement("    Sequence l ->")
    assert _statement("        Some(x) => {") and not _statement("convert A -> B in the parser")
    ocaml = ("let as_set = function\n  | Set s -> s\n  | _ -> assert false\n\n"
             "(* XXX Should split alternatives into charsets and\n"
             "   more complex expressions *)\nlet rec handle_case ign_case = function\n"
             "  | Set s ->\n      Set (if ign_case then case_insens s else s)\n"
             "  | Sequence l ->\n      Sequence (List.map (handle_case ign_case) l)\n")
    got = offered(tmp_path, ocaml)
    assert len(got) == 1 and got[0].startswith("XXX Should split alternatives")


def test_a_line_without_a_letter_is_no_evidence_of_prose(tmp_path):
    # OCR reads a closing brace as "1": those lines kept a Java file from reading as code.
    java = ("     entry.anonymous = 0;\n     entry.classPtr = 0;\n    1\n    destroyer.flush();\n\n"
            "    // FIXME. If someone shuts the JVM down within a proxy, everything\n"
            "    // will crash here. We would lose the class that is calling.\n"
            "    this.classMap.clear();\n  1\n//</editor-fold>\n//<editor-fold desc=\"classes\">\n\n"
            "  private ClassDescriptor getClass(Class cls)\n  3\n")
    got = offered(tmp_path, java)
    assert len(got) == 1 and got[0].startswith("FIXME. If someone shuts the JVM down")


def test_an_excerpt_opening_in_a_doc_comment_under_a_menu_bar_reads_as_code(tmp_path):
    php = ("File Edit View Search Tools Help\n     * Prepare a name for a SCRAM response.\n     *\n"
           "       @param string $username a name to be prepared.\n     *\n"
           "       @return string the reformatted name.\n     */\n"
           "    private function _formatName($username)\n    {\n"
           "        // ToD0: prepare through the SASLprep profile.\n"
           "        $username = str_replace('=', '=3D', $username);\n        return $username;\n    }\n")
    assert offered(tmp_path, php) == ["ToD0: prepare through the SASLprep profile."]


def test_a_tag_alone_over_a_blank_comment_line_heads_the_list_below(tmp_path):
    code = ("        if not self.formenv:\n            raise RuntimeError('no forms')\n"
            "        rc = pdfium_c.Flatten(self, flag)\n        return rc\n\n    # TODO\n    #\n"
            "    # - add helpers for matrix-based rendering\n"
            "    # - add a lower-level renderer that takes a bitmap\n")
    assert offered(tmp_path, code) == ["- add helpers for matrix-based rendering",
                                       "- add a lower-level renderer that takes a bitmap"]
    # A tag that has said something is ended by a blank comment line, as before.
    said = code.replace("    # TODO\n    #\n", "    # TODO: check the flag first\n    #\n")
    assert offered(tmp_path, said) == ["TODO: check the flag first"]


def test_a_statement_with_a_comment_after_it_and_an_attribute_line_read_as_code(tmp_path):
    # A Vala binding whose every other line is an attribute and every third statement carries
    # the to-do: its declarations were offered as tasks.
    vala = ('[CCode (cname = "SDL_SetWindowPosition")]\npublic void set_position (int x, int y);\n\n'
            '[CCode (cname = "SDL_GetWindowPosition")]\n'
            'public void get_position (out int x, out int y); //TODO: create a better method\n\n'
            '[CCode (cname = "SDL_SetWindowSize")]\npublic void set_size (int w, int h);\n\n'
            '[CCode (cname = "SDL_GetWindowSize")]\n'
            'public void get_size (out int w, out int h); //TODO: create a better method\n')
    assert offered(tmp_path, vala) == ["TODO: create a better method"] * 2


def test_an_editors_menu_and_mode_line_are_furniture_and_a_titles_path_names_the_file(
        tmp_path, monkeypatch):
    lisp = ("File Edit Options Buffers Tools Emacs-Lisp Help\n"
            ';; Commentary: the table of packages.\n("amssymb"\n (maketitle "leqq" "geqq"))\n'
            '("graphicx" (section "includegraphics"\n   "rotatebox" "scalebox")\n'
            " (option . YaTeX-package-graphics-driver-alist))\n;;XXX we need more and more...\n"
            '("chemist"\n nil)\n-UU-:----F1 yatexpkg.el\nAll L1\n')
    # The learned reading (code_lines) knows the Lisp for code: a source file, its tagged
    # comment alone offered, without its marks.
    assert offered(tmp_path, lisp) == ["XXX we need more and more..."]
    # Without it, the patterns alone: the furniture is neither code nor prose.
    monkeypatch.setattr(source_code, "reads_as_code", lambda line: False)
    assert offered(tmp_path, lisp) == [";;XXX we need more and more..."]
    lua = ("plugins/milter_headers.lua- VIM\nif settings.skip_all then\nreturn true\nend\n"
           "return false\nend\nXXX: fix this one day\nlocal function add_header(name, value)\n"
           "local hname = settings.routines[name].header\n")
    assert offered(tmp_path, lua) == ["XXX: fix this one day"]


def test_a_release_heading_with_the_programs_name_and_a_spelled_out_date_records_changes(tmp_path):
    news = ("* keychain 2.8.5 (24 Jan 2018)\nSummary: Various fixes and support for sockets\n"
            "Some shells don't support local builtin (Roy M)\nSupport systemd sockets (Pedro R)\n"
            "Fix issues loading pem keys (Jack T)\n* keychain 2.8.4 (19 Oct 2017)\n"
            "Support busybox ps (Alastair H)\n")
    assert offered(tmp_path, news) == []
    # A version and a date inside a task do not make one.
    assert offered(tmp_path, "TODO:\n- Fix the crash in 2.8.5 seen on 24 Jan 2018\n"
                             "- Add a test for it\n") == ["- Fix the crash in 2.8.5 seen on 24 Jan 2018", "- Add a test for it"]


def test_a_call_opening_its_line_against_its_bracket_is_a_statement(tmp_path):
    # CMake's commands read as prose kept a build file from reading as code, so its untagged
    # comments were offered.
    cmake = ("# -w1 turns on warnings and errors\n"
             "# FIXME: someone needs to look at the Intel compiler options\n"
             'if (CMAKE_C_COMPILER_ID STREQUAL "Intel" AND NOT WIN32)\n'
             'set(CMAKE_C_FLAGS "${CMAKE_C_FLAGS} -Wall -w1")\nendif()\nif (MSVC)\n'
             "# Disable warnings:\n# C4250: 'class1' : inherits 'class2::member' via dominance\n"
             'set(CMAKE_CXX_FLAGS "${CMAKE_CXX_FLAGS} /wd4250")\nendif()\n')
    assert offered(tmp_path, cmake) == ["FIXME: someone needs to look at the Intel compiler options"]


def test_what_a_program_can_do_introduced_as_such_is_no_task_but_functionality_alone_may_be(
        tmp_path):
    readme = ("Tool keeps a log of boot times. Indeed, it can:\n\n  - Count system startups\n"
              "  - Report current uptime\n  - Output in csv format\n")
    assert offered(tmp_path, readme) == []
    commands = ("Supported functionality:\n\n  * copy files: `fscp`\n  * move files: `fsmv`\n"
                "\nTODO:\n  * remove files\n")
    assert offered(tmp_path, commands) == ["* remove files"]
    # "Functionality:" alone heads a TODO file's wished features; "It will:" plans.
    wished = ("Functionality:\n- freeze process tree and mark processes to kill\n"
              "- make search box small\n")
    assert offered(tmp_path, wished) == ["- freeze process tree and mark processes to kill",
                                         "- make search box small"]
    plan = "In 2.0 it will:\n- Count system startups\n- Report current uptime\n"
    assert offered(tmp_path, plan) == ["- Count system startups", "- Report current uptime"]


def test_code_without_any_comment_or_tag_asks_nothing_but_a_tag_in_any_case_keeps_it_read(
        tmp_path):
    tcl = ("    method retrieve {target proc} {\n\tset result [list proc $proc]\n"
           "\tset formals {}\n\tforeach arg [send $target [list ::info args $proc]] {\n"
           "\t\tlappend formals $arg\n\t}\n\tsend $target ::catch {::unset __default_arg__}\n"
           "\tlappend result $formals\n\tlappend result [send $target [list ::info body $proc]]\n"
           "\treturn $result\n    }\n")
    assert comments_of_code(tcl.splitlines()) == [""] * len(tcl.splitlines())
    assert offered(tmp_path, tcl) == []
    # A tag the patterns do not take for one (mixed case inside XML's escapes): still read.
    xml = tcl.replace("\tset formals {}\n", "\tset formals {} ;# &lt;!--ToDo: list entries--&gt;\n")
    assert comments_of_code(xml.splitlines()) != [""] * len(xml.splitlines())


def test_a_menu_bar_with_a_bar_ocr_joined_to_it_is_furniture():
    from mustelid.plugins.todos.lines import chrome
    assert chrome("File Edit Search View Document Help Warning: you are using the root account.")
    assert chrome("File Edit View Help")
    assert not chrome("File Edit menu should have Undo")
    assert not chrome("- File Edit View bugs upstream")


def test_a_notes_first_line_that_names_the_list_is_its_title_not_an_item(tmp_path):
    note = "LIST OF IDEAS AND TODO ITEMS FOR BABEL\n\n* Add more tests.\n* Implement more encodings.\n"
    assert offered(tmp_path, note) == ["* Add more tests.", "* Implement more encodings."]
    # A tag before a task, a name with the task after a dash, a sentence that mentions the tag.
    assert offered(tmp_path, "TODO: fix the parser\n- add tests\n")[0] == "TODO: fix the parser"
    assert offered(tmp_path, "Todo - call the bank about the card\n- add tests\n")[0] \
        == "Todo - call the bank about the card"
    assert not items._list_title("Look out for TODO-Directives in the sources (grep TODO src/*)")
    assert items._list_title("GLHACK TODO")


def test_a_line_that_stops_on_a_negated_auxiliary_is_carried_on_below():
    from mustelid.plugins.todos.items import continues
    from mustelid.plugins.todos.lines import Line
    prev = Line("FIXME: the domain stored is the domain of the proxy, we can't")
    assert continues(prev, Line("check the domain currently :( We assume it's OK"), False, 0)
    assert not continues(Line("FIXME: the domain stored is the proxy's."),
                         Line("check the domain currently"), False, 0)


def test_an_editors_key_help_does_not_keep_the_code_it_shows_from_reading_as_source(tmp_path):
    # As OCR reads Octave in nano (a picture of notes-fresh44): its key help's labels on lines
    # of their own outnumber the statements.
    nano = ("nano rlocus.m\nGNU nano 7.2\nrlocus.m\n## TODO: untangle spaghetti code\n"
            "if (nargin < 1 ll nargin > 4)\nprint_usage ();\nendif\n"
            "## Convert the input to a transfer function if necessary\n"
            "[num, den] = tfdata (sys, \"vector\");\n# extract numerator/denominator polynomials\n"
            "lnum = length (num);\n## equalize length of num, den polynomials\n"
            "[ Read 18 lines ]\n^G\nHelp\nWrite Out\nWhere Is\nCut\nExecute\nLocation\nM-U\n"
            "Undo\nM-A\nSet Mark\nExit\nRead File\nReplace\nPaste\nJustify\nGo To Line\nM-E\n"
            "Redo\nCopy\n")
    assert offered(tmp_path, nano) == ["TODO: untangle spaghetti code"]


def test_fortran_comments_and_a_since_release_heading_ask_nothing(tmp_path):
    fortran = ("   call codes_open_file(ifile, &\n        'data.grib2', 'r')\n\n"
               "   ! count the messages in the file\n   call codes_count_in_file(ifile, n)\n"
               "   allocate (igrib(n))\n\n   ! we can close the file\n"
               "   call codes_close_file(ifile)\n   DO i = 1, n\n"
               "      write (*, *) 'processing message number ', i\n   END DO\n")
    assert offered(tmp_path, fortran) == []
    tagged = fortran.replace("! we can close the file", "! TODO: close the file earlier")
    assert offered(tmp_path, tagged) == ["TODO: close the file earlier"]
    news = ("Current version is 0.4.8\n\nSince 0.4.8:\n==============\n\n"
            "  o relative link during framework installing\n  o handle also PNG images\n"
            "  o use GSMimeDocument to decode base64 instead of custom code\n"
            "  o fixed deleting of a person\n")
    assert offered(tmp_path, news) == []


def test_a_note_the_model_sets_aside_still_offers_the_lines_its_writer_tagged(
        tmp_path, monkeypatch):
    from mustelid.plugins.todos import task as todos_task
    monkeypatch.setattr(todos_task, "judged", lambda lines: {"features": {}, "has_todos": 0.01})
    sql = ("\tstatus text\n\t\tnot null\n\t\tdefault 'submitted'\n);\n\n"
           "-- FIXME: we need a trigger that allows UPDATEs on \"status\" only\n\n"
           "comment on table form_job_queue is\n\t'queue of forms';\n")
    assert offered(tmp_path, sql) == ['-- FIXME: we need a trigger that allows UPDATEs on "status" '
                                      'only']
    assert offered(tmp_path, "Our history\nIt began in 2001.\nWe moved in 2004.\nThen grew.\n") == []


def test_a_plans_file_name_names_a_to_do_list():
    assert names_todo_list("less ROADMAP.md") and names_todo_list("~/src/WISHLIST.txt - Mousepad")
    assert not names_todo_list("roadmaps are nice") and not names_todo_list("less README.md")


def test_code_whose_comment_marks_ocr_lost_is_source_when_a_tag_opens_a_line():
    # Vim script in Vim as OCR reads it: '" FIXME:' lost its quote.
    vim = ["let i = v:count1", "call s:prepare_movement(a:previous_mode)", "while 0 < i",
           "let result = searchpos(a:pattern, a:flags.'W')", "let i = i - 1", "endwhile",
           "return result", "endfunction", "FIXME: countable.",
           "function! textobj#user#select(pattern, flags, previous_mode)",
           "let pft = searchpos(a:pattern, 'ceW')", "call cursor(ORIG_POS)"]
    assert [line for line in comments_of_code(vim) if line] == ["FIXME: countable."]


def test_a_functions_argument_list_and_a_readmes_links_are_no_tasks(tmp_path):
    tcl = ("# xslt::process::transform --\n#\n#\tPerform an XSL Transformation.\n#\n# TODO:\n"
           "#\tReturn messages\n#\tGenerate dependency documents.\n#\n# Arguments:\n"
           "#\tsrc\tLocation of source document\n#\tparams\tParameters (nodelist)\n"
           "#\targs\tnot needed\n")
    found = offered(tmp_path, tcl)
    assert found and found[0].startswith("Return messages")
    assert not any(word in q for q in found for word in ("Location", "nodelist", "needed"))
    readme = ("* `The Hy homepage <http://hylang.org>`__\n"
              "* `Try Hy with a web console <http://hylang.org/try-hy>`__\n"
              "* Code: https://github.com/hylang/hy\n.. _Lua: http://lua.org/\n"
              "* [Docs](https://example.org/docs)\n")
    assert offered(tmp_path, readme) == []
    # A task that names an address is still a task.
    assert offered(tmp_path, "TODO:\n* Port the docs to https://example.org/new\n") == [
        "* Port the docs to https://example.org/new"]


def test_a_pagers_status_line_naming_the_file_is_no_to_do_heading(tmp_path):
    # `less TODO` ends with "TODO (END)": the list is above it, not below.
    page = ("CORE COMMANDS\n\n- none\nEXTENSIONS\n\n- Cryptography: hash functions, block ciphers.\n"
            "- Gdlib\nREFERENCES SYSTEM\n\n- Unify ref/getref/setref under a single [ref] command.\n"
            "TODO (END)\n")
    found = offered(tmp_path, page)
    assert "- Gdlib" in found and any(q.startswith("- Unify") for q in found)


def test_emacs_frame_title_and_a_menu_bar_cut_to_file_edit_are_furniture():
    # Pictures of Emacs (notes-fresh49, 50): its frame's title and a menu bar OCR cut short.
    from mustelid.plugins.todos.lines import chrome
    assert chrome("TODO.org - GNU Emacs at vm")
    assert chrome("HTML.pmod - GNU Emacs at build-host")
    assert chrome("File Edit")
    assert not chrome("File Edit should have an Undo entry")
    assert not chrome("Write about GNU Emacs at the meeting")


def test_nanos_title_makes_its_key_help_furniture_when_ocr_lost_the_chords(tmp_path):
    # A dark nano window (notes-fresh50): no "^G" survived OCR, the labels stand alone and
    # outnumbered the statements, so the code's lines were offered as tasks.
    nano = ("GNU nano 7.2\nvcf.nim\n  for isample in 0..<data.len:\n"
            "   data[isample] = $(cast[cstring](cs[isample * n_per].addr))\n"
            "  result = Status.OK\n\nproc set*(f:FORMAT, key:string): Status {.inline.} =\n"
            "  ## set the format field with the given strings.\n"
            "  if data.len != f.v.vcf.n_samples:\n   # ToDo: support Number other than 1.\n"
            "   return Status.IncorrectNumberOfValues\n  var lmax = data[0].len\n"
            "  for d in data:\n   lmax = max(lmax, d.len)\n  var cstr = newString(lmax)\n"
            "Read 18 lines\nHelp\nWrite Out\nWhere Is\nCut\nExecute\nLocation\nExit\n"
            "Read File\nReplace\nPaste\nJustify\nGo To Line\n")
    assert offered(tmp_path, nano) == ["ToDo: support Number other than 1."]


def test_a_legends_status_words_are_no_items(tmp_path):
    # A TODO file's legend names what its marks mean (notes-fresh51's renrot, 50's monopd).
    todo = ("TODO SEMANTICS\n\n-\tnot yet\n+\tpartialy done\n^\tpartially implemented\n\n"
            "BUGS\n\n-  make possible to use the same tag names in the different groups\n\n"
            "-  print some text on image\n")
    assert offered(tmp_path, todo) == [
        "- make possible to use the same tag names in the different groups",
        "- print some text on image"]


def test_a_release_history_under_version_headings_alone_records_changes(tmp_path):
    # gob2's NEWS (notes-fresh49): each release a heading alone, its changes below, newest first.
    news = ("2.0.20:\n\t* Require glib 2.4, and change use of the functions\n"
            "\t* Support for GTK3 (Pedro L. Lucas)\n\n2.0.19:\n"
            "\t* do not output #line 0 statements (patch from Nick Bowler)\n"
            "\t* Fix empty file separator\n\n2.0.18:\n\t* Add %ctop{ %} to do what alltop does\n"
            "\t* Buildfixes for Cygwin (Roland Clobus)\n")
    assert offered(tmp_path, news) == []
    roadmap = "0.5:\n\t* Add a plugin API\n\n0.6:\n\t* Port to GTK 4\n"
    assert offered(tmp_path, roadmap) != []


def test_a_release_heading_of_a_version_and_a_date_alone_records_the_changes_below(tmp_path):
    # confget's NEWS (notes-fresh52): "4.1.1<tab>2022/09/11" has no letter, and the layout
    # dropped it as OCR debris, so the release's imperative entries were offered as tasks.
    news = ("4.1.1\t2022/09/11\n\t- add an EditorConfig definitions file\n"
            "\t- Python implementation:\n\t  - use black 22 for source code formatting\n"
            "\t  - drop the flake8 + hacking test environment altogether\n")
    assert offered(tmp_path, news) == []
    assert offered(tmp_path, news.replace("4.1.1\t2022/09/11", "12\n13")) != []
