"""The stylesheet and the templates agree: every CSS class a template writes has a rule in
static/css/studio.css (but for the few HOOKS below), and every class the stylesheet styles
is written by a template.

Read from the files, no rendering: a class attribute's literal words count, words a template
tag adds ({% if %} has-error{% endif %}) count too, and a word built from a variable
(badge-{{ generation.status }}) stands for every class that fits it (badge-success, …).
A class that is only a variable ({{ message.tags }}) cannot be checked and is skipped.

templates/admin/ is skipped: those pages wear the Django admin's classes, styled by the
admin's own stylesheets, which studio.css does not touch. Python code that writes a class
(a widget's attrs {"class": …}, segno's svgclass=…) counts as a template would.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
STYLESHEET = ROOT / "static" / "css" / "studio.css"

# Classes a test or a script finds elements by, kept unstyled on purpose (a rule that styles
# nothing would only pretend), each with who relies on it.
HOOKS = {}

# Classes that appear at run time without a template writing them (htmx's htmx-request,
# htmx-swapping, …) or that studio.js sets: a rule for one of them is not dead.
RUNTIME_CLASSES = frozenset({"open", "dragging"})

VARIABLE = "\x00"


def classes_in_template(text):
    """The class words of one template's class attributes; VARIABLE marks a variable part."""
    text = re.sub(r"\{% comment %\}.*?\{% endcomment %\}", "", text, flags=re.DOTALL)
    text = re.sub(r"\{#.*?#\}", "", text)
    text = re.sub(r"\{\{.*?\}\}", VARIABLE, text)
    # A tag ends a word: its quotes must not end the attribute, its words are not classes.
    text = re.sub(r"\{%.*?%\}", " ", text)
    words = set()
    for value in re.findall(r'\bclass="([^"]*)"', text):
        words.update(word for word in value.split() if word.strip(VARIABLE))
    return words


def template_classes():
    """{class word: names of the templates that write it}."""
    found = {}
    for path in sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".jinja")):
        name = path.relative_to(TEMPLATES).as_posix()
        if name.startswith("admin/"):
            continue
        for word in classes_in_template(path.read_text(encoding="utf-8")):
            found.setdefault(word, set()).add(name)
    return found


def python_classes():
    """{class word: modules} for classes our Python code puts on elements."""
    found = {}
    for path in sorted((ROOT / "generations").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        values = re.findall(r'"class": "([^"]*)"', text) + re.findall(r'svgclass="([^"]*)"', text)
        for value in values:
            for word in value.split():
                found.setdefault(word, set()).add(path.relative_to(ROOT).as_posix())
    return found


def stylesheet_classes(css):
    """The classes named in the selectors of a stylesheet."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)
    classes = set()
    for prelude in re.findall(r"([^{}]*)\{", css):
        if prelude.strip().startswith("@"):  # @media conditions, @keyframes names
            continue
        classes.update(re.findall(r"\.(-?[A-Za-z_][\w-]*)", prelude))
    return classes


def fits(word, css_class):
    pattern = r"[\w-]+".join(re.escape(part) for part in word.split(VARIABLE))
    return re.fullmatch(pattern, css_class) is not None


def shown(word):
    return word.replace(VARIABLE, "{{…}}")


def test_class_words_are_read_around_template_tags_and_variables():
    text = (
        '<div class="field field-{{ field.name }}{% if field.errors %} has-error{% endif %}">'
        '<span class="{{ message.tags }}" title="{% translate "x" %}">'
        '<p class="{% if a == "b" %}note{% else %}empty{% endif %} error">'
        '{# class="commented" #}'
    )
    assert classes_in_template(text) == {
        "field",
        f"field-{VARIABLE}",
        "has-error",
        "note",
        "empty",
        "error",
    }
    assert stylesheet_classes(
        "/* .gone */ .a, p.b:hover > .c-d { x:1 } @media (max-width:8.5em) { .e { y:.5rem } }"
    ) == {"a", "b", "c-d", "e"}
    assert fits(f"badge-{VARIABLE}", "badge-success")
    assert not fits(f"badge-{VARIABLE}", "badge")


def test_every_css_class_used_in_templates_has_a_rule():
    styled = stylesheet_classes(STYLESHEET.read_text(encoding="utf-8"))
    unstyled = {
        shown(word): sorted(names)
        for word, names in (template_classes() | python_classes()).items()
        if word not in HOOKS and not any(fits(word, css_class) for css_class in styled)
    }
    assert not unstyled, f"classes without a rule in studio.css (add one or drop them): {unstyled}"


def test_every_css_rule_styles_a_class_some_template_uses():
    used = template_classes() | python_classes()
    styled = stylesheet_classes(STYLESHEET.read_text(encoding="utf-8"))
    unused = sorted(
        css_class
        for css_class in styled - RUNTIME_CLASSES
        if not any(fits(word, css_class) for word in used)
    )
    assert not unused, f"rules in studio.css for classes no template writes: {unused}"


def test_every_hook_class_is_still_used_and_still_unstyled():
    used = template_classes()
    styled = stylesheet_classes(STYLESHEET.read_text(encoding="utf-8"))
    assert set(HOOKS) <= set(used), "a hook no template writes any more: drop it from HOOKS"
    assert not set(HOOKS) & styled, "a hook that has a rule now: drop it from HOOKS"


def test_no_line_of_the_stylesheet_is_longer_than_a_hundred_characters():
    """A rule too long for one line gets one declaration per line: a review reads it, and a
    merge of two changes to the same rule shows which declaration each changed."""
    long_lines = [
        number
        for number, line in enumerate(STYLESHEET.read_text().splitlines(), start=1)
        if len(line) > 100
    ]
    assert long_lines == []
