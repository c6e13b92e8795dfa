"""In Chromium, the seams between the studio (issue 19) and threads, library and presets
(issue 20): Edit in the lightbox, the composer's reference count with library assets, and
a style preset applied in the in-place edit form. At 1280 and 390 px, in English and
Korean, light and dark, axe-clean, with no console error and no failed request.

Selectors name attributes and addresses, not words, so one walk serves both languages."""

import os

import pytest
from django.urls import reverse

from generations import library, presets
from generations.models import Generation

from .browser import (
    log_in,
    open_composer_settings,
    serious_accessibility_violations,
    sideways_overflow,
    watch_problems,
)
from .sharing_builders import make_generation, png_bytes

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
    return context, page, watch_problems(page)


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


def references_listed(page, language):
    """Every reference counted is listed — the composer's own and the library's chips —
    visible, with its own remove button; returns how many, after checking the count says so."""
    items = page.locator("#compose [data-ref-list] > li, #compose [data-library-chosen] > li")
    n = items.count()
    said = f"{n} of 4" if language == "en" else f"{n}/4"
    page.wait_for_function(
        "said => document.querySelector('#compose [data-ref-count]').textContent.includes(said)",
        arg=said,
    )
    for i in range(n):
        assert items.nth(i).is_visible()
        assert items.nth(i).locator("button[aria-label]").count() >= 1
    return n


def pick_from_library(page, asset):
    page.click("#compose [data-open-library]")
    page.locator(f"#library-picker [data-add-library-asset='{asset.pk}']").click()
    page.locator("#library-picker").wait_for(state="hidden")


@pytest.mark.parametrize(("width", "language", "scheme"), CASES)
def test_library_assets_count_among_the_references(
    browser, live_server, member, with_webhooks, width, language, scheme
):
    logo = library.upload_asset(member, png_bytes("green"), name="Logo", tags="brand")
    mascot = library.upload_asset(member, png_bytes("yellow"), name="Mascot", tags="brand")
    mug = make_generation(member, prompt="A yellow mug on a desk")
    tag = f"library-count-{width}-{language}-{scheme}"
    context, page, problems = watched_context(
        browser, width=width, language=language, scheme=scheme
    )
    try:
        log_in(page, live_server, member.username)
        # One of every kind: the chosen image, two files, a library asset: four of four.
        page.click(f"#card-{mug.pk} .menu summary")
        # On a phone too: the open menu lies over the composer's sheet, not under it.
        page.locator(f"#card-{mug.pk} .menu-items [data-add-reference]").click()
        page.locator("#compose [data-ref-list] img").first.wait_for()
        page.set_input_files(
            "#id_reference_files",
            [
                {"name": f"{c}.png", "mimeType": "image/png", "buffer": png_bytes(c)}
                for c in ("red", "blue")
            ],
        )
        page.locator("#compose [data-ref-list] img").nth(2).wait_for()
        pick_from_library(page, logo)
        assert references_listed(page, language) == 4
        error = page.locator("#compose [data-ref-error]")
        assert error.is_hidden()
        # A fifth library asset is refused at once, and says why.
        pick_from_library(page, mascot)
        error.wait_for()
        refusal = error.inner_text()
        assert refusal and references_listed(page, language) == 4
        assert (
            page.locator(f"#compose [data-library-chosen] input[value='{mascot.pk}']").count() == 0
        )
        check_page(page, "full", tag)
        # A fifth file, or a URL, is refused with the same words.
        page.set_input_files(
            "#id_reference_files",
            [{"name": "white.png", "mimeType": "image/png", "buffer": png_bytes("white")}],
        )
        page.wait_for_function(
            "said => document.querySelector('#compose [data-ref-error]').textContent === said"
            " && document.querySelectorAll('#compose [data-ref-list] img').length === 3",
            arg=refusal,
        )
        open_composer_settings(page)
        page.fill("#id_reference_urls", "https://example.com/a.png")
        assert error.inner_text() == refusal
        page.fill("#id_reference_urls", "")
        assert error.is_hidden()
        assert references_listed(page, language) == 4
        # The library chip is removed like the others, from the keyboard; focus goes on.
        remove = page.locator("#compose [data-library-chosen] button[data-remove-library-asset]")
        remove.focus()
        page.keyboard.press("Enter")
        assert references_listed(page, language) == 3
        assert page.evaluate("document.activeElement.matches('[data-open-library]')")
        # The other asset now fits; what the submit sends is what was counted.
        pick_from_library(page, mascot)
        assert references_listed(page, language) == 4
        page.fill("#id_prompt", "Four references")
        page.click("#compose button[type=submit]")
        page.locator("#cards img.result").nth(1).wait_for(timeout=30_000)
        made = Generation.objects.get(prompt="Four references")
        assert made.references.count() == 4
        assert made.references.filter(library_asset=mascot).count() == 1
        # A submit keeps the composer's references, the library's among them, all counted.
        assert references_listed(page, language) == 4
        assert problems == []
    finally:
        context.close()


@pytest.mark.parametrize(("width", "language", "scheme"), CASES)
def test_a_preset_applied_in_the_edit_form(
    browser, live_server, member, with_webhooks, width, language, scheme
):
    logo = library.upload_asset(member, png_bytes("green"), name="Logo", tags="brand")
    house = presets.save(
        member,
        name="House style",
        template="{prompt}, studio photo",
        scope="personal",
        aspect_ratio="16:9",
        asset_ids=[logo.pk],
    )
    mug = make_generation(member, prompt="A yellow mug on a desk", aspect_ratio="1:1")
    tag = f"edit-preset-{width}-{language}-{scheme}"
    context, page, problems = watched_context(
        browser, width=width, language=language, scheme=scheme
    )
    try:
        log_in(page, live_server, member.username)
        page.goto(live_server.url + reverse("generation_detail", args=[mug.pk]))
        page.wait_for_load_state("load")
        page.locator(f'[hx-get="{reverse("generation_edit", args=[mug.pk])}"]').first.click()
        box = page.locator(f"#edit-prompt-{mug.pk}")
        box.wait_for()
        box.fill("make the mug purple")
        # The preset from the keyboard; the prompt that will be sent shows as in the composer.
        page.locator(f"#edit-preset-{mug.pk}").select_option(str(house.pk))
        final = page.locator(f"#edit-final-{mug.pk} q")
        final.wait_for()
        page.wait_for_function(
            "id => document.querySelector(id)?.textContent === 'make the mug purple, studio photo'",
            arg=f"#edit-final-{mug.pk} q",
        )
        assert "Logo" in page.inner_text(f"#edit-final-{mug.pk}")
        check_page(page, "form", tag)
        before = Generation.objects.count()
        start = page.url
        page.locator(f"#edit-{mug.pk} button[type=submit]").click()
        page.wait_for_url(lambda url: url != start)
        assert Generation.objects.count() == before + 1
        made = newest()
        assert made.parent == mug
        assert (made.prompt, made.member_prompt) == (
            "make the mug purple, studio photo",
            "make the mug purple",
        )
        assert (made.preset, made.preset_name) == (house, "House style")
        # The image first, then the preset's asset; the image's ratio, not the preset's.
        assert [r.library_asset for r in made.references.order_by("position")] == [None, logo]
        assert made.aspect_ratio == "1:1"
        # The version's page says the words, the preset and the prompt sent.
        text = page.locator(".detail dl").inner_text()
        assert "House style" in text and "make the mug purple, studio photo" in text
        assert problems == []
    finally:
        context.close()


def card_action(page, generation, href):
    """A card's menu opened, one of its actions clicked (over the phone's composer sheet)."""
    page.click(f"#card-{generation.pk} .menu summary")
    page.locator(f'#card-{generation.pk} .menu-items [href="{href}"]').click()


def new_job(page, before):
    """The next job's card in the studio, its image shown; returns its generation."""
    page.wait_for_function(
        "n => document.querySelectorAll('#cards .job').length > n", arg=before, timeout=20_000
    )
    made = newest()
    page.locator(f"#card-{made.pk} img.result").wait_for(timeout=30_000)
    return made


@pytest.mark.parametrize(
    ("width", "language", "scheme"),
    [(1280, "en", "light"), (390, "ko", "dark"), (1280, "ko", "dark"), (390, "en", "light")],
)
def test_the_studio_loop_walked(
    browser, live_server, member, with_webhooks, width, language, scheme
):
    """Generate → edit from the lightbox → apply a preset → pick a library asset → remix →
    use these settings, watching the console and the requests throughout."""
    logo = library.upload_asset(member, png_bytes("green"), name="Logo", tags="brand")
    house = presets.save(
        member, name="House style", template="{prompt}, studio photo", scope="personal"
    )
    tag = f"loop-{width}-{language}-{scheme}"
    context, page, problems = watched_context(
        browser, width=width, language=language, scheme=scheme
    )
    jobs = lambda: page.locator("#cards .job").count()  # noqa: E731
    try:
        log_in(page, live_server, member.username)
        # Generate.
        page.fill("#id_prompt", "A yellow mug on a desk")
        before = jobs()
        page.click("#compose button[type=submit]")
        first = new_job(page, before)
        # Edit it from the lightbox, with the preset.
        page.click(f"#card-{first.pk} .shot > a")
        page.locator("#lightbox[open]").wait_for()
        page.click("#lightbox-edit")
        page.locator(f"#lightbox-edit-slot #edit-prompt-{first.pk}").fill("make the mug purple")
        page.locator(f"#lightbox-edit-slot #edit-preset-{first.pk}").select_option(str(house.pk))
        page.locator(f"#edit-final-{first.pk} q").wait_for()
        check_page(page, "lightbox-edit", tag)
        start = page.url
        page.locator(f"#lightbox-edit-slot #edit-{first.pk} button[type=submit]").click()
        page.wait_for_url(lambda url: url != start)
        version = newest()
        assert version.parent == first and version.preset == house
        page.locator("figure.full-image img.result").wait_for(timeout=30_000)
        check_page(page, "version", tag)
        # Back in the studio: the preset and a library asset in the composer.
        page.goto(live_server.url + reverse("home"))
        page.fill("#id_prompt", "a teapot")
        page.click(f"#compose [data-apply-preset='{house.pk}']")
        page.locator("#final-prompt q").wait_for()
        page.click("#compose [data-open-library]")
        page.click(f"#library-picker [data-add-library-asset='{logo.pk}']")
        assert references_listed(page, language) == 1
        check_page(page, "composer", tag)
        before = jobs()
        page.click("#compose button[type=submit]")
        teapot = new_job(page, before)
        assert (teapot.prompt, teapot.preset) == ("a teapot, studio photo", house)
        assert teapot.references.get().library_asset == logo
        # Remix it, in place: its reference comes along, counted once.
        page.click("#compose [data-library-chosen] [data-remove-library-asset]")
        card_action(page, teapot, reverse("generation_remix", args=[teapot.pk]))
        page.locator("#compose [data-inherited=remix]").wait_for()
        assert references_listed(page, language) == 1
        # The composer swapped in keeps the style presets (and picks the library still).
        assert page.locator(f"#compose [data-apply-preset='{house.pk}']").count() == 1
        assert page.locator("#compose [data-open-library]").count() == 1
        page.fill("#id_prompt", "a teapot, remixed")
        before = jobs()
        page.click("#compose button[type=submit]")
        remixed = new_job(page, before)
        assert remixed.references.count() == 1
        # Use the first image's settings.
        card_action(page, first, reverse("generation_reuse", args=[first.pk]))
        page.wait_for_function(
            "() => document.querySelector('#id_prompt').value === 'A yellow mug on a desk'"
        )
        assert references_listed(page, language) == 0
        assert page.locator(f"#compose [data-apply-preset='{house.pk}']").count() == 1
        check_page(page, "reuse", tag)
        before = jobs()
        page.click("#compose button[type=submit]")
        again = new_job(page, before)
        assert again.prompt == first.prompt and again.model == first.model
        assert problems == []
    finally:
        context.close()


def count_says(page, said):
    page.wait_for_function(
        "said => document.querySelector('#compose [data-ref-count]').textContent.includes(said)",
        arg=said,
    )


@pytest.mark.parametrize(("width", "language", "scheme"), CASES)
def test_a_presets_assets_count_among_the_references(
    browser, live_server, member, with_webhooks, width, language, scheme
):
    logo = library.upload_asset(member, png_bytes("green"), name="Logo", tags="brand")
    mascot = library.upload_asset(member, png_bytes("yellow"), name="Mascot", tags="brand")
    brand = presets.save(
        member,
        name="Brand",
        template="{prompt}, on brand",
        scope="personal",
        asset_ids=[logo.pk, mascot.pk],
    )
    context, page, problems = watched_context(
        browser, width=width, language=language, scheme=scheme
    )
    count = page.locator("#compose [data-ref-count]")
    said = (lambda n: f"{n} of 4") if language == "en" else (lambda n: f"{n}/4")
    try:
        log_in(page, live_server, member.username)
        page.set_input_files(
            "#id_reference_files",
            [
                {"name": f"{c}.png", "mimeType": "image/png", "buffer": png_bytes(c)}
                for c in ("red", "blue")
            ],
        )
        page.locator("#compose [data-ref-list] img").nth(1).wait_for()
        assert said(2) in count.inner_text()
        # The preset brings its two assets: four of four.
        page.click(f"#compose [data-apply-preset='{brand.pk}']")
        count_says(page, said(4))
        # One of them picked as well is counted once.
        page.click("#compose [data-open-library]")
        page.click(f"#library-picker [data-add-library-asset='{logo.pk}']")
        page.locator("#compose [data-library-chosen] li").wait_for()
        assert said(4) in count.inner_text()
        # A fifth file is refused at once.
        page.set_input_files(
            "#id_reference_files",
            [{"name": "white.png", "mimeType": "image/png", "buffer": png_bytes("white")}],
        )
        page.locator("#compose [data-ref-error]").wait_for()
        assert page.locator("#compose [data-ref-list] img").count() == 2
        check_page(page, "preset-full", f"preset-count-{width}-{language}-{scheme}")
        # No preset: its assets go from the count (the picked one stays).
        page.click("#compose [data-apply-preset='']")
        count_says(page, said(3))
        assert problems == []
    finally:
        context.close()
