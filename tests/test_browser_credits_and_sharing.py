"""In Chromium: running out of credits, remixing, and sharing a collection."""

import pytest

from generations import boards
from generations.models import Generation, ResultImage

from .browser import log_in
from .conftest import make_user
from .sharing_builders import make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_with_too_few_credits_sees_the_message(page, live_server, emulator):
    make_user("broke")
    log_in(page, live_server, "broke")

    page.fill("#id_prompt", "Something I cannot afford")
    page.click("#compose button[type=submit]")

    alert = page.locator("#compose .error[role=alert]")
    alert.wait_for()
    assert "Not enough credits" in alert.inner_text()
    assert "0 available" in alert.inner_text()
    assert emulator.submit_count == 0
    assert not Generation.objects.exists()


def test_member_remixes_an_image_and_gets_a_new_generation(
    page,
    live_server,
    member,
    with_webhooks,
):
    original = make_generation(member, prompt="A red bicycle in the snow", aspect_ratio="16:9")
    log_in(page, live_server, member.username)

    page.goto(f"{live_server.url}/g/{original.pk}/")
    page.click("text=Remix")
    assert page.input_value("#id_prompt") == "A red bicycle in the snow"
    assert page.input_value("#id_aspect_ratio") == "16:9"
    page.fill("#id_prompt", "A red bicycle in the snow, at night")
    page.click("#compose button[type=submit]")

    new_card = page.locator(".card", has_text="at night")
    new_card.locator("img.result").wait_for(timeout=20_000)
    remix = Generation.objects.exclude(pk=original.pk).get()
    assert remix.prompt == "A red bicycle in the snow, at night"
    assert remix.aspect_ratio == "16:9"
    assert remix.results.filter(state=ResultImage.State.STORED).exists()


def test_shared_collection_opens_logged_out_and_dies_when_revoked(
    browser,
    page,
    live_server,
    member,
    settings,
):
    settings.PUBLIC_BASE_URL = live_server.url
    collection = boards.create_collection(member, "Holiday")
    shared = [make_generation(member, prompt=f"Beach {i}") for i in range(2)]
    withheld = make_generation(member, prompt="Not in the collection")
    for generation in shared:
        boards.add_to_collection(collection, generation)
    log_in(page, live_server, member.username)

    page.goto(f"{live_server.url}/collections/{collection.pk}/")
    page.click(".share-form button[type=submit]")
    url = page.locator(".share-url").first.inner_text().strip()
    assert url.startswith(live_server.url + "/s/")

    visitor = browser.new_context()
    try:
        public = visitor.new_page()
        response = public.goto(url)
        assert response.status == 200
        assert public.locator(".share-grid img").count() == 2
        public.wait_for_function(
            "() => [...document.images].every(img => img.complete && img.naturalWidth > 0)"
        )
        html = public.content()
        assert str(withheld.pk) not in html
        assert "Not in the collection" not in html
        assert member.username not in html

        page.goto(f"{live_server.url}/links/")
        page.click("text=Revoke")
        page.locator("text=Revoked").wait_for()

        response = public.goto(url)
        assert response.status in (404, 410)
        assert public.locator("main img").count() == 0  # the header keeps only our logo
    finally:
        visitor.close()
