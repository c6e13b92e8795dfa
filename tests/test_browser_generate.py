"""In Chromium: a member logs in, submits, and sees the image appear without a reload."""

import pytest

from .browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_submits_and_the_image_appears_without_reload(
    page,
    live_server,
    member,
    with_webhooks,
):
    with_webhooks.config.in_progress_seconds = 1.5
    log_in(page, live_server, member.username)
    page.evaluate("window.__noReload = 'still here'")

    page.fill("#id_prompt", "A lighthouse made of bananas")
    page.click("#compose button[type=submit]")

    card = page.locator(".card").first
    card.locator(".badge").wait_for()
    assert "A lighthouse made of bananas" in card.inner_text()
    card.locator("img.result").wait_for(timeout=20_000)
    assert card.locator(".badge-success").count() == 1
    assert page.evaluate("window.__noReload") == "still here"
    # The image really loads (it is lazy: wait for it rather than read it at once).
    image = card.locator("img.result").element_handle()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image)
