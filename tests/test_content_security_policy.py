"""A Content-Security-Policy with no inline script and no eval: every page carries it, no
page writes an inline script or handler, and in Chromium no page breaks it."""

import re

import pytest
from django.urls import reverse

from generations.boards import create_collection
from generations.sharing import create_share_link

from .browser import log_in
from .otp_helpers import verified_admin_client
from .sharing_builders import make_generation

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>\s*\S", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


def pages(member, teammate):
    generation = make_generation(member)
    running = make_generation(member, status="in_progress", upstream_task_id="ta-csp")
    collection = create_collection(member, "Moons")
    link = create_share_link(member, generation=generation)
    return [
        reverse("home"),
        reverse("history"),
        reverse("gallery"),
        reverse("generation_detail", args=[generation.pk]),
        reverse("generation_detail", args=[running.pk]),
        reverse("collections"),
        reverse("collection_detail", args=[collection.pk]),
        reverse("share_links"),
        reverse("credit_ledger"),
        reverse("share_page", args=[link.token]),
        reverse("password_change"),
        # Fragments the pages load: a card's actions menu, the reference picker.
        reverse("generation_menu", args=[generation.pk]),
        reverse("reference_picker"),
    ]


@pytest.mark.django_db
def test_every_page_sends_a_policy_without_inline_scripts_or_eval(client, member, teammate):
    client.force_login(member)
    for url in [*pages(member, teammate), reverse("login")]:
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]*)", policy).group(1)
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src, url
        assert "frame-ancestors 'none'" in policy
        assert not INLINE_SCRIPT.search(response.text), url
        assert not HANDLER.search(response.text), url


@pytest.mark.django_db
def test_the_admin_pages_we_wrote_have_no_inline_script(client, admin_user):
    admin = verified_admin_client(client, admin_user)
    for url in [
        reverse("admin:index"),
        reverse("admin:generations_generation_changelist"),
        reverse("admin:generations_creditaccount_changelist"),
        "/admin/generations/creditaccount/usage/",
    ]:
        response = admin.get(url)
        assert response.status_code == 200, url
        assert not INLINE_SCRIPT.search(response.text), url


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_page_breaks_the_policy_in_chromium(page, live_server, member, teammate):
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    urls = pages(member, teammate)
    log_in(page, live_server, member.username)
    for url in urls:
        page.goto(live_server.url + url)
        page.wait_for_load_state("networkidle")
    assert violations == []
