"""In Chromium, the seams between the studio (issue 19) and threads, library and presets
(issue 20): Edit in the lightbox, the composer's reference count with library assets, and
a style preset applied in the in-place edit form. At 1280 and 390 px, in English and
Korean, light and dark, axe-clean, with no console error and no failed request.

Selectors name attributes and addresses, not words, so one walk serves both languages."""

import os

import pytest

from generations.models import Generation

from .browser import log_in, serious_accessibility_violations, sideways_overflow
from .sharing_builders import make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("BANANA_SCREENSHOTS") or "/tmp/gaps-shots"

CASES = [(1280, "en", "light"), (390, "ko", "dark")]


def watched_context(browser, *, width, language, scheme):
    context = browser.new_context(
        bypass_csp=True,  # axe is injected inline; test_content_security_policy.py checks ours
        locale="ko-KR" if language == "ko" else "en-US",
        viewport={"width": width, "height": 844 if width < 600 else 800},
        is_mobile=width < 600,
        color_scheme=scheme,
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems = []
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on(
        "requestfailed",
        lambda r: (
            "ERR_ABORTED" not in (r.failure or "")
            and problems.append(f"failed ({r.failure}): {r.url}")
        ),
    )
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status}: {r.url}"))
    return context, page, problems


def check_page(page, name, tag):
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert serious_accessibility_violations(page) == [], (name, scheme)
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"{tag}-{name}-{scheme}.png"))
    assert sideways_overflow(page) <= 0, name


def newest():
    return Generation.objects.latest("created_at")


@pytest.mark.parametrize(("width", "language", "scheme"), CASES)
def test_edit_from_the_lightbox_by_keyboard(
    browser, live_server, member, with_webhooks, width, language, scheme
):
    make_generation(member, prompt="An older image")
    mug = make_generation(member, prompt="A yellow mug on a desk")
    tag = f"lightbox-edit-{width}-{language}-{scheme}"
    context, page, problems = watched_context(
        browser, width=width, language=language, scheme=scheme
    )
    try:
        log_in(page, live_server, member.username)
        page.click(f"#card-{mug.pk} .shot > a")
        page.locator("#lightbox[open]").wait_for()
        position = page.inner_text("#lightbox-position")
        edit = page.locator("#lightbox-edit")
        assert edit.is_visible() and edit.get_attribute("aria-expanded") == "false"
        # From the keyboard: the button opens the follow-up prompt, focus in it.
        edit.focus()
        page.keyboard.press("Enter")
        box = page.locator(f"#lightbox-edit-slot #edit-prompt-{mug.pk}")
        box.wait_for()
        page.wait_for_function(
            "id => document.activeElement && document.activeElement.id === id",
            arg=f"edit-prompt-{mug.pk}",
        )
        assert edit.get_attribute("aria-expanded") == "true"
        page.keyboard.type("make the mug purple")
        # The arrows move the caret in the prompt, not the lightbox to another image.
        page.keyboard.press("ArrowLeft")
        assert page.inner_text("#lightbox-position") == position
        check_page(page, "open", tag)
        before = Generation.objects.count()
        page.locator(f"#lightbox-edit-slot #edit-{mug.pk} button[type=submit]").click()
        page.wait_for_url(lambda url: "/g/" in url)
        assert Generation.objects.count() == before + 1
        made = newest()
        assert made.parent == mug and made.prompt == "make the mug purple"
        assert problems == []
    finally:
        context.close()
