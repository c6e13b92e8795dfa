"""In Chromium, every action of a card's ⋯ menu works where cards are shown (the studio, the
member's history, the team gallery), and the menu closes once an action is taken (the
Favourite toggle leaves it open on its new state: test_browser_studio.py)."""

import os

import pytest

from generations.models import Generation, ShareLink

from .browser import log_in
from .sharing_builders import make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def console_errors(page):
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    return errors


def open_menu(page, generation):
    page.click(f"#card-{generation.pk} .menu summary")
    page.locator(f"#card-{generation.pk} .menu-items .menu-list").wait_for()


def test_vary_from_the_studio_menu_adds_the_new_run_to_the_grid_and_closes_the_menu(
    page, live_server, member, emulator
):
    original = make_generation(member, prompt="A studio banana to vary")
    errors = console_errors(page)
    log_in(page, live_server, member.username)

    open_menu(page, original)
    page.click(f"#card-{original.pk} .menu-items button:has-text('Vary')")

    page.wait_for_function("() => document.querySelectorAll('#cards .job').length === 2")
    new_run = Generation.objects.exclude(pk=original.pk).get()
    assert new_run.prompt == "A studio banana to vary"
    assert new_run.owner == member
    page.locator(f"#card-{original.pk} details.menu:not([open])").wait_for()
    assert errors == []


@pytest.mark.parametrize("where", ["/history/", "/gallery/"])
def test_vary_from_a_menu_outside_the_studio_opens_the_new_run(
    page, live_server, member, teammate, emulator, where
):
    # In the gallery the member varies a teammate's image: the new run is the member's own.
    owner = member if where == "/history/" else teammate
    original = make_generation(owner, prompt="A banana to vary elsewhere")
    errors = console_errors(page)
    log_in(page, live_server, member.username)
    page.goto(live_server.url + where)

    open_menu(page, original)
    page.click(f"#card-{original.pk} .menu-items button:has-text('Vary')")

    page.wait_for_url(lambda url: "/g/" in url)
    new_run = Generation.objects.exclude(pk=original.pk).get()
    assert new_run.owner == member
    assert page.url == f"{live_server.url}/g/{new_run.pk}/"
    assert errors == []


def test_remix_from_the_studio_menu_fills_the_form_and_closes_the_menu(
    page, live_server, member, emulator
):
    original = make_generation(member, prompt="A banana to remix")
    errors = console_errors(page)
    log_in(page, live_server, member.username)

    open_menu(page, original)
    page.click(f"#card-{original.pk} .menu-items a:has-text('Remix')")

    page.wait_for_function(
        "() => document.querySelector('#id_prompt').value === 'A banana to remix'"
    )
    page.locator(f"#card-{original.pk} details.menu:not([open])").wait_for()
    assert errors == []


def test_copy_prompt_from_a_menu_copies_and_closes_the_menu(browser, live_server, member):
    original = make_generation(member, prompt="A banana to copy")
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = console_errors(page)
    try:
        log_in(page, live_server, member.username)
        page.goto(live_server.url + "/history/")

        open_menu(page, original)
        page.click(f"#card-{original.pk} .menu-items button:has-text('Copy prompt')")

        page.locator(f"#card-{original.pk} details.menu:not([open])").wait_for()
        page.wait_for_function("() => document.activeElement.matches('.menu summary')")
        assert page.evaluate("() => navigator.clipboard.readText()") == "A banana to copy"
        assert errors == []
    finally:
        context.close()


def test_share_from_a_menu_shows_the_links_options_before_creating_it(page, live_server, member):
    original = make_generation(member, prompt="A banana to share")
    errors = console_errors(page)
    log_in(page, live_server, member.username)
    page.goto(live_server.url + "/history/")

    open_menu(page, original)
    page.click(f"#card-{original.pk} .menu-items summary:has-text('Share (new link)')")

    form = page.locator(f"#card-{original.pk} .menu-share form")
    assert form.locator("select[name=expires_in]").is_visible()
    assert form.locator("input[name=show_prompts]").is_visible()
    assert not ShareLink.objects.exists()  # nothing made yet: the options come first
    if os.environ.get("BANANA_SCREENSHOTS"):
        page.screenshot(path=os.path.join(os.environ["BANANA_SCREENSHOTS"], "menu-share.png"))
    form.locator("input[name=show_prompts]").check()
    form.locator("button[type=submit]").click()

    page.locator(f"#card-{original.pk} #share-created").wait_for()
    link = ShareLink.objects.get()
    assert link.generation_id == original.pk
    assert link.show_prompts and not link.show_author
    assert link.token in page.inner_text(f"#card-{original.pk} #share-created")
    assert errors == []
