"""In Chromium, /api/docs/ reads well in both schemes and on a phone: examples legible in the
dark, every example block reachable by keyboard and named, and table headers in one piece."""

import os

import pytest

from .browser import log_in, serious_accessibility_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/fixes-shots" if os.environ.get("BANANA_SCREENSHOTS") else None


@pytest.fixture
def axe_page(browser):
    # axe is injected as an inline script, which our policy refuses: this context alone
    # bypasses it (test_content_security_policy.py checks the pages keep to it).
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", [(1280, 800), (390, 844)])
def test_the_api_docs_pass_axe_and_every_example_is_reachable_by_keyboard(
    axe_page, live_server, member, scheme, size
):
    page = axe_page
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.emulate_media(color_scheme=scheme)
    log_in(page, live_server, member.username)

    page.goto(live_server.url + "/api/docs/")

    assert serious_accessibility_violations(page) == []
    blocks = page.locator(".api-docs pre")
    assert blocks.count() >= 6
    for i in range(blocks.count()):
        block = blocks.nth(i)
        assert block.get_attribute("tabindex") == "0"
        assert block.get_attribute("aria-label")
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=f"{SHOTS}/api-docs-{scheme}-{size[0]}.png", full_page=True)


def test_the_http_column_header_stays_on_one_line(page, live_server, member):
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server, member.username)

    page.goto(live_server.url + "/api/docs/")

    # One line box per header cell: "HTTP" is never broken into "HTT" / "P".
    lines = page.evaluate(
        """() => [...document.querySelectorAll('.api-docs th')].map(th => {
            const range = document.createRange();
            range.selectNodeContents(th);
            return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
        })"""
    )
    assert lines and all(count == 1 for count in lines), lines
