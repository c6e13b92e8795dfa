"""In Chromium, logged out, a share page worth sending: the image large (its display
variant), a lightbox with keys and swipe, our logo and favicon, a grid for a collection,
Open Graph tags for a preview card, and axe clean in both schemes at both widths.

With BANANA_WRITE_SCREENSHOTS=1 it also writes the README's screenshot of the share page
(docs/screenshots/share-page.png: light, 1280 px, English); the page is rendered every run."""

import io
import os

import pytest
import requests
from django.core.files.base import ContentFile
from PIL import Image, ImageDraw

from generations import boards
from generations.sharing import create_share_link

from .browser import ROOT, serious_accessibility_violations, sideways_overflow
from .sharing_builders import make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = os.path.join(ROOT, "docs", "screenshots", "share-page.png")
PROMPT = "A banana lighthouse at night, long exposure, waves below"


@pytest.fixture
def visitor(browser):
    """Someone the link was sent to: no session. axe is injected inline, which our policy
    refuses, so this context bypasses it (test_content_security_policy.py checks pages)."""
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.problems = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("requestfailed", lambda r: page.problems.append(f"{r.url} {r.failure}"))
    yield page
    context.close()


def with_display_variant(generation, size=(1600, 1200)):
    """The large variant the display pipeline makes (here: a plain picture of that size)."""
    result = generation.results.get()
    width, height = size
    picture = Image.new("RGB", size)
    draw = ImageDraw.Draw(picture)
    for y in range(height):  # a night sky over a warm horizon, and a moon
        t = y / height
        draw.line(
            [(0, y), (width, y)], fill=(int(20 + 200 * t), int(24 + 90 * t), int(70 - 20 * t))
        )
    draw.ellipse([width * 0.6, height * 0.15, width * 0.75, height * 0.35], fill="#f2c230")
    draw.rectangle([0, height * 0.78, width, height], fill="#10243a")
    buffer = io.BytesIO()
    picture.save(buffer, "WEBP")
    result.display.save("display.webp", ContentFile(buffer.getvalue()), save=False)
    result.display_width, result.display_height = size
    result.save()
    return generation


def meta(page, key):
    attribute = "property" if key.startswith("og:") else "name"
    return page.get_attribute(f'meta[{attribute}="{key}"]', "content")


def test_one_shared_image_is_shown_large_with_a_preview_card_logo_and_favicon(
    visitor, live_server, member
):
    generation = with_display_variant(make_generation(member, prompt=PROMPT))
    link = create_share_link(member, generation=generation, show_prompts=True)
    url = f"{live_server.url}/s/{link.token}/"

    response = visitor.goto(url)

    display = f"{live_server.url}/s/{link.token}/images/{generation.pk}/0/display/"
    image = visitor.locator(".share-grid img")
    assert image.get_attribute("src") == display.removeprefix(live_server.url)
    visitor.wait_for_function("() => document.querySelector('.share-grid img').naturalWidth > 0")
    assert image.bounding_box()["width"] >= 400
    assert meta(visitor, "og:image") == display
    assert meta(visitor, "og:title") == "A shared image"
    assert meta(visitor, "og:description") == PROMPT
    assert meta(visitor, "twitter:card") == "summary_large_image"
    assert meta(visitor, "twitter:image") == display
    assert requests.get(display, timeout=10).status_code == 200
    # Our logo and favicon, not an emoji.
    assert visitor.locator(".brand img").count() == 1
    assert "🍌" not in visitor.inner_text("header")
    favicon = visitor.get_attribute("link[rel=icon]", "href")
    assert requests.get(live_server.url + favicon, timeout=10).status_code == 200
    # What README and docs/security.md say: the token never leaves our origin.
    assert response.headers["referrer-policy"] == "same-origin"
    assert meta(visitor, "referrer") == "same-origin"

    if os.environ.get("BANANA_WRITE_SCREENSHOTS") == "1":
        os.makedirs(os.path.dirname(SCREENSHOT), exist_ok=True)
        visitor.emulate_media(color_scheme="light")
        visitor.screenshot(path=SCREENSHOT)

    visitor.click(".share-shot")
    assert visitor.locator("#share-lightbox").is_visible()
    assert visitor.inner_text("#share-lightbox-prompt") == PROMPT
    visitor.keyboard.press("Escape")
    assert visitor.locator("#share-lightbox").is_hidden()
    assert visitor.problems == []


def test_a_shared_collection_is_a_grid_and_its_lightbox_follows_keys_and_swipes(
    visitor, live_server, member
):
    collection = boards.create_collection(member, "Moons")
    for n in range(3):
        boards.add_to_collection(collection, make_generation(member, prompt=f"Moon {n}"))
    link = create_share_link(member, collection=collection)

    visitor.goto(f"{live_server.url}/s/{link.token}/")

    assert visitor.locator(".share-grid li").count() == 3
    tops = {
        round(box["y"])
        for box in (li.bounding_box() for li in visitor.locator(".share-grid li").all())
    }
    assert len(tops) == 1  # side by side at 1280 px
    assert meta(visitor, "og:description") == "3 images made with Banana Studio."
    assert "display/" in meta(visitor, "og:image")

    position = visitor.locator("#share-lightbox-position")

    def shows(text):
        assert position.inner_text() == text
        # Loaded before the next step (a step while it loads would abort it, as browsers do).
        visitor.wait_for_function("() => document.querySelector('#share-lightbox-image').complete")

    visitor.locator(".share-shot").first.click()
    shows("1 / 3")
    visitor.keyboard.press("ArrowRight")
    shows("2 / 3")
    visitor.keyboard.press("ArrowLeft")
    shows("1 / 3")
    visitor.keyboard.press("ArrowLeft")
    shows("3 / 3")
    # A swipe to the left shows the next one.
    box = visitor.locator("#share-lightbox-image").bounding_box()
    y = box["y"] + box["height"] / 2
    visitor.mouse.move(box["x"] + box["width"] - 5, y)
    visitor.mouse.down()
    visitor.mouse.move(box["x"] + 5, y, steps=5)
    visitor.mouse.up()
    shows("1 / 3")
    visitor.keyboard.press("Escape")
    assert visitor.locator("#share-lightbox").is_hidden()
    # The prompts were not shared: the image says only that it is one.
    assert visitor.get_attribute("#share-lightbox-image", "alt") == "A shared image"
    assert visitor.problems == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_share_page_passes_axe_and_fits(visitor, live_server, member, scheme, width, language):
    generation = with_display_variant(make_generation(member, prompt=PROMPT))
    link = create_share_link(member, generation=generation, show_prompts=True, show_author=True)
    visitor.set_viewport_size({"width": width, "height": 844 if width == 390 else 800})
    visitor.emulate_media(color_scheme=scheme)
    visitor.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server.url}]
    )

    visitor.goto(f"{live_server.url}/s/{link.token}/")

    assert visitor.get_attribute("html", "lang") == language
    assert serious_accessibility_violations(visitor) == []
    assert sideways_overflow(visitor) <= 0
    visitor.click(".share-shot")
    assert serious_accessibility_violations(visitor) == []
    assert visitor.problems == []


def test_a_download_button_only_where_the_sharer_allowed_it(visitor, live_server, member):
    allowed = create_share_link(
        member, generation=make_generation(member, prompt=PROMPT), allow_download=True
    )
    not_allowed = create_share_link(member, generation=make_generation(member, prompt=PROMPT))

    visitor.goto(f"{live_server.url}/s/{allowed.token}/")
    with visitor.expect_download() as download:
        visitor.click(".share-download a")
    # The link hides the prompt, so the file's name carries none of it.
    assert download.value.suggested_filename.startswith("banana-image-")
    visitor.click(".share-shot")
    assert (
        visitor.locator("#share-lightbox-download").get_attribute("href").endswith("/0/?download=1")
    )
    visitor.keyboard.press("Escape")

    visitor.goto(f"{live_server.url}/s/{not_allowed.token}/")
    assert visitor.locator(".share-download, #share-lightbox-download").count() == 0
    g = not_allowed.generation
    answer = requests.get(
        f"{live_server.url}/s/{not_allowed.token}/images/{g.pk}/0/?download=1", timeout=10
    )
    assert answer.status_code == 200
    assert "attachment" not in answer.headers.get("content-disposition", "")
    assert visitor.problems == []
