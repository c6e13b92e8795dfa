"""In Chromium: a member creates a key (shown once), uses it, sees its use, revokes it; the
API docs page at desktop and phone widths."""

import os

import pytest
import requests

from generations.models import ApiKey

from .browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# BANANA_SCREENSHOTS=folder keeps the pages' screenshots for a person to look at.
SHOTS = os.environ.get("BANANA_SCREENSHOTS")


def shot(page, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


@pytest.mark.parametrize("width", [1280, 390])
def test_member_creates_uses_and_revokes_a_key(page, live_server, emulator, member, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, member.username)

    toggle = page.locator("[data-nav-toggle]")
    if toggle.is_visible():  # on a phone the menu folds behind a button
        toggle.click()
    page.click("nav >> text=API keys")
    page.fill("#id_name", "n8n flow")
    page.fill("#id_monthly_budget", "5")
    page.check("text=Nano Banana (gempix2)")
    page.click("#new-key-form button[type=submit]")

    secret = page.locator("#new-key-secret").inner_text().strip()
    assert secret.startswith("bsk_")
    shot(page, f"keys-created-{width}")
    answer = requests.post(
        live_server.url + "/api/image/gen",
        json={"model": "google/gempix2", "prompt": "A banana"},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    assert answer.status_code == 200

    page.goto(live_server.url + "/keys/")
    assert page.locator("#new-key-secret").count() == 0  # shown once
    card = page.locator("#keys .card", has_text="n8n flow")
    assert "0.5 of 5 credits this month" in card.inner_text()
    assert "last used" in card.inner_text()
    card.locator("summary").click()
    assert card.locator("code.share-url").inner_text().startswith("whsec_")
    shot(page, f"keys-list-{width}")
    card.locator("button", has_text="Revoke").click()

    page.locator("#keys .card .badge", has_text="Revoked").wait_for()
    shot(page, f"keys-revoked-{width}")
    assert ApiKey.objects.get().revoked_at is not None
    refused = requests.get(
        live_server.url + "/v1/models",
        headers={"Authorization": f"Bearer {secret}"},
        timeout=10,
    )
    assert refused.status_code == 401
    scroll = page.evaluate("document.querySelector('main').scrollWidth")
    assert scroll <= width


@pytest.mark.parametrize("width", [1280, 390])
def test_the_docs_page_shows_examples_with_the_base_url(page, live_server, member, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server, member.username)

    page.goto(live_server.url + "/api/docs/")

    assert page.locator("#base-url").inner_text() == live_server.url
    assert f"curl -s {live_server.url}/api/image/gen" in page.inner_text("main")
    shot(page, f"docs-{width}")
    scroll = page.evaluate("document.querySelector('main').scrollWidth")
    assert scroll <= width


def test_the_copy_button_copies_the_new_key_and_says_so(browser, live_server, member):
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    try:
        log_in(page, live_server, member.username)
        page.goto(live_server.url + "/keys/")
        page.fill("#id_name", "copy me")
        page.click("#new-key-form button[type=submit]")
        secret = page.locator("#new-key-secret").inner_text().strip()

        page.click("#new-key button:has-text('Copy')")

        page.wait_for_function(
            "() => document.querySelector('#announcer').textContent === 'Key copied.'"
        )
        assert page.evaluate("() => navigator.clipboard.readText()") == secret
        assert page.locator("#new-key [onclick]").count() == 0
        assert errors == []  # the policy refuses inline handlers: none is left to refuse
    finally:
        context.close()
