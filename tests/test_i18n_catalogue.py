"""The Korean catalogue is complete and current: every message the sources show is in it,
translated, none fuzzy or obsolete, and the committed .mo files say what the .po files say.

Finding the messages the sources show needs GNU gettext (makemessages runs xgettext); CI
installs it and sets BANANA_REQUIRE_GETTEXT=1, so there the check cannot be skipped."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from generations import translations

ROOT = Path(settings.BASE_DIR)


def needs_gettext():
    if shutil.which("xgettext") and shutil.which("msgfmt"):
        return
    if os.environ.get("BANANA_REQUIRE_GETTEXT"):
        pytest.fail("GNU gettext (xgettext, msgfmt) is required here but not installed.")
    pytest.skip("GNU gettext is not installed (Debian: apt-get install gettext).")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """The catalogues makemessages writes from the current sources, in a copy of the project
    (the committed ones are not touched)."""
    needs_gettext()
    copy = tmp_path_factory.mktemp("project")
    for name in ("manage.py", "banana_site", "generations", "operations", "templates", "static"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / name)
    (copy / "locale").mkdir()
    subprocess.run(
        [sys.executable, "manage.py", "translations", "update"],
        cwd=copy,
        env={**os.environ, "DEBUG": "true"},
        check=True,
    )
    return copy / "locale"


def test_every_message_the_sources_show_is_in_each_catalogue(extracted):
    problems = translations.catalogue_problems(extracted)

    assert [p for p in problems if ": missing" in p or ": no longer used" in p] == []


def test_no_catalogue_entry_is_untranslated_fuzzy_or_obsolete():
    problems = translations.catalogue_problems()

    assert [p for p in problems if "does not match" not in p] == []


def test_the_committed_mo_files_match_their_po_files():
    problems = translations.catalogue_problems()

    assert [p for p in problems if "does not match" in p] == []


def test_korean_has_one_plural_form():
    for domain in translations.DOMAINS:
        header = translations.po_header(translations.po_path("ko", domain))
        assert "Plural-Forms: nplurals=1; plural=0;" in header, domain


def test_the_check_finds_fuzzy_obsolete_untranslated_and_stale_entries(tmp_path, settings):
    needs_gettext()
    messages = tmp_path / "ko" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    header = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    good = header + 'msgid "Save"\nmsgstr "저장"\n'
    for domain in translations.DOMAINS:
        (messages / f"{domain}.po").write_text(good)
        msgfmt = shutil.which("msgfmt") or "msgfmt"
        subprocess.run(
            [msgfmt, "-o", messages / f"{domain}.mo", messages / f"{domain}.po"], check=True
        )
    settings.LOCALE_PATHS = [tmp_path]
    settings.BASE_DIR = tmp_path
    assert translations.catalogue_problems() == []

    (messages / "django.po").write_text(
        good + '\n#, fuzzy\nmsgid "Open"\nmsgstr "열기"\n\nmsgid "Close"\nmsgstr ""\n\n'
        '#~ msgid "Gone"\n#~ msgstr "없음"\n'
    )

    assert translations.catalogue_problems() == [
        "ko/LC_MESSAGES/django.po: fuzzy 'Open'",
        "ko/LC_MESSAGES/django.po: untranslated 'Close'",
        "ko/LC_MESSAGES/django.po: obsolete (#~) 'Gone'",
    ]
    (messages / "django.po").write_text(good.replace("저장", "보관"))
    assert translations.catalogue_problems() == [
        "ko/LC_MESSAGES/django.po: the .mo beside it does not match (compile it)"
    ]


def test_compiling_without_gettext_says_what_to_install_and_only_when_needed(
    tmp_path, settings, monkeypatch
):
    needs_gettext()
    messages = tmp_path / "ko" / "LC_MESSAGES"
    messages.mkdir(parents=True)
    po = messages / "django.po"
    po.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n')
    po.write_text(po.read_text() + 'msgid "Save"\nmsgstr "저장"\n')
    settings.LOCALE_PATHS = [tmp_path]
    settings.BASE_DIR = tmp_path
    call_command("translations", "compile")  # with msgfmt: compiled
    assert translations.compiled_matches(po)
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))

    call_command("translations", "compile")  # nothing changed: nothing to do, no msgfmt asked

    po.write_text(po.read_text().replace("저장", "보관"))
    with pytest.raises(CommandError, match="apt-get install gettext"):
        call_command("translations", "compile")
