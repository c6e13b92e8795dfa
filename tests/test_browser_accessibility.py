"""In Chromium: every main page passes axe-core (no serious or critical violation) in the
light and the dark scheme, and fits a 390 px phone without sideways scrolling."""

import os

import pytest
from django.urls import reverse

from generations import boards
from generations.sharing import create_share_link

from .browser import log_in, serious_accessibility_violations, sideways_overflow
from .sharing_builders import make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("BANANA_SCREENSHOTS")  # a folder: save what the test saw there


def main_pages(member):
    done = make_generation(member, prompt="A banana lighthouse at night, long exposure")
    make_generation(member, prompt="A failed one", status="failed", error_message="No image.")
    running = make_generation(member, prompt="Still going", status="in_progress")
    collection = boards.create_collection(member, "Moons")
    boards.add_to_collection(collection, done)
    link = create_share_link(member, generation=done)
    return {
        "studio": reverse("home"),
        "history": reverse("history"),
        "gallery": reverse("gallery"),
        "detail": reverse("generation_detail", args=[done.pk]),
        "detail-running": reverse("generation_detail", args=[running.pk]),
        "collections": reverse("collections"),
        "collection": reverse("collection_detail", args=[collection.pk]),
        "links": reverse("share_links"),
        "credits": reverse("credit_ledger"),
        "password": reverse("password_change"),
        "share": reverse("share_page", args=[link.token]),
    }


@pytest.fixture
def axe_page(browser):
    # axe is injected as an inline script, which our policy (rightly) refuses: this context
    # alone bypasses it. test_content_security_policy.py checks the pages keep to it.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_main_page_has_no_serious_accessibility_violation(
    axe_page, live_server, member, scheme
):
    page = axe_page
    urls = main_pages(member)
    page.emulate_media(color_scheme=scheme)
    page.goto(live_server.url + "/login/")
    assert serious_accessibility_violations(page) == [], "login"
    log_in(page, live_server, member.username)
    found = {}
    for name, url in urls.items():
        page.goto(live_server.url + url)
        violations = serious_accessibility_violations(page)
        if violations:
            found[name] = violations
        if SHOTS:
            page.screenshot(path=os.path.join(SHOTS, f"{name}-{scheme}.png"), full_page=True)
    assert found == {}


def test_every_main_page_fits_a_phone_without_sideways_scrolling(browser, live_server, member):
    urls = main_pages(member)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        page = context.new_page()
        log_in(page, live_server, member.username)
        too_wide = {}
        for name, url in urls.items():
            page.goto(live_server.url + url)
            if sideways_overflow(page) > 0:
                too_wide[name] = sideways_overflow(page)
            if SHOTS:
                page.screenshot(path=os.path.join(SHOTS, f"{name}-phone.png"), full_page=True)
        assert too_wide == {}
        # The menu collapses behind one button, and opens.
        page.goto(live_server.url + reverse("home"))
        assert page.locator("#site-nav").is_hidden()
        page.click("[data-nav-toggle]")
        assert page.locator("#site-nav a[aria-current=page]").inner_text() == "Studio"
        # The member's images are one tap away, not past the whole form.
        page.click(".to-images")
        assert page.evaluate("document.activeElement.id || location.hash") in (
            "my-images",
            "#my-images",
        )
    finally:
        context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_the_korean_pages_have_no_serious_accessibility_violation(
    browser, live_server, member, width
):
    urls = main_pages(member)
    context = browser.new_context(
        bypass_csp=True, locale="ko-KR", viewport={"width": width, "height": 900}
    )
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(live_server.url + "/login/")
        assert page.locator("html").get_attribute("lang") == "ko"
        assert serious_accessibility_violations(page) == [], "login"
        log_in(page, live_server, member.username)
        found = {}
        for name, url in urls.items():
            page.goto(live_server.url + url)
            assert page.locator("html").get_attribute("lang") == "ko", name
            violations = serious_accessibility_violations(page)
            if violations:
                found[name] = violations
            if SHOTS:
                page.screenshot(path=os.path.join(SHOTS, f"ko-{name}-{width}.png"), full_page=True)
        assert found == {}
    finally:
        context.close()
