"""Every word we show is marked for translation: the text of our templates and the attributes
people read (title, aria-label, placeholder, alt…), and the strings our Python hands to
messages, forms, errors and the admin. Brand and model names, units and symbols are allowed
(ALLOWED)."""

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted(
    p for p in (ROOT / "templates").rglob("*") if p.suffix in (".html", ".jinja", ".txt")
)

# Words that are the same in every language: names, units, formats.
ALLOWED = [
    "Banana Studio",
    "OpenAI",
    "OpenID Connect",
    "API",
    "CSV",
    "JSON",
    "HTTP",
    "PNG",
    "JPEG",
    "WebP",
    "ZIP",
    "TOTP",
    "QR",
    "URL",
    "ms",
    "MB",
    "OpenAPI",
    "openapi.json",
]
# Blocks that hold an id or a class, not words.
NAME_BLOCKS = {"panel_id"}
PLACEHOLDER = "\x00"
READ_ATTRIBUTES = {
    "title",
    "alt",
    "placeholder",
    "aria-label",
    "aria-description",
    "aria-roledescription",
    "label",
    "data-confirm",
    "data-none",
    "data-some",
}
WORD = re.compile(r"[A-Za-z]{2,}")
SKIPPED_ELEMENTS = {"script", "style", "code", "pre", "kbd", "samp"}


def words_of(text):
    text = text.replace(PLACEHOLDER, " ")
    for allowed in sorted(ALLOWED, key=len, reverse=True):
        text = re.sub(rf"(?<![A-Za-z]){re.escape(allowed)}(?![A-Za-z])", " ", text)
    return WORD.findall(text)


def unmarked_source(source):
    """The template with every tag and variable replaced by a placeholder, and what is inside
    translate blocks and comments removed: what is left is shown as written."""
    out = []
    skipping = None
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.split_contents()[0]
            if skipping:
                if name == skipping:
                    skipping = None
                continue
            if name in ("blocktranslate", "blocktrans"):
                skipping = "endblock" + name[5:]
            elif name == "comment":
                skipping = "endcomment"
            elif name == "verbatim":
                skipping = "endverbatim"
            elif name == "block" and token.split_contents()[1] in NAME_BLOCKS:
                skipping = "endblock"
            out.append(PLACEHOLDER)
        elif skipping:
            continue
        elif token.token_type == TokenType.TEXT:
            out.append(token.contents)
        elif token.token_type != TokenType.COMMENT:
            out.append(PLACEHOLDER)
    return "".join(out)


class ShownText(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []
        self.skipping = []

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_ELEMENTS:
            self.skipping.append(tag)
        for name, value in attrs:
            shows = name in READ_ATTRIBUTES or (
                tag == "input"
                and name == "value"
                and dict(attrs).get("type") in ("submit", "button", "reset")
            )
            if shows and value and words_of(value):
                self.found.append(f'{tag} {name}="{value}"')

    def handle_endtag(self, tag):
        if self.skipping and self.skipping[-1] == tag:
            self.skipping.pop()

    def handle_data(self, data):
        if not self.skipping and words_of(data):
            self.found.append(data.strip())


def unmarked_text(path):
    source = unmarked_source(path.read_text())
    if path.suffix == ".txt":
        return [line.strip() for line in source.splitlines() if words_of(line)]
    parser = ShownText()
    parser.feed(source)
    return parser.found


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_template_shows_no_unmarked_text(path):
    assert unmarked_text(path) == []


def test_the_template_check_finds_text_outside_translate_tags(tmp_path):
    template = tmp_path / "page.html"
    template.write_text(
        '{% translate "Fine" %}<p>Not marked</p><button title="Also not">\u00d7</button>'
        '{% blocktranslate %}Marked {{ x }}{% endblocktranslate %}<a aria-label="{% translate'
        " 'Ok' %}\">{{ name }}</a><p>Banana Studio · 4 MB</p>"
    )

    assert unmarked_text(template) == ["Not marked", 'button title="Also not"']


# --- Python: strings handed to people without gettext ------------------------------------

# The API's contract (generations/api/schemas.py) describes fields to programs and their
# authors in English, as the provider's own messages are: it is no page.
NOT_SHOWN_IN_PAGES = {ROOT / "generations" / "api" / "schemas.py"}
PYTHON_SOURCES = sorted(
    p
    for p in (ROOT / "generations").rglob("*.py")
    if "migrations" not in p.parts and "management" not in p.parts and p not in NOT_SHOWN_IN_PAGES
)
# Keyword arguments whose string is shown to people.
SHOWN_KEYWORDS = {
    "label",
    "help_text",
    "verbose_name",
    "verbose_name_plural",
    "description",
    "short_description",
    "empty_label",
    "message",
    "title",
    "placeholder",
}
# Calls whose string arguments are shown to people (the messages framework's by name, not a
# logger's; add_error's first argument is a field name).
SHOWN_CALLS = {"message_user", "ValidationError", "CreditError", "LimitReached"}
MESSAGES_CALLS = {"success", "error", "warning", "info", "add_message"}


def _plain_string(node):
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and WORD.search(node.value)
        and words_of(node.value)
    ) or isinstance(node, ast.JoinedStr)


def unmarked_python(source):
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and _plain_string(node.value):
            for target in node.targets:
                if getattr(target, "attr", None) in SHOWN_KEYWORDS:
                    found.append(f"line {node.lineno}: {ast.unparse(target)} = ...")
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
        for keyword in node.keywords:
            if keyword.arg in SHOWN_KEYWORDS and _plain_string(keyword.value):
                found.append(f"line {node.lineno}: {keyword.arg}={ast.unparse(keyword.value)}")
        arguments = []
        if name in SHOWN_CALLS or (
            name in MESSAGES_CALLS
            and getattr(getattr(node.func, "value", None), "id", "") == "messages"
        ):
            arguments = node.args
        elif name == "add_error":
            arguments = node.args[1:]
        if arguments:
            for argument in arguments:
                if _plain_string(argument):
                    found.append(f"line {node.lineno}: {name}({ast.unparse(argument)})")
    return sorted(found, key=lambda line: int(line.split()[1].rstrip(":")))


@pytest.mark.parametrize("path", PYTHON_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_module_shows_no_unmarked_text(path):
    assert unmarked_python(path.read_text()) == []


def test_the_python_check_finds_plain_strings_shown_to_people():
    source = (
        "messages.success(request, 'Saved.')\n"
        "messages.error(request, _('Fine.'))\n"
        "forms.CharField(label='Name', help_text=_('ok'))\n"
        "raise ValidationError(f'Bad {x}')\n"
        "logger.warning('Not shown %s', x)\n"
        "column.short_description = 'Owner'\n"
    )

    assert unmarked_python(source) == [
        "line 1: success('Saved.')",
        "line 3: label='Name'",
        "line 4: ValidationError(f'Bad {x}')",
        "line 6: column.short_description = ...",
    ]


# --- studio.js: words written into the page go through the JavaScript catalogue --------------

# A line that writes into the page, and the string literals on it.
JS_SINK = re.compile(
    r"""announce\(|textContent\s*=|\.title\s*=|setAttribute\("(aria-label|title)\""""
)
JS_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def unmarked_javascript(source):
    found = []
    for number, line in enumerate(source.splitlines(), 1):
        if not JS_SINK.search(line):
            continue
        for match in JS_STRING.finditer(line):
            before = line[: match.start()]
            marked = re.search(r"n?gettext\(\s*$", before) or (
                "ngettext(" in before and re.search(r",\s*$", before)
            )
            text = match.group(1)
            selector = text.startswith(("#", ".", "["))
            if not marked and not selector and words_of(text) and text not in JS_NAMES:
                found.append(f"line {number}: {text}")
    return found


# Attribute names and the like that studio.js writes, not words.
JS_NAMES = {"aria-label", "title", "aria-pressed", "aria-expanded"}


def test_studio_js_writes_no_unmarked_words():
    assert unmarked_javascript((ROOT / "static" / "js" / "studio.js").read_text()) == []


def test_the_javascript_check_finds_words_written_without_gettext():
    source = (
        'announce("Prompt copied.");\n'
        'announce(gettext("Prompt copied."));\n'
        'button.textContent = active ? "On" : gettext("Off");\n'
        'el.textContent = n + " s";\n'
    )

    assert unmarked_javascript(source) == ["line 1: Prompt copied.", "line 3: On"]


# A plural is chosen by ngettext or blocktranslate count, never written "image(s)".
PLURAL_BY_HAND = re.compile(
    r"""(?:_|gettext|gettext_lazy|translate)\(?\s*["'][^"']*[a-z](?<!http)\(s\)"""
)


def test_no_message_writes_its_plural_by_hand():
    sources = [*PYTHON_SOURCES, *TEMPLATES, ROOT / "static" / "js" / "studio.js"]
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sources
        for match in PLURAL_BY_HAND.finditer(path.read_text())
    ]
    assert found == []


# gettext (not gettext_lazy) run when a module is imported translates once, into whatever
# language is active then: a constant that never changes language again.
EAGER = {"gettext", "ngettext", "pgettext", "npgettext"}


def eager_translations(source):
    tree = ast.parse(source)
    names = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "django.utils.translation"
        for alias in node.names
        if alias.name in EAGER
    }
    found = []

    def visit(body):
        for statement in body:
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if isinstance(statement, ast.ClassDef):
                visit(statement.body)
                continue
            for node in ast.walk(statement):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) in names:
                    found.append(f"line {node.lineno}: {ast.unparse(node)[:60]}")

    visit(tree.body)
    return found


@pytest.mark.parametrize("path", PYTHON_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_translates_when_it_is_imported(path):
    assert eager_translations(path.read_text()) == []


def test_the_import_time_check_finds_gettext_outside_functions():
    source = (
        "from django.utils.translation import gettext as _, gettext_lazy\n"
        "TITLE = _('Studio')\n"
        "LAZY = gettext_lazy('Fine')\n"
        "class Form:\n"
        "    label = _('Name')\n"
        "    def clean(self):\n"
        "        return _('Fine too')\n"
    )

    assert eager_translations(source) == ["line 2: _('Studio')", "line 5: _('Name')"]
