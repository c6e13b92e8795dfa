"""The admin screens we added, for a Korean admin: no English left in them (Django's own
words come from Django's Korean catalogue; names of people, models and numbers aside)."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from generations import catalogue, credits
from generations.accounts.members import invite

from .conftest import make_user
from .otp_helpers import verified_admin_client
from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db

ALLOWED = {"Banana", "Studio", "API", "CSV", "URL", "ID", "OpenAI", "MB", "AM", "PM", "PNG"}
# Django's admin writes these into its own templates without translating them: the search
# icon's alt text and the yes/no icons'.
DJANGOS_OWN = {"Search", "True", "False"}
# Rows' names, not words of the interface: the auditors' group (generations.members).
DATA = {"Auditors"}
# Installed apps that are not ours: their names and models come from them.
NOT_OURS = ("app-axes", "app-otp_static", "app-otp_totp", "app-django_tasks_database")


class Words(HTMLParser):
    """The words of the page's content (#content): the navigation beside it lists every
    installed app, third-party ones (axes, django-otp) included, which are not ours."""

    SKIPPED = ("script", "style", "code", "pre")

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.texts, self.skipping, self.depth, self.not_ours = [], 0, 0, []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if self.depth and any(c in NOT_OURS for c in classes):
            self.skipping += 1
            self.depth += 1
            self.not_ours.append(self.depth)
            return
        if self.depth or dict(attrs).get("id") == "content":
            self.depth += tag not in VOID
        if not self.depth:
            return
        self.skipping += tag in self.SKIPPED
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.texts.append(value)

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if self.not_ours and self.not_ours[-1] == self.depth:
            self.not_ours.pop()
            self.skipping -= 1
        else:
            self.skipping -= tag in self.SKIPPED
        self.depth -= 1

    def handle_data(self, data):
        if self.depth and not self.skipping and data.strip():
            self.texts.append(data.strip())


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


def english_words(html, allowed):
    parser = Words()
    parser.feed(html)
    found = []
    for text in parser.texts:
        # Addresses, paths, numbers and hashes are data.
        text = re.sub(r"\S+@\S+|\S+/\S+|\S*\d\S*|\w{24,}", " ", text)
        if [w for w in re.findall(r"[A-Za-z]{2,}", text) if w not in allowed]:
            found.append(text[:100])
    return found


def test_our_admin_screens_speak_korean_to_a_korean_admin():
    boss = make_user("보스", is_staff=True, is_superuser=True)
    member = make_user("김민지")
    credits.grant(member, 10, reason="시작")
    invite(["nara@example.com"], boss, "member", "http://testserver")
    client = verified_admin_client(Client(headers={"accept-language": "ko"}), boss)
    models = {w for o in catalogue.model_options() for w in re.findall(r"\w+", o.label + o.id)}
    generation = make_generation(member, prompt="등대")
    ours = sorted(
        f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"
        for model in admin.site._registry
        if model._meta.app_label == "generations" or model._meta.model_name == "user"
    )
    pages = [
        *(reverse(name) for name in ours),
        reverse("admin:generations_generation_change", args=[generation.pk]),
        reverse("admin:index"),
        reverse("admin:generations_usage"),
        reverse("admin:generations_creditaccount_grant") + f"?ids={member.credit_account.pk}",
        reverse("admin:generations_invitation_add"),
    ]

    found = {}
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        english = english_words(response.text, ALLOWED | DJANGOS_OWN | DATA | models)
        if english:
            found[url] = english
    assert found == {}
