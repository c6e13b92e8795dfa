"""In Chromium, the studio's composer once a member has many cards: prompt, model, price and
Generate on screen at every scroll position (desktop and phone), the settings one click away,
the model's hint, and every reference counted visible and removable, checked as it is added
(issue 19, items 2 and 3)."""

import io
import os

import pytest
from django.core.files.base import ContentFile
from PIL import Image, ImageDraw

from generations import credits, upstream
from generations.credits import format_credits
from generations.models import Generation

from .browser import log_in, serious_accessibility_violations
from .sharing_builders import add_reference, make_generation, png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/composer-shots"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

# True when the element's middle is inside the window and nothing else is drawn over it.
ON_SCREEN = """element => {
  const box = element.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  if (box.width === 0 || y < 0 || y > innerHeight || x < 0 || x > innerWidth) { return false; }
  const top = document.elementFromPoint(x, y);
  return !!top && (top === element || element.contains(top) || top.contains(element));
}"""


def wait_for_text(page, selector, text):
    page.wait_for_function(
        "([selector, text]) => document.querySelector(selector).textContent.trim() === text",
        arg=[selector, text],
    )


def on_screen(page, selector):
    return page.locator(selector).evaluate(ON_SCREEN)


def price_text(amount):
    unit = "credit" if amount == 1 else "credits"
    return f"Costs {format_credits(amount)} {unit}"


def studio_with_cards(browser, live_server, member, viewport, n=14, colour_scheme="light"):
    for i in range(n):
        make_generation(member, prompt=f"Banana number {i}")
    context = browser.new_context(viewport=viewport, color_scheme=colour_scheme, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: errors.append(f"{r.url} {r.failure}"))
    log_in(page, live_server, member.username)
    return context, page, errors


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_prompt_model_price_and_generate_stay_on_screen_at_every_scroll_position(
    browser, live_server, member, emulator, size
):
    context, page, errors = studio_with_cards(browser, live_server, member, SIZES[size])
    try:
        height = page.evaluate("document.documentElement.scrollHeight")
        assert height > 2 * SIZES[size]["height"]  # enough cards to scroll far
        for y in (0, height // 3, height // 2, height):
            page.evaluate("y => window.scrollTo(0, y)", y)
            for selector in ("#id_prompt", "#id_model", "#price", "#compose button[type=submit]"):
                assert on_screen(page, selector), (size, y, selector)
            page.screenshot(path=os.path.join(SHOTS, f"scroll-{size}-{y}.png"))
        # The settings open one click away, and Generate stays on screen.
        page.click("[data-composer-settings] > summary")
        assert page.locator("#id_aspect_ratio").is_visible()
        page.screenshot(path=os.path.join(SHOTS, f"settings-{size}.png"))
        assert on_screen(page, "#compose button[type=submit]")
        page.select_option("#id_aspect_ratio", "16:9")
        page.select_option("#id_count", "2")
        expected = credits.price_of_job("google/gempix2", "", 2)
        page.wait_for_function(
            "text => document.querySelector('#price').textContent.trim() === text",
            arg=price_text(expected),
        )
        assert "16:9" in page.inner_text("[data-settings-summary]")
        assert "\u00d72" in page.inner_text("[data-settings-summary]")  # times two
        assert on_screen(page, "#price") and on_screen(page, "#compose button[type=submit]")
        # Ctrl+Enter still submits, wherever the page is scrolled.
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        page.fill("#id_prompt", "A banana at the bottom of the page")
        page.keyboard.press("Control+Enter")
        page.locator("#cards .job-of-2").first.wait_for()
        made = Generation.objects.filter(prompt="A banana at the bottom of the page")
        assert made.count() == 2
        assert sum(g.hold_amount for g in made) == expected
        assert serious_accessibility_violations(page) == []
        assert errors == []
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_each_model_says_what_it_is_good_for_and_its_price_without_being_cut_off(
    browser, live_server, member, scheme
):
    context, page, errors = studio_with_cards(
        browser, live_server, member, SIZES["desktop"], n=2, colour_scheme=scheme
    )
    try:
        page.select_option("#id_model", "google/nano-banana-pro")
        hint = page.inner_text("#model-hint")
        lowest = credits.price_of_choice("google/nano-banana-pro", "1k")
        assert "legible text" in hint and format_credits(lowest) in hint
        # The chosen model's name fits its picker.
        assert page.evaluate(
            "() => { const s = document.querySelector('#id_model');"
            " const c = document.createElement('canvas').getContext('2d');"
            " c.font = getComputedStyle(s).font;"
            " return c.measureText(s.selectedOptions[0].text).width < s.clientWidth - 24; }"
        )
        page.screenshot(path=os.path.join(SHOTS, f"model-hint-{scheme}.png"))
        assert serious_accessibility_violations(page) == []
        assert errors == []
    finally:
        context.close()


def test_a_remix_shows_the_references_it_copies_counted_and_removable(
    page, live_server, member, teammate, emulator
):
    original = make_generation(teammate, prompt="Two references")
    add_reference(original, 0)
    add_reference(original, 1)
    plain = make_generation(member, prompt="No references at all")
    log_in(page, live_server, member.username)

    # Remixing an image without references says nothing about copied references.
    page.goto(f"{live_server.url}/g/{plain.pk}/remix/")
    assert page.locator("[data-remix-note]").count() == 0
    assert page.inner_text("#compose [data-ref-count]") == "0 of 4 references"

    page.goto(f"{live_server.url}/g/{original.pk}/remix/")
    assert page.locator("[data-remix-note]").is_visible()
    thumbs = page.locator("#compose .ref-list img")
    assert thumbs.count() == 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('#compose .ref-list img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.inner_text("#compose [data-ref-count]") == "2 of 4 references"
    # Two more fit; a third is refused with the reason, not silently.
    page.set_input_files(
        "#id_reference_files",
        [
            {"name": f"{c}.png", "mimeType": "image/png", "buffer": png_bytes(c)}
            for c in ("red", "blue", "yellow")
        ],
    )
    wait_for_text(page, "#compose [data-ref-count]", "4 of 4 references")
    assert "At most 4 references in all." in page.inner_text("[data-ref-error]")
    assert thumbs.count() == upstream.MAX_REFERENCE_IMAGES
    # The first copied one goes, and one of the member's own.
    page.click("#compose button[aria-label='Remove: reference 1 of the original']")
    page.click("#compose button[aria-label='Remove: blue.png']")
    assert page.inner_text("#compose [data-ref-count]") == "2 of 4 references"
    page.fill("#id_prompt", "Two references, remixed")
    page.click("#compose button[type=submit]")
    page.locator("#cards .tile").first.wait_for()
    page.wait_for_function("() => document.querySelectorAll('#cards .job').length === 2")
    remix = Generation.objects.get(prompt="Two references, remixed")
    colours = []
    for reference in remix.references.order_by("position"):
        with reference.file.open("rb") as fh:
            colours.append(Image.open(io.BytesIO(fh.read())).convert("RGB").getpixel((0, 0)))
    assert colours == [(0, 128, 0), (255, 0, 0)]  # the original's second, then red.png


def test_a_huge_image_or_a_text_file_named_png_is_refused_as_it_is_added(page, live_server, member):
    huge = io.BytesIO()
    Image.new("L", (5000, 5000)).save(huge, "PNG")
    log_in(page, live_server, member.username)
    page.set_input_files(
        "#id_reference_files",
        {"name": "huge.png", "mimeType": "image/png", "buffer": huge.getvalue()},
    )
    error = page.locator("[data-ref-error]")
    error.wait_for()
    assert "huge.png" in error.inner_text() and "16,777,216 pixels" in error.inner_text()
    page.set_input_files(
        "#id_reference_files",
        {"name": "notes.png", "mimeType": "image/png", "buffer": b"just some words\n" * 10},
    )
    page.wait_for_function(
        "() => document.querySelector('[data-ref-error]').textContent.includes('notes.png')"
    )
    assert "not a PNG, JPEG or WebP image" in error.inner_text()
    assert page.locator("#compose .ref-list li").count() == 0
    assert page.inner_text("#compose [data-ref-count]") == "0 of 4 references"
    assert page.evaluate("document.querySelector('#id_reference_files').files.length") == 0


def test_an_image_already_a_reference_is_not_added_twice_and_says_so(page, live_server, member):
    shown = make_generation(member, prompt="Use me twice")
    log_in(page, live_server, member.username)
    for _ in range(2):
        page.click(f"#card-{shown.pk} summary")
        page.click(f"#card-{shown.pk} button:has-text('Use as reference')")
    page.wait_for_function(
        "() => document.querySelector('[data-ref-error]').textContent.includes('already a')"
    )
    assert page.locator("#compose .ref-list img").count() == 1
    assert page.inner_text("#compose [data-ref-count]") == "1 of 4 references"


def picture(colour):
    """A simple picture for a screenshot: a sun over hills in the given colour."""
    image = Image.new("RGB", (384, 384), "#fbf3dc")
    draw = ImageDraw.Draw(image)
    draw.ellipse((220, 50, 320, 150), fill="#f7d774")
    draw.polygon([(0, 300), (140, 170), (260, 280), (384, 200), (384, 384), (0, 384)], colour)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_the_studio_screenshot_for_the_readme(browser, live_server, member):
    """docs/screenshots/studio.png: light, 1280 by 800, English, several finished cards. Drawn on
    every run; written only with BANANA_WRITE_SCREENSHOTS=1 (then commit it)."""
    prompts = [
        "A lighthouse on a cliff at dawn, watercolour",
        "A banana-shaped spaceship over a night city",
        "Portrait of a cat in a Renaissance painting",
        "Isometric tiny kitchen, soft pastel light",
        "A koi pond seen from above, autumn leaves",
        "Logo sketch for a lemonade stand",
    ]
    colours = ["#f2c230", "#3a6ea5", "#8a5a44", "#9fc5a0", "#d9534f", "#f5e6a8"]
    for prompt, colour in zip(prompts, colours, strict=True):
        generation = make_generation(member, prompt=prompt, aspect_ratio="1:1")
        result = generation.results.get()
        result.thumbnail.save("thumb.png", ContentFile(picture(colour)), save=False)
        result.thumbnail_width = result.thumbnail_height = 384
        result.save()
    context = browser.new_context(
        viewport={"width": 1280, "height": 800}, color_scheme="light", locale="en-US"
    )
    page = context.new_page()
    try:
        log_in(page, live_server, member.username)
        page.fill("#id_prompt", "A quiet harbour at dawn, fishing boats, soft mist")
        page.wait_for_function(
            "() => [...document.querySelectorAll('#cards img.result')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        page.locator("#id_prompt").blur()
        shot = page.screenshot()
        assert len(shot) > 10_000
        if os.environ.get("BANANA_WRITE_SCREENSHOTS") == "1":
            root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
            os.makedirs(os.path.join(root, "docs", "screenshots"), exist_ok=True)
            with open(os.path.join(root, "docs", "screenshots", "studio.png"), "wb") as fh:
                fh.write(shot)
    finally:
        context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_composer_in_korean_and_dark_stays_at_hand_and_accessible(
    browser, live_server, member, size
):
    from .browser import sideways_overflow

    for i in range(10):
        make_generation(member, prompt=f"바나나 {i}")
    context = browser.new_context(
        viewport=SIZES[size], color_scheme="dark", locale="ko-KR", bypass_csp=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        log_in(page, live_server, member.username)
        assert page.inner_text("#compose button[type=submit]") == "생성"
        page.click("[data-composer-settings] > summary")
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight / 2)")
        for selector in ("#id_prompt", "#id_model", "#price", "#compose button[type=submit]"):
            assert on_screen(page, selector), selector
        assert sideways_overflow(page) == 0
        page.screenshot(path=os.path.join(SHOTS, f"korean-dark-{size}.png"))
        assert serious_accessibility_violations(page) == []
    finally:
        context.close()


def test_use_these_settings_fills_the_composer_in_place_and_a_recent_prompt_comes_back(
    page, live_server, member, emulator
):
    first = make_generation(
        member,
        prompt="A kite over dunes",
        model="google/nano-banana-pro",
        aspect_ratio="16:9",
        image_size="2k",
    )
    Generation.objects.filter(pk=first.pk).update(job_id=first.pk)
    make_generation(
        member,
        prompt="A kite over dunes",
        model="google/nano-banana-pro",
        aspect_ratio="16:9",
        image_size="2k",
        job_id=first.pk,
    )
    add_reference(first, 0)
    make_generation(member, prompt="An older prompt")
    log_in(page, live_server, member.username)
    page.evaluate("window.__samePage = true")

    page.click(f"#card-{first.pk} .menu summary")
    page.click(f"#card-{first.pk} .menu-items a:has-text('Use these settings')")
    page.wait_for_function(
        "() => document.querySelector('#id_prompt').value === 'A kite over dunes'"
    )
    assert page.evaluate("window.__samePage") is True
    assert page.input_value("#id_model") == "google/nano-banana-pro"
    assert page.input_value("#id_aspect_ratio") == "16:9"
    assert page.input_value("#id_image_size") == "2k"
    assert page.input_value("#id_count") == "2"
    assert page.inner_text("#compose [data-ref-count]") == "1 of 4 references"
    expected = credits.price_of_job("google/nano-banana-pro", "2k", 2)
    wait_for_text(page, "#price", price_text(expected))

    page.click("[data-recent-prompts] summary")
    page.click("[data-recent-prompts] button:has-text('An older prompt')")
    assert page.input_value("#id_prompt") == "An older prompt"
    page.keyboard.press("Control+Enter")
    page.wait_for_function("() => document.querySelectorAll('#cards .job').length === 3")
    made = Generation.objects.filter(prompt="An older prompt").exclude(job_id=None)
    assert made.count() == 2
    assert sum(g.hold_amount for g in made) == expected
    assert {g.references.count() for g in made} == {1}
