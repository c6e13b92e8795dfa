"""The translation catalogues in locale/ (docs/languages.md): extracting the messages we
show, compiling them, and the checks the test command runs.

Each language other than English has one catalogue per domain: `django` (templates and
Python) and `djangojs` (static/js). The compiled .mo files are committed, so the site speaks
every language however it is started; `compiled_matches` is how a test (and `make run`)
knows a .mo still says what its .po says, without GNU gettext."""

from __future__ import annotations

import ast
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.utils.translation import gettext_noop

DOMAINS = ("django", "djangojs")
# What makemessages reads, from the project's root: our code and templates, not the tests,
# the virtualenv, the emulator (a separate program) or the benchmarks.
IGNORED = [
    ".venv",
    "venv",
    "tests",
    "emulator",
    "bench",
    "operations",
    "staticfiles",
    "var",
    "node_modules",
    "locale",
    "static/vendor",
]
JS_IGNORED = [*IGNORED, "static/js/vendor", "static/js/htmx*"]


# Django's own words that our pages show and its Korean catalogue leaves untranslated: named
# here so makemessages puts them in ours (which Django reads first).
DJANGO_GAPS = [
    gettext_noop("- Select an option -"),
    gettext_noop("Filter by %(field_name)s"),
    gettext_noop("Logout"),
]


def locale_dir() -> Path:
    return Path(settings.LOCALE_PATHS[0])


def translated_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def po_path(language: str, domain: str, root: Path | None = None) -> Path:
    return (root or locale_dir()) / language / "LC_MESSAGES" / f"{domain}.po"


def extract_messages() -> None:
    """makemessages for every translated language and domain, from the project's root: new
    messages join the catalogues untranslated, messages no longer used leave them."""
    languages = translated_languages()
    options = {"locale": languages, "no_obsolete": True, "add_location": "file", "verbosity": 0}
    call_command(
        "makemessages",
        domain="django",
        # .jinja: the card (generations/rendering/cards.py), whose `_("…")` makemessages reads
        # as it reads the template language's.
        extensions=["html", "txt", "py", "jinja"],
        ignore_patterns=IGNORED,
        **options,
    )
    call_command("makemessages", domain="djangojs", ignore_patterns=JS_IGNORED, **options)


# --- Reading catalogues ----------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    fuzzy: bool = False
    obsolete: bool = False

    @property
    def key(self) -> tuple[str | None, str]:
        return (self.msgctxt, self.msgid)

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr.values())


_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")$")


def _read_entry(block: str) -> Entry | None:
    entry = Entry(msgid="")
    last: tuple[str, int] | None = None
    for raw in block.splitlines():
        line = raw.strip()
        if line.startswith("#~"):
            entry.obsolete = True
            line = line[2:].strip()
        elif line.startswith("#,"):
            entry.fuzzy = entry.fuzzy or "fuzzy" in {f.strip() for f in line[2:].split(",")}
            continue
        elif line.startswith("#"):
            continue
        match = _KEYWORD.match(line)
        if match:
            keyword, index, text = match.groups()
            name = "msgstr" if keyword.startswith("msgstr") else keyword
            last = (name, int(index or 0))
            value = ast.literal_eval(text)
        elif line.startswith('"') and last is not None:
            value = ast.literal_eval(line)
        else:
            continue
        name, number = last
        if name == "msgstr":
            entry.msgstr[number] = entry.msgstr.get(number, "") + value
        else:
            setattr(entry, name, (getattr(entry, name) or "") + value)
    return entry if last is not None and entry.msgid != "" else None


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (the header, msgid "", left out)."""
    blocks = re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))
    return [entry for block in blocks if (entry := _read_entry(block)) is not None]


def po_header(path: Path) -> str:
    for raw in path.read_text(encoding="utf-8").split("\n\n"):
        if 'msgid ""\nmsgstr ""' in raw:
            return raw
    return ""


def compiled_catalogue(entries: list[Entry]) -> dict:
    """What msgfmt makes of these entries, in the shape Python's gettext reads a .mo into:
    only translated, non-fuzzy, live entries; plural forms keyed (msgid, n)."""
    catalogue: dict = {}
    for entry in entries:
        if entry.obsolete or entry.fuzzy or not entry.translated:
            continue
        msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            catalogue[msgid] = entry.msgstr[0]
        else:
            for number, text in entry.msgstr.items():
                catalogue[(msgid, number)] = text
    return catalogue


def read_mo(path: Path) -> dict:
    """A compiled catalogue as Python's gettext keeps it (plural forms keyed (msgid, n)),
    read from GNU's .mo layout: a header, then a table of originals and one of
    translations, each entry a length and an offset. Ours are UTF-8 (as Django wants)."""
    data = path.read_bytes()
    order = "<" if struct.unpack("<I", data[:4])[0] == 0x950412DE else ">"
    _revision, count, originals, translated = struct.unpack(f"{order}4I", data[4:20])

    def text(table: int, n: int) -> bytes:
        length, offset = struct.unpack(f"{order}2I", data[table + 8 * n : table + 8 * n + 8])
        return data[offset : offset + length]

    catalogue: dict = {}
    for n in range(count):
        msgid, msgstr = text(originals, n), text(translated, n)
        if b"\0" in msgid:
            singular = msgid.split(b"\0")[0].decode()
            for number, form in enumerate(msgstr.split(b"\0")):
                catalogue[(singular, number)] = form.decode()
        else:
            catalogue[msgid.decode()] = msgstr.decode()
    catalogue.pop("", None)
    return catalogue


def compiled_matches(po: Path) -> bool:
    """Does the .mo beside this .po hold exactly its translations?"""
    mo = po.with_suffix(".mo")
    return mo.exists() and read_mo(mo) == compiled_catalogue(read_po(po))


def stale_catalogues() -> list[Path]:
    return [
        po
        for language in translated_languages()
        for domain in DOMAINS
        if (po := po_path(language, domain)).exists() and not compiled_matches(po)
    ]


def compile_stale() -> list[Path]:
    """Compiles the catalogues whose .mo no longer matches their .po (msgfmt needed only
    then); answers the ones compiled."""
    stale = stale_catalogues()
    if stale and shutil.which("msgfmt") is None:
        names = ", ".join(str(p.relative_to(settings.BASE_DIR)) for p in stale)
        raise MissingGettext(
            f"{names} changed since it was compiled, and compiling needs GNU gettext's msgfmt, "
            "which is not installed (Debian: apt-get install gettext; macOS: brew install "
            "gettext)."
        )
    for po in stale:
        # What Django's compilemessages runs, for this one file.
        subprocess.run(  # noqa: S603
            ["msgfmt", "--check-format", "-o", str(po.with_suffix(".mo")), str(po)],  # noqa: S607
            check=True,
        )
    return stale


class MissingGettext(Exception):
    pass


# --- The checks ------------------------------------------------------------------------------


def _live_keys(entries: list[Entry]) -> set[tuple[str | None, str, str | None]]:
    return {(*e.key, e.msgid_plural) for e in entries if not e.obsolete}


def _name(key: tuple[str | None, str, str | None]) -> str:
    context, msgid, _plural = key
    return repr(msgid) if context is None else f"{msgid!r} (context {context!r})"


def catalogue_problems(extracted: Path | None = None) -> list[str]:
    """What is wrong with the committed catalogues: untranslated, fuzzy or obsolete entries,
    a .mo that does not match its .po, and, given `extracted` (the locale directory
    makemessages wrote from the current sources), messages missing from a catalogue or no
    longer used."""
    found = []
    for language in translated_languages():
        for domain in DOMAINS:
            po = po_path(language, domain)
            where = str(po.relative_to(settings.BASE_DIR))
            if not po.exists():
                found.append(f"{where}: missing")
                continue
            entries = read_po(po)
            for entry in entries:
                if entry.obsolete:
                    found.append(f"{where}: obsolete (#~) {entry.msgid!r}")
                elif entry.fuzzy:
                    found.append(f"{where}: fuzzy {entry.msgid!r}")
                elif not entry.translated:
                    found.append(f"{where}: untranslated {entry.msgid!r}")
            if not compiled_matches(po):
                found.append(f"{where}: the .mo beside it does not match (compile it)")
            if extracted is not None:
                wanted = _live_keys(read_po(po_path(language, domain, extracted)))
                have = _live_keys(entries)
                found += [f"{where}: missing {_name(k)}" for k in sorted(wanted - have, key=str)]
                found += [
                    f"{where}: no longer used {_name(k)}" for k in sorted(have - wanted, key=str)
                ]
    return found
