"""Forms are rendered by Jinja2 where Django ships its widget templates for it, and by the
template language for the rest (generations/rendering/forms.py): the HTML must be exactly
what Django's own template renderer makes."""

import re

import pytest
from django.contrib.auth.forms import PasswordChangeForm, UserChangeForm
from django.forms.renderers import DjangoTemplates
from django.urls import reverse

from generations.accounts.forms import InviteForm, ProfileForm
from generations.accounts.security import SecondFactorForm
from generations.admin.credits import CreditChangeForm
from generations.admin.members import ModelAccessForm
from generations.forms import (
    ApiKeyForm,
    CollectionForm,
    GalleryFilterForm,
    GenerationForm,
    ShareForm,
)
from generations.rendering.forms import FormRenderer

from .sharing_builders import make_generation

# Every form of the app (and the admin's user form, whose password widget has no Jinja2
# template), unbound and bound to data that fails validation.
FORMS = [
    (GenerationForm, {"prompt": "", "model": "nope", "count": "9", "reference_urls": "x"}),
    (GalleryFilterForm, {"q": "moon", "model": "nope", "date_from": "not a date"}),
    (CollectionForm, {"name": ""}),
    (ShareForm, {"expires_in": "nope", "show_prompts": "on"}),
    (ApiKeyForm, {"name": "", "monthly_budget": "-1", "allowed_models": ["nope"]}),
    (ProfileForm, {"language": "xx", "time_zone": "Nowhere/Else"}),
    (InviteForm, {"addresses": "", "role": "emperor"}),
    (SecondFactorForm, {"code": ""}),
    (CreditChangeForm, {"kind": "grant", "amount": "-1", "reason": ""}),
    (ModelAccessForm, {"model": "nope"}),
]


def rendered(form):
    return [form.as_div(), str(form.non_field_errors()), *(str(field) for field in form)]


@pytest.mark.parametrize("bound", [False, True], ids=["unbound", "invalid"])
@pytest.mark.parametrize(("form_class", "data"), FORMS, ids=[f.__name__ for f, _ in FORMS])
def test_each_form_renders_the_same_html_as_djangos_template_renderer(db, form_class, data, bound):
    args = (data,) if bound else ()
    ours = form_class(*args, renderer=FormRenderer())
    django = form_class(*args, renderer=DjangoTemplates())
    if bound:
        assert not ours.is_valid() and not django.is_valid()
    assert rendered(ours) == rendered(django)


def test_the_admins_user_form_with_its_password_widget_renders_the_same_html(member):
    ours = UserChangeForm(instance=member, renderer=FormRenderer())
    django = UserChangeForm(instance=member, renderer=DjangoTemplates())
    assert "read_only_password_hash" not in ours.as_div()  # rendered, not named
    assert rendered(ours) == rendered(django)
    ours = PasswordChangeForm(member, {"old_password": "x"}, renderer=FormRenderer())
    django = PasswordChangeForm(member, {"old_password": "x"}, renderer=DjangoTemplates())
    assert rendered(ours) == rendered(django)


def test_a_kept_select_draws_what_djangos_select_draws_for_each_value_and_language():
    from django import forms
    from django.utils import translation

    from generations.models import Generation
    from generations.rendering.forms import KeptSelect

    choices = Generation.Visibility.choices
    kept = forms.ChoiceField(choices=choices, widget=KeptSelect)
    plain = forms.ChoiceField(choices=choices)
    for language in ("en", "ko", "en"):
        with translation.override(language):
            for value in ("team", "private", "team"):
                drawn = kept.widget.render("visibility", value, {"id": "v"}, FormRenderer())
                expected = plain.widget.render("visibility", value, {"id": "v"}, FormRenderer())
                assert drawn == expected
                assert f'value="{value}" selected' in drawn
    with translation.override("ko"):
        assert "팀 전체" in kept.widget.render("visibility", "team", {}, FormRenderer())


def page(client, url, **data):
    html = client.get(url, data).content.decode()
    # What differs from one request to the next whatever renders the forms.
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    html = re.sub(r'"X-CSRFToken": "[^"]*"', "", html)
    return re.sub(r'nonce="[^"]*"', "", html)


@pytest.mark.parametrize(
    ("url_name", "data"),
    [
        ("home", {}),
        ("gallery", {"q": "moon", "date_from": "not a date"}),
        ("history", {}),
        ("collections", {}),
        ("api_keys", {}),
        ("account_settings", {}),
    ],
)
def test_pages_with_forms_are_the_same_as_with_djangos_template_renderer(
    member_client, member, settings, url_name, data
):
    make_generation(member, status="success")
    url = reverse(url_name)
    ours = page(member_client, url, **data)
    settings.FORM_RENDERER = "django.forms.renderers.DjangoTemplates"
    assert page(member_client, url, **data) == ours
