"""In Chromium: an edit thread walked end to end — generate, edit, edit again, branch from
version 1, compare with the slider from the keyboard, share the thread and open it logged
out — at 1280 and 390 px, in English and Korean, light and dark, axe clean; and a second
member who edits a team image without seeing the first member's private versions.

Selectors name attributes and addresses, not words, so one walk serves both languages."""

import os
import shutil
import tempfile

import pytest
from django.urls import reverse

from generations import credits
from generations.models import Generation, ResultImage

from .browser import log_in, serious_accessibility_violations, sideways_overflow
from .conftest import make_user
from .sharing_builders import make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("BANANA_SCREENSHOTS") or os.path.join(tempfile.gettempdir(), "threads-shots")
WRITE_DOCS = os.environ.get("BANANA_WRITE_SCREENSHOTS") == "1"
DOCS_SHOT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "screenshots", "thread.png"
)


def watched(page):
    """Console errors and failed requests of the page (a navigation's aborted poll aside)."""
    problems = []
    page.on(
        "console",
        lambda m: problems.append(f"console: {m.text} {m.location}") if m.type == "error" else None,
    )
    page.on(
        "requestfailed",
        lambda r: (
            None
            if "ERR_ABORTED" in (r.failure or "")
            else problems.append(f"failed: {r.url} {r.failure}")
        ),
    )
    page.on(
        "response",
        lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None,
    )
    return problems


def newest():
    return Generation.objects.latest("created_at")


def wait_for_image(page, generation):
    """The version's page, reloaded by its poll once the image is kept, shows it."""
    page.wait_for_url(f"**{reverse('generation_detail', args=[generation.pk])}")
    page.locator("figure.full-image img.result").wait_for(timeout=30_000)
    page.wait_for_load_state("load")  # htmx has processed the page
    assert generation.results.filter(state=ResultImage.State.STORED).exists()


def edit_from(page, generation, prompt, shot=None):
    """Open the follow-up prompt of `generation` in place (its Edit / Continue link on the
    page) and submit it; returns the new version once its page shows the image."""
    before = Generation.objects.count()
    start = page.url
    page.locator(f'[hx-get="{reverse("generation_edit", args=[generation.pk])}"]').first.click()
    box = page.locator(f"#edit-prompt-{generation.pk}")
    box.wait_for()
    # Focus moves into the form once htmx has settled the swap.
    page.wait_for_function(
        "id => document.activeElement && document.activeElement.id === id",
        arg=f"edit-prompt-{generation.pk}",
    )
    box.fill(prompt)
    if shot:
        page.screenshot(path=os.path.join(SHOTS, shot), full_page=True)
    page.locator(f"#edit-{generation.pk} button[type=submit]").click()
    page.wait_for_url(lambda url: url != start and not url.endswith("/edit/"))
    assert Generation.objects.count() == before + 1
    made = newest()
    wait_for_image(page, made)
    return made


def axe_clean(page, name, found):
    violations = serious_accessibility_violations(page)
    if violations:
        found[name] = violations


@pytest.mark.parametrize(
    ("width", "language", "scheme"),
    [(1280, "en", "light"), (390, "ko", "dark"), (1280, "ko", "dark"), (390, "en", "light")],
)
def test_generate_edit_edit_branch_compare_share_and_open_logged_out(
    browser, live_server, member, with_webhooks, settings, width, language, scheme
):
    settings.PUBLIC_BASE_URL = live_server.url
    os.makedirs(SHOTS, exist_ok=True)
    tag = f"{width}-{language}-{scheme}"
    context = browser.new_context(
        bypass_csp=True,  # axe is injected inline; test_content_security_policy.py checks ours
        locale="ko-KR" if language == "ko" else "en-US",
        viewport={"width": width, "height": 900 if width > 400 else 844},
        color_scheme=scheme,
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems = watched(page)
    found: dict = {}
    try:
        log_in(page, live_server, member.username)
        # Generate.
        page.fill("#id_prompt", "A yellow mug on a desk")
        page.click("#compose button[type=submit]")
        page.locator(".card img.result").first.wait_for(timeout=30_000)
        v1 = newest()
        page.goto(live_server.url + reverse("generation_detail", args=[v1.pk]))
        wait_for_image(page, v1)
        # Edit, edit again.
        v2 = edit_from(page, v1, "make the mug purple", shot=f"edit-in-place-{tag}.png")
        v3 = edit_from(page, v2, "put it on a wooden table")
        assert (v3.parent, v2.parent) == (v2, v1)
        thread = page.locator("#thread")
        assert "v3 / 3" in thread.inner_text() or "v3 of 3" in thread.inner_text()
        axe_clean(page, "version 3", found)
        # Branch from version 1 (its "Continue from here" on version 3's page).
        branch = edit_from(page, v1, "make it a teapot")
        assert branch.parent == v1 and branch.thread_id == v1.pk
        page.goto(live_server.url + reverse("generation_detail", args=[v1.pk]))
        for child in (v2, branch):  # version 1's page: both leave from it
            link = f'.thread-branches a[href="{reverse("generation_detail", args=[child.pk])}"]'
            assert page.locator(link).count() == 1
        # Compare version 3 with version 2, the slider from the keyboard.
        page.goto(live_server.url + reverse("generation_detail", args=[v3.pk]))
        page.locator(f'a[href="{reverse("generation_compare", args=[v3.pk])}"]').click()
        page.wait_for_url(f"**{reverse('generation_compare', args=[v3.pk])}")
        assert page.locator(".compare-side img").count() == 2
        slider = page.locator("[data-compare-range]")
        slider.focus()
        for _ in range(10):
            page.keyboard.press("ArrowRight")
        assert slider.input_value() == "60"
        cut = page.locator("[data-compare]").evaluate("el => el.style.getPropertyValue('--cut')")
        assert cut == "60%"
        axe_clean(page, "compare", found)
        page.screenshot(path=os.path.join(SHOTS, f"compare-{tag}.png"), full_page=True)
        # Share the thread, with its prompts.
        page.goto(live_server.url + reverse("generation_detail", args=[v3.pk]))
        assert sideways_overflow(page) == 0
        page.screenshot(path=os.path.join(SHOTS, f"thread-{tag}.png"), full_page=True)
        if WRITE_DOCS and (width, language, scheme) == (1280, "en", "light"):
            shutil.copyfile(os.path.join(SHOTS, f"thread-{tag}.png"), DOCS_SHOT)
        page.check(".share-form input[name=whole_thread]")
        page.check(".share-form input[name=show_prompts]")
        page.click(".share-form button[type=submit]")
        url = page.locator(".share-url").first.inner_text().strip()
        assert url.startswith(live_server.url + "/s/")
    finally:
        context.close()
    # Open it logged out: the versions from the first to the shared one, in order.
    visitor = browser.new_context(
        bypass_csp=True,
        locale="ko-KR" if language == "ko" else "en-US",
        viewport={"width": width, "height": 900},
        color_scheme=scheme,
    )
    try:
        public = visitor.new_page()
        public_problems = watched(public)
        assert public.goto(url).status == 200
        assert public.locator(".share-grid img").count() == 3
        text = public.locator("main").inner_text()
        assert text.index("A yellow mug") < text.index("purple") < text.index("wooden table")
        assert "teapot" not in text
        public.wait_for_function(
            "() => [...document.images].every(i => i.complete && i.naturalWidth > 0)"
        )
        axe_clean(public, "shared thread", found)
        assert sideways_overflow(public) == 0
        public.screenshot(path=os.path.join(SHOTS, f"shared-{tag}.png"), full_page=True)
        assert public_problems == [], public_problems
    finally:
        visitor.close()
    assert found == {}
    assert problems == []


def test_a_second_member_edits_a_team_image_without_seeing_private_versions(
    browser, live_server, member, with_webhooks
):
    first = make_generation(member, prompt="Our mascot, a banana with sunglasses")
    secret = make_generation(
        member,
        prompt="a secret idea for the mascot",
        parent=first,
        thread_id=first.pk,
        visibility="private",
    )
    Generation.objects.filter(pk=first.pk).update(thread_id=first.pk)
    second = make_user("tae")
    credits.grant(second, 100, reason="test budget")
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems = watched(page)
    try:
        log_in(page, live_server, second.username)
        # From the team gallery: the card's menu (⋯) opens the follow-up prompt in the card.
        page.goto(live_server.url + reverse("gallery"))
        page.locator(f"#card-{first.pk} details.menu summary").click()
        page.locator(f"#card-{first.pk} .menu-list").wait_for()
        theirs = edit_from(page, first, "give the mascot a hat", shot="edit-in-card.png")
        assert theirs.owner == second and theirs.parent_id == first.pk
        thread = page.locator("#thread").inner_text()
        assert "v2 of 2" in thread
        assert "secret idea" not in page.content()
        assert reverse("generation_detail", args=[secret.pk]) not in page.content()
        page.goto(live_server.url + reverse("gallery"))
        assert "secret idea" not in page.content()
        assert serious_accessibility_violations(page) == []
        page.screenshot(path=os.path.join(SHOTS, "teammate-thread.png"), full_page=True)
    finally:
        context.close()
    assert problems == []
