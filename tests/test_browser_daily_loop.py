"""In Chromium, the daily loop twenty times in a row with different choices: generate, vary
from a card's menu, remix a job that had references, add and remove references (files and a
team library asset), use an image as a reference, another model, size, ratio and count each
round. After every step the price shown is the hold taken (read from the ledger) and every
reference counted — the library's too — is visible and removable (issue 19, "Done when")."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from generations import catalogue, credits, library
from generations.credits import format_credits
from generations.models import CreditLedgerEntry, Generation
from generations.templatetags.credit_tags import credits_label

from .browser import log_in, open_composer_settings
from .sharing_builders import add_reference, make_generation, png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROUNDS = 20


def price_text(amount):
    unit = "credit" if amount == 1 else "credits"
    return f"Costs {format_credits(amount)} {unit}"


def held_for(generations):
    total = CreditLedgerEntry.objects.filter(
        kind=CreditLedgerEntry.Kind.HOLD, generation__in=generations
    ).aggregate(total=Sum("held_delta"))["total"]
    return total or Decimal(0)


def wait_for_jobs(page, n):
    try:
        page.wait_for_function(
            "n => document.querySelectorAll('#cards .job').length >= n", arg=n, timeout=20_000
        )
    except Exception:
        said = page.inner_text("#announcer") + " " + page.inner_text("#compose-errors")
        raise AssertionError(f"no new card; the page says {said!r}") from None


# Every reference the submit takes: the composer's own list and the library picker's chips.
LISTED = "#compose [data-ref-list] li, #compose [data-library-chosen] li"


def references_shown(page):
    """The count the composer shows, after checking that it is the number of references
    listed and that each listed one has its own remove button."""
    page.wait_for_function(
        "listed => { const items = document.querySelectorAll(listed);"
        " const text = document.querySelector('#compose [data-ref-count]').textContent;"
        " return text.startsWith(items.length + ' of 4'); }",
        arg=LISTED,
    )
    items = page.locator(LISTED)
    for i in range(items.count()):
        item = items.nth(i)
        assert item.is_visible()
        assert item.locator("button[aria-label^='Remove']").count() == 1
    return items.count()


def remove_every_reference(page):
    while page.locator(LISTED).count():
        page.locator(LISTED).first.locator("button[aria-label^='Remove']").click()
    assert references_shown(page) == 0


def open_menu(page, generation):
    page.click(f"#card-{generation.pk} .menu summary")
    page.locator(f"#card-{generation.pk} .menu-items a:has-text('Open')").wait_for()


def test_twenty_rounds_of_the_daily_loop(browser, live_server, member, emulator, settings):
    # Twenty rounds take less than a minute, faster than any member's limits allow.
    settings.BANANA_DEFAULT_MAX_IN_FLIGHT = 0
    settings.BANANA_DEFAULT_MAX_PER_MINUTE = 0
    seed = make_generation(member, prompt="A seed image with two references")
    add_reference(seed, 0)
    add_reference(seed, 1)
    logo = library.upload_asset(member, png_bytes("green"), name="Logo", tags="brand")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("requestfailed", lambda r: errors.append(f"{r.url} {r.failure}"))
    models = catalogue.model_options()
    jobs = 1
    try:
        log_in(page, live_server, member.username)
        open_composer_settings(page)
        for i in range(ROUNDS):
            remove_every_reference(page)
            step = i % 5
            expected_refs = 0
            if step == 1:
                # Remix the job that had references, from its card's menu, in place.
                open_menu(page, seed)
                page.click(f"#card-{seed.pk} .menu-items a:has-text('Remix')")
                page.locator("#compose [data-inherited=remix]").nth(1).wait_for()
                assert references_shown(page) == 2
                # One of the two copied references goes (which one changes by round).
                which = "1" if i % 2 else "2"
                page.click(
                    f"#compose button[aria-label='Remove: reference {which} of the original']"
                )
                expected_refs = 1
            elif step == 2:
                # The newest image as a reference, from its card's menu.
                newest = Generation.objects.filter(owner=member).order_by("-created_at").first()
                # Once its image is stored (the page's poll brings it).
                page.locator(f"#card-{newest.pk} img.result").wait_for(timeout=30_000)
                open_menu(page, newest)
                page.click(f"#card-{newest.pk} .menu-items button:has-text('Use as reference')")
                page.locator("#compose [data-ref-list] img").first.wait_for()
                expected_refs = 1
            elif step == 3:
                # Two files chosen, one removed again.
                page.set_input_files(
                    "#id_reference_files",
                    [
                        {"name": f"{c}-{i}.png", "mimeType": "image/png", "buffer": png_bytes(c)}
                        for c in ("red", "blue")
                    ],
                )
                page.locator("#compose [data-ref-list] img").nth(1).wait_for()
                page.click(f"#compose button[aria-label='Remove: red-{i}.png']")
                # And an asset from the team library: counted, shown and removable alike.
                page.click("#compose [data-open-library]")
                page.click(f"#library-picker [data-add-library-asset='{logo.pk}']")
                page.locator("#compose [data-library-chosen] li").wait_for()
                expected_refs = 2
            elif step == 4:
                # Vary the newest job from its card's menu: its own settings, its own price.
                original = Generation.objects.filter(owner=member).order_by("-created_at")[0]
                # Once it is done (a running card is redrawn by the poll, its menu too).
                page.locator(f"#card-{original.pk} img.result").wait_for(timeout=30_000)
                open_menu(page, original)
                page.click(f"#card-{original.pk} .menu-items button:has-text('Vary')")
                jobs += 1
                wait_for_jobs(page, jobs)
                varied = Generation.objects.filter(owner=member).order_by("-created_at")[0]
                assert varied.prompt == original.prompt and varied.pk != original.pk
                hold = held_for([varied])
                assert hold == credits.price_of_choice(original.model, original.image_size)
                card = page.locator(f"#card-{varied.pk}")
                card.wait_for()
                assert credits_label(hold) in card.inner_text(), i
            assert references_shown(page) == expected_refs, i

            # Another model, size, ratio and count each round; the price follows.
            option = models[i % len(models)]
            size = option.sizes[i % len(option.sizes)] if option.sizes else ""
            count = 1 + i % 3
            page.select_option("#id_model", option.id)
            if size:
                page.select_option("#id_image_size", size)
            page.select_option("#id_aspect_ratio", option.aspect_ratios[i % 7])
            page.select_option("#id_count", str(count))
            expected = credits.price_of_job(option.id, size, count)
            page.wait_for_function(
                "text => document.querySelector('#price').textContent.trim() === text",
                arg=price_text(expected),
            )
            prompt = f"Round {i + 1}: a banana, {option.label}, {size or 'default size'}"
            page.fill("#id_prompt", prompt)
            if i % 2:
                page.click("#compose button[type=submit]")
            else:
                page.keyboard.press("Control+Enter")
            jobs += 1
            wait_for_jobs(page, jobs)
            made = list(Generation.objects.filter(prompt=prompt))
            assert len(made) == count, i
            # The price shown is the hold taken, and what was counted is what was sent.
            assert page.inner_text("#price").strip() == price_text(held_for(made)), i
            assert {g.references.count() for g in made} == {expected_refs}, i
            assert {(g.model, g.image_size) for g in made} == {(option.id, size)}, i
        assert errors == []
    finally:
        context.close()
