"""How forms are drawn: Django's widget templates through Jinja2 (the `forms` TEMPLATES
backend, banana_site/settings.py), everything else through the template language."""

from pathlib import Path

import jinja2
from django import forms
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.forms import renderers
from django.template import TemplateDoesNotExist, engines
from django.utils.functional import cached_property
from django.utils.translation import get_language

FORM_TEMPLATES = Path(renderers.__file__).parent


class _TwinLoader(jinja2.FileSystemLoader):
    """Django's Jinja2 copies of its form templates, each ending as its template-language
    twin does: Jinja2 drops a template's last newline, the template language keeps it, and
    only some of the twins have one. With this, both make the same HTML to the character."""

    def get_source(self, environment, template):
        source, filename, uptodate = super().get_source(environment, template)
        twin = FORM_TEMPLATES / "templates" / template
        if source.endswith("\n") and twin.exists() and not twin.read_text().endswith("\n"):
            source = source[:-1]
        return source, filename, uptodate


def environment(**options):
    """The `forms` backend's environment: Django's Jinja2 copies of its form templates."""
    options["loader"] = _TwinLoader([FORM_TEMPLATES / "jinja2"])
    options["keep_trailing_newline"] = True
    # As the template language: a missing value renders as nothing, with DEBUG too
    # (Django's default for Jinja2 then prints its name).
    options["undefined"] = jinja2.Undefined
    options.pop("autoescape", None)  # Django's backend asks for it too
    return jinja2.Environment(autoescape=True, **options)


class FormRenderer(renderers.BaseRenderer):
    """Django's widget templates rendered by Jinja2 (the `forms` backend): the same HTML
    for less work (docs/benchmarks.md). Everything else as Django's default renderer
    does: the form and field layouts (Django's Jinja2 `field.html` puts a newline before
    `</fieldset>` that the template language's does not) and widgets Django has no Jinja2
    copy of, such as the admin's `auth/widgets/read_only_password_hash.html`."""

    @cached_property
    def jinja2(self):
        return engines["forms"]

    @cached_property
    def django(self):
        return renderers.DjangoTemplates().engine

    def get_template(self, template_name):
        if template_name.startswith("django/forms/widgets/"):
            try:
                return self.jinja2.get_template(template_name)
            except TemplateDoesNotExist:
                pass
        return self.django.get_template(template_name)


class KeptSelect(forms.Select):
    """A select drawn once per process for each name, value, list of choices, attributes,
    language and renderer, then given again: the compose form's pickers are the same on nearly every
    page load, and drawing their options was most of what drawing the form cost."""

    def render(self, name, value, attrs=None, renderer=None):
        choices = tuple((str(v), str(label)) for v, label in self.choices)
        attributes = tuple(
            sorted((k, str(v)) for k, v in self.build_attrs(self.attrs, attrs).items())
        )
        key = (
            type(self),
            type(renderer),
            name,
            tuple(self.format_value(value)),
            choices,
            attributes,
            get_language(),
            self.kept_key(),
        )
        return _kept(key, lambda: super(KeptSelect, self).render(name, value, attrs, renderer))

    def kept_key(self) -> tuple:
        """More that the drawn options depend on (a subclass's data attributes)."""
        return ()


_drawn: dict = {}


def _kept(key, draw):
    html = _drawn.get(key)
    if html is None:
        if len(_drawn) >= 1024:
            _drawn.clear()
        html = _drawn[key] = draw()
    return html


@receiver(setting_changed)
def _forget_drawn(**kwargs):
    _drawn.clear()
