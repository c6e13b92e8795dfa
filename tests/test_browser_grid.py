"""In Chromium, the card grid reads well: cards of even height with each image fitted whole,
a density choice remembered in the browser, ratio, size and time on history cards, and the
lightbox with the card's whole action set, swipe on phones and its arrows clear of its
actions (issue 19, item 3)."""

import io
import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from PIL import Image

from generations.models import Favourite

from .browser import log_in, serious_accessibility_violations
from .sharing_builders import make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shaped(member, prompt, size, **extra):
    """A finished generation whose thumbnail has the given width and height."""
    generation = make_generation(member, prompt=prompt, **extra)
    result = generation.results.get()
    buffer = io.BytesIO()
    Image.new("RGB", size, "#3a6ea5").save(buffer, "PNG")
    result.thumbnail.save("thumb.png", ContentFile(buffer.getvalue()), save=False)
    result.thumbnail_width, result.thumbnail_height = size
    result.save()
    return generation


def new_page(browser, live_server, member, **options):
    context = browser.new_context(bypass_csp=True, **options)
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_server, member.username)
    return context, page


def test_cards_are_even_and_each_image_is_shown_whole(browser, live_server, member):
    shaped(member, "A tall one", (200, 400))
    shaped(member, "A wide one " + "with a long prompt " * 8, (400, 200))
    shaped(member, "A square one", (300, 300))
    context, page = new_page(browser, live_server, member, viewport={"width": 1280, "height": 800})
    try:
        page.wait_for_function(
            "() => [...document.querySelectorAll('#cards img.result')]"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        heights = page.eval_on_selector_all(
            "#cards .card", "cards => cards.map(c => Math.round(c.getBoundingClientRect().height))"
        )
        assert len(set(heights)) == 1, heights
        fits = page.eval_on_selector_all(
            "#cards img.result",
            "imgs => imgs.map(i => getComputedStyle(i).objectFit)",
        )
        assert fits == ["contain"] * 3
    finally:
        context.close()


def test_the_density_choice_is_remembered_across_pages(browser, live_server, member):
    for i in range(6):
        make_generation(member, prompt=f"Banana {i}")
    context, page = new_page(browser, live_server, member, viewport={"width": 1280, "height": 800})
    try:
        columns = (
            "() => getComputedStyle(document.querySelector('#cards'))"
            ".gridTemplateColumns.split(' ').length"
        )
        comfortable = page.evaluate(columns)
        page.click("[data-density=compact]")
        assert page.get_attribute("[data-density=compact]", "aria-pressed") == "true"
        compact = page.evaluate(columns)
        assert compact > comfortable
        page.goto(f"{live_server.url}/history/")
        assert page.get_attribute("[data-density=compact]", "aria-pressed") == "true"
        assert serious_accessibility_violations(page) == []
        compact_history = page.evaluate(columns)
        page.click("[data-density=comfortable]")
        page.reload()
        assert page.get_attribute("[data-density=comfortable]", "aria-pressed") == "true"
        assert page.evaluate(columns) < compact_history
    finally:
        context.close()


def test_history_cards_show_ratio_size_and_time(page, live_server, member):
    generation = make_generation(member, prompt="Sized", aspect_ratio="16:9", image_size="2k")
    log_in(page, live_server, member.username)
    page.goto(f"{live_server.url}/history/")
    meta = page.inner_text(f"#item-{generation.pk} .meta")
    assert "16:9" in meta and "2K" in meta
    # The time of day, not only the date (Django writes 11 p.m. without ":00" on the hour).
    shown = page.inner_text(f"#item-{generation.pk} time")
    assert re.search(r"\d(:\d\d)? [ap]\.m\.", shown), shown


def test_the_lightbox_has_every_action_and_favourite_works(page, live_server, member):
    generation = make_generation(member, prompt="Lightbox banana")
    log_in(page, live_server, member.username)
    page.locator(".shot a").first.click()
    assert page.get_attribute("#lightbox-remix", "href") == f"/g/{generation.pk}/remix/"
    use = reverse("generation_use_as_reference", args=[generation.pk, 0])
    assert page.get_attribute("#lightbox-use", "href") == use
    for action in (
        "#lightbox-vary",
        "#lightbox-favourite",
        "#lightbox-delete",
        "#lightbox-download",
    ):
        assert page.locator(action).is_visible(), action
    page.click("#lightbox-favourite")
    page.wait_for_load_state()
    page.wait_for_function("() => !document.querySelector('#lightbox').open")
    assert Favourite.objects.filter(user=member, generation=generation).exists()


def test_a_teammates_image_in_the_lightbox_cannot_be_deleted_from_it(
    page, live_server, member, teammate
):
    make_generation(teammate, prompt="Theirs")
    log_in(page, live_server, member.username)
    page.goto(f"{live_server.url}/gallery/")
    page.locator(".shot a").first.click()
    assert page.locator("#lightbox-remix").is_visible()
    assert page.locator("#lightbox-delete").is_hidden()


def test_on_a_phone_the_lightbox_swipes_and_its_arrows_leave_copy_prompt_free(
    browser, live_server, member
):
    for prompt in ("First", "Second", "Third"):
        make_generation(member, prompt=prompt)
    context, page = new_page(
        browser, live_server, member, viewport={"width": 390, "height": 844}, has_touch=True
    )
    try:
        page.goto(f"{live_server.url}/history/")
        page.locator(".shot a").first.click()
        assert page.inner_text("#lightbox-prompt") == "Third"
        for arrow in (".lightbox-nav.prev", ".lightbox-nav.next"):
            overlap = page.evaluate(
                "([a, b]) => { const r = document.querySelector(a).getBoundingClientRect();"
                " const s = document.querySelector(b).getBoundingClientRect();"
                " return !(r.right <= s.left || s.right <= r.left || r.bottom <= s.top"
                " || s.bottom <= r.top); }",
                [arrow, "#lightbox-copy"],
            )
            assert not overlap, arrow
        page.screenshot(path="/tmp/composer-shots/lightbox-phone.png")
        swipe = (
            "dx => { const box = document.querySelector('#lightbox-image');"
            " const at = x => new Touch({identifier: 1, target: box, clientX: x, clientY: 300});"
            " box.dispatchEvent(new TouchEvent('touchstart', {bubbles: true, touches: [at(300)],"
            " changedTouches: [at(300)]}));"
            " box.dispatchEvent(new TouchEvent('touchend', {bubbles: true, touches: [],"
            " changedTouches: [at(300 + dx)]})); }"
        )
        page.evaluate(swipe, -150)
        assert page.inner_text("#lightbox-prompt") == "Second"
        page.evaluate(swipe, 150)
        assert page.inner_text("#lightbox-prompt") == "Third"
    finally:
        context.close()
