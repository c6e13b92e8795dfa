"""In Chromium, the studio's everyday actions leave the console and the network clean: two
submits in a row from an empty studio, and quick changes of model, size and count."""

import pytest

from generations import credits
from generations.models import Generation

from .browser import log_in
from .test_browser_studio import price_text, wait_for_price

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch(page):
    seen = {"errors": [], "failed": []}
    page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
    page.on("requestfailed", lambda r: seen["failed"].append(f"{r.url} {r.failure}"))
    return seen


def test_two_submits_from_an_empty_studio_log_no_error(page, live_server, member, emulator):
    seen = watch(page)
    log_in(page, live_server, member.username)
    assert page.locator("#no-cards").is_visible()

    for n in (1, 2):
        page.fill("#id_prompt", f"Banana number {n}")
        page.click("#compose button[type=submit]")
        page.wait_for_function("n => document.querySelectorAll('#cards .job').length === n", arg=n)

    assert page.locator("#no-cards").is_hidden()
    assert Generation.objects.count() == 2
    assert seen == {"errors": [], "failed": []}


def test_quick_changes_of_the_choices_abort_no_price_request(page, live_server, member):
    seen = watch(page)
    log_in(page, live_server, member.username)

    # Faster than any answer: each change asks for a price while the last is on its way.
    page.evaluate(
        """() => {
            const pick = (id, value) => {
                const select = document.getElementById(id);
                select.value = value;
                select.dispatchEvent(new Event('change', {bubbles: true}));
            };
            for (const size of ['1k', '2k', '4k', '1k', '4k']) { pick('id_image_size', size); }
            for (const count of ['2', '3', '4']) { pick('id_count', count); }
        }"""
    )

    wait_for_price(page, price_text(credits.price_of_job("google/gempix2", "4k", 4)))
    assert seen == {"errors": [], "failed": []}


def test_notify_me_is_offered_only_while_something_runs(browser, live_server, member):
    from .sharing_builders import make_generation

    context = browser.new_context()
    context.grant_permissions(["notifications"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        done = make_generation(member, prompt="Finished long ago")
        log_in(page, live_server, member.username)
        assert page.locator("[data-notify]").is_hidden()

        running = make_generation(member, prompt="Still going", status="in_progress")
        page.reload()
        page.locator("[data-notify]").wait_for(state="visible")

        # Once it is over, the offer goes with it.
        running.status = "success"
        running.save()
        done.delete()
        page.reload()
        assert page.locator("[data-notify]").is_hidden()
    finally:
        context.close()
