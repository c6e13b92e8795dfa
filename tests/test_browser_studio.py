"""In Chromium, the studio as a member uses it all day: every model and size, several images
per submit, retry where it is offered, an expired session, references dropped and pasted,
the lightbox, and a collection downloaded as a ZIP."""

import io
import zipfile
from decimal import Decimal

import pytest
from django.contrib.sessions.models import Session

from generations import boards, catalogue, credits, upstream
from generations.credits import format_credits
from generations.models import CreditAccount, Favourite, Generation, ResultImage

from .browser import log_in, open_composer_settings
from .sharing_builders import make_generation, png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def price_text(amount):
    unit = "credit" if amount == 1 else "credits"
    return f"Costs {format_credits(amount)} {unit}"


def wait_for_price(page, expected):
    try:
        page.wait_for_function(
            "text => document.querySelector('#price').textContent.trim() === text", arg=expected
        )
    except Exception:
        raise AssertionError(f"{page.inner_text('#price')!r} != {expected!r}") from None


def test_every_model_size_and_count_keeps_the_form_and_the_price_follows(
    page, live_server, member, emulator
):
    log_in(page, live_server, member.username)
    page.fill("#id_prompt", "A quiet harbour at dawn")
    open_composer_settings(page)
    page.select_option("#id_aspect_ratio", "16:9")
    for option in catalogue.model_options():
        page.select_option("#id_model", option.id)
        size_field = page.locator("#field-image_size")
        if not option.sizes:
            assert size_field.is_hidden(), option.id
            wait_for_price(page, price_text(credits.price_of_choice(option.id, "")))
        for size in option.sizes:
            assert size_field.is_visible(), option.id
            page.select_option("#id_image_size", size)
            wait_for_price(page, price_text(credits.price_of_choice(option.id, size)))
            for count in ("3", "1"):
                page.select_option("#id_count", count)
                expected = credits.price_of_job(option.id, size, count)
                wait_for_price(page, price_text(expected))
        # Whatever was chosen, the form is whole and nothing typed or chosen was lost.
        assert page.locator("#compose #id_prompt").count() == 1
        assert page.input_value("#id_prompt") == "A quiet harbour at dawn"
        assert page.input_value("#id_aspect_ratio") == "16:9"
        assert page.input_value("#id_model") == option.id

    # A 4K image: the hold is the price shown.
    page.select_option("#id_model", "google/gempix2")
    page.select_option("#id_image_size", "4k")
    wait_for_price(page, price_text(Decimal("1.0")))
    page.click("#compose button[type=submit]")
    page.locator("#cards .tile").first.wait_for()
    generation = Generation.objects.get()
    assert generation.image_size == "4k"
    assert generation.hold_amount == Decimal("1.0")
    # The prompt and choices stay for the next try.
    assert page.input_value("#id_prompt") == "A quiet harbour at dawn"
    assert page.input_value("#id_image_size") == "4k"


def test_a_model_without_sizes_sends_none_and_the_size_comes_back_with_one_that_takes_it(
    page, live_server, member, emulator
):
    log_in(page, live_server, member.username)
    open_composer_settings(page)
    page.select_option("#id_model", "google/gempix2")
    page.select_option("#id_image_size", "2k")
    page.select_option("#id_model", "google/nano-banana")
    assert page.locator("#field-image_size").is_hidden()
    page.fill("#id_prompt", "No size for this one")
    page.click("#compose button[type=submit]")
    page.locator("#cards .tile").first.wait_for()
    generation = Generation.objects.get()
    assert (generation.model, generation.image_size) == ("google/nano-banana", "")
    assert generation.hold_amount == credits.price_of_choice("google/nano-banana", "")

    page.select_option("#id_model", "google/nano-banana-pro")
    assert page.input_value("#id_image_size") == "2k"


def test_a_four_image_job_shows_four_images_in_one_card(page, live_server, member, emulator):
    log_in(page, live_server, member.username)
    page.fill("#id_prompt", "Four bananas, four ways")
    open_composer_settings(page)
    page.select_option("#id_count", "4")
    wait_for_price(page, price_text(Decimal("2")))
    page.click("#compose button[type=submit]")

    job = page.locator("#cards .job").first
    job.locator("img.result").nth(3).wait_for(timeout=30_000)
    assert job.locator(".tile").count() == 4
    assert page.locator("#cards .job").count() == 1
    generations = Generation.objects.all()
    assert generations.count() == 4
    assert len({g.job_id for g in generations}) == 1
    assert len({g.upstream_task_id for g in generations}) == 4
    assert all(g.results.filter(state=ResultImage.State.STORED).exists() for g in generations)
    account = CreditAccount.objects.get(user=member)
    assert account.held == 0
    assert account.balance == Decimal("998")


def test_retry_on_a_failed_generations_own_page_starts_a_new_run(
    page, live_server, member, emulator
):
    failed = make_generation(
        member, prompt="A banana that failed", status="failed", error_message="It broke."
    )
    log_in(page, live_server, member.username)
    page.goto(f"{live_server.url}/g/{failed.pk}/")
    assert "not charged" in page.inner_text(f"#card-{failed.pk}")

    page.click(f"#card-{failed.pk} button:has-text('Retry')")

    retry = None
    page.wait_for_url(lambda url: str(failed.pk) not in url and "/g/" in url)
    retry = Generation.objects.exclude(pk=failed.pk).get()
    assert retry.retry_of_id == failed.pk
    assert retry.prompt == "A banana that failed"
    assert page.url == f"{live_server.url}/g/{retry.pk}/"


def test_an_expired_session_goes_to_the_login_page_and_back_with_the_prompt_kept(
    page, live_server, member, emulator
):
    log_in(page, live_server, member.username)
    page.goto(f"{live_server.url}/history/")
    page.goto(f"{live_server.url}/")
    page.fill("#id_prompt", "A prompt I typed for a long time")
    open_composer_settings(page)
    page.select_option("#id_aspect_ratio", "3:2")
    Session.objects.all().delete()  # the session expires

    page.click("#compose button[type=submit]")

    page.wait_for_url("**/login/?next=/")
    assert page.locator("#cards").count() == 0  # a whole login page, not one inside a fragment
    page.fill("#id_username", member.username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert page.input_value("#id_prompt") == "A prompt I typed for a long time"
    assert page.input_value("#id_aspect_ratio") == "3:2"
    assert not Generation.objects.exists()

    # Submitted for real this time: the draft is forgotten.
    page.click("#compose button[type=submit]")
    page.locator("#cards .tile").first.wait_for()
    page.reload()
    assert page.input_value("#id_prompt") == ""


def test_an_expired_session_on_a_poll_or_a_menu_never_puts_a_login_page_in_a_fragment(
    page, live_server, member, emulator
):
    generation = make_generation(member, prompt="Menu after logout")
    log_in(page, live_server, member.username)
    page.goto(f"{live_server.url}/history/")
    Session.objects.all().delete()

    page.click(f"#card-{generation.pk} .menu summary")

    page.wait_for_url("**/login/?next=/history/")
    assert page.locator(".menu-items").count() == 0


def drop_files(page, selector, files):
    """Drop files onto an element, as a drag from the desktop does."""
    page.evaluate(
        """([selector, files]) => {
            const transfer = new DataTransfer();
            for (const [name, bytes] of files) {
                transfer.items.add(new File([new Uint8Array(bytes)], name, {type: 'image/png'}));
            }
            const target = document.querySelector(selector);
            for (const type of ['dragenter', 'dragover', 'drop']) {
                const init = {bubbles: true, cancelable: true, dataTransfer: transfer};
                target.dispatchEvent(new DragEvent(type, init));
            }
        }""",
        [selector, files],
    )


def paste_file(page, selector, name, data):
    page.evaluate(
        """([selector, name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: 'image/png'}));
            const init = {bubbles: true, cancelable: true, clipboardData: transfer};
            const event = new ClipboardEvent('paste', init);
            document.querySelector(selector).dispatchEvent(event);
        }""",
        [selector, name, list(data)],
    )


def test_references_dropped_and_pasted_show_as_thumbnails_can_be_reordered_and_are_sent(
    page, live_server, member, emulator
):
    log_in(page, live_server, member.username)
    page.fill("#id_prompt", "Mix these")
    red, blue, green = (list(png_bytes(c)) for c in ("red", "blue", "green"))
    drop_files(page, "#compose .dropzone", [("red.png", red), ("blue.png", blue)])
    paste_file(page, "#id_prompt", "green.png", bytes(green))

    thumbs = page.locator("#compose .ref-list img")
    # Each file is checked as it is added (type, bytes, pixels) before it shows.
    thumbs.nth(2).wait_for()
    assert thumbs.count() == 3
    assert page.inner_text("#compose [data-ref-count]") == "3 of 4 references"
    page.click("#compose .ref-list button[aria-label='Move earlier: green.png']")
    page.click("#compose .ref-list button[aria-label='Remove: blue.png']")
    assert [thumbs.nth(i).get_attribute("alt") for i in range(thumbs.count())] == [
        "red.png",
        "green.png",
    ]
    assert page.evaluate("document.querySelector('#id_reference_files').files.length") == 2

    page.click("#compose button[type=submit]")
    page.locator("#cards .tile").first.wait_for()
    generation = Generation.objects.get()
    colours = []
    for reference in generation.references.order_by("position"):
        from PIL import Image

        with reference.file.open("rb") as fh:
            colours.append(Image.open(fh).convert("RGB").getpixel((0, 0)))
    assert colours == [(255, 0, 0), (0, 128, 0)]
    # The references stay chosen for the next try.
    assert page.evaluate("document.querySelector('#id_reference_files').files.length") == 2


def test_more_than_four_references_are_refused_as_they_are_added(
    page, live_server, member, emulator
):
    log_in(page, live_server, member.username)
    files = [(f"{i}.png", list(png_bytes())) for i in range(upstream.MAX_REFERENCE_IMAGES + 1)]
    drop_files(page, "#compose .dropzone", files)
    page.locator("[data-ref-error]").wait_for()
    assert page.locator("#compose .ref-list img").count() == upstream.MAX_REFERENCE_IMAGES
    assert page.inner_text("#compose [data-ref-count]") == "4 of 4 references"


def test_lightbox_opens_on_a_card_moves_with_arrow_keys_and_closes_with_escape(
    page, live_server, member
):
    for prompt in ("First banana", "Second banana", "Third banana"):
        make_generation(member, prompt=prompt)
    log_in(page, live_server, member.username)
    page.goto(f"{live_server.url}/history/")

    page.locator(".shot a").first.click()
    box = page.locator("#lightbox")
    assert box.is_visible()
    assert page.inner_text("#lightbox-prompt") == "Third banana"
    assert page.inner_text("#lightbox-position") == "1 / 3"
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#lightbox-prompt") == "Second banana"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert page.inner_text("#lightbox-prompt") == "First banana"
    page.wait_for_function(
        "() => { const i = document.querySelector('#lightbox-image');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    page.keyboard.press("Escape")
    assert box.is_hidden()
    assert page.url == f"{live_server.url}/history/"


def test_bulk_download_of_a_collection_is_a_zip_of_its_images(page, live_server, member):
    collection = boards.create_collection(member, "Holiday")
    items = [make_generation(member, prompt=f"Beach {i}") for i in range(3)]
    for generation in items:
        boards.add_to_collection(collection, generation)
    log_in(page, live_server, member.username)
    page.goto(f"{live_server.url}/collections/{collection.pk}/")

    page.click("[data-select-all]")
    assert page.inner_text("[data-bulk-count]") == "3 selected"
    with page.expect_download() as info:
        page.click("#bulk button:has-text('Download ZIP')")
    path = info.value.path()
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert len(names) == 3
        for name in names:
            assert name.endswith(".png")
            from PIL import Image

            assert Image.open(io.BytesIO(archive.read(name))).size == (64, 48)


def test_shift_click_selects_a_range_and_bulk_delete_removes_them(page, live_server, member):
    rows = [make_generation(member, prompt=f"Row {i}") for i in range(4)]
    log_in(page, live_server, member.username)
    page.goto(f"{live_server.url}/history/")
    boxes = page.locator("[data-select]")
    boxes.nth(0).click()
    boxes.nth(2).click(modifiers=["Shift"])
    assert page.inner_text("[data-bulk-count]") == "3 selected"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#bulk button[value=delete]")
    page.wait_for_url(f"{live_server.url}/history/")
    assert page.locator(".tile").count() == 1
    alive = Generation.objects.filter(deleted_at__isnull=True)
    assert list(alive.values_list("pk", flat=True)) == [rows[0].pk]  # the oldest, shown last


def test_a_refused_submit_keeps_the_files_and_its_message_goes_once_it_no_longer_applies(
    page, live_server, member, emulator
):
    log_in(page, live_server, member.username)
    drop_files(page, "#compose .dropzone", [("red.png", list(png_bytes("red")))])
    page.locator("#compose .ref-list img").wait_for()
    page.fill("#id_prompt", "   ")  # not empty to the browser, no prompt to the server
    page.keyboard.press("Control+Enter")  # submits from the keyboard

    error = page.locator("#errors-prompt .error")
    error.wait_for()
    assert page.evaluate("document.querySelector('#id_reference_files').files.length") == 1
    assert page.locator("#compose .ref-list img").count() == 1

    page.fill("#id_prompt", "Now with words")
    page.keyboard.press("Control+Enter")
    page.locator("#cards .tile").first.wait_for()
    assert page.locator("#errors-prompt .error").count() == 0
    assert Generation.objects.get().references.count() == 1


def test_a_cards_menu_works_from_the_keyboard_and_remix_fills_the_form_in_place(
    page, live_server, member
):
    original = make_generation(member, prompt="A banana in a teacup", aspect_ratio="4:3")
    log_in(page, live_server, member.username)
    page.fill("#id_prompt", "something else")
    page.evaluate("window.__samePage = true")

    page.focus(f"#card-{original.pk} .menu summary")
    page.keyboard.press("Enter")
    first = page.locator(f"#card-{original.pk} .menu-items a").first
    first.wait_for()
    page.wait_for_function("() => document.activeElement.closest('.menu-items') !== null")
    page.keyboard.press("Escape")
    assert page.locator(f"#card-{original.pk} .menu[open]").count() == 0
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"

    page.keyboard.press("Enter")
    page.click(f"#card-{original.pk} .menu-items a:has-text('Remix')")
    page.wait_for_function(
        "() => document.querySelector('#id_prompt').value === 'A banana in a teacup'"
    )
    assert page.input_value("#id_aspect_ratio") == "4:3"
    # Focus moves once the swap settles (htmx's settle delay follows the swap).
    page.wait_for_function("() => document.activeElement.id === 'id_prompt'")
    assert page.evaluate("window.__samePage") is True
    assert page.url == f"{live_server.url}/"


def test_cancel_retry_and_favourite_act_from_the_cards_which_carry_no_form_of_their_own(
    page, browser, live_server, member, emulator
):
    failed = make_generation(member, prompt="A banana that failed", status="failed")
    queued = make_generation(member, prompt="A banana still waiting", status="queued")
    done = make_generation(member, prompt="A finished banana")
    log_in(page, live_server, member.username)
    assert page.locator("#cards .tile").count() == 3
    assert page.locator("#cards form").count() == 0

    page.click(f"#card-{queued.pk} button:has-text('Cancel')")
    page.locator(f"#card-{queued.pk}[data-status=failed]").wait_for()
    assert Generation.objects.get(pk=queued.pk).status == "failed"

    page.click(f"#card-{failed.pk} button:has-text('Retry')")
    page.locator("#cards .job").nth(3).wait_for()
    assert Generation.objects.get(retry_of=failed).prompt == "A banana that failed"

    # Favourite, from the card's menu and the keyboard: the toggle swaps in place, keeps focus.
    page.focus(f"#card-{done.pk} .menu summary")
    page.keyboard.press("Enter")
    toggle = page.locator(f"#card-{done.pk} .menu-items button[aria-pressed]")
    toggle.wait_for()
    # htmx takes over the menu's buttons once the swap settles (a click before that posts the
    # page's form, as without JavaScript).
    page.wait_for_function("() => !document.querySelector('.htmx-settling')")
    toggle.focus()
    page.keyboard.press("Enter")
    page.locator(f"#card-{done.pk} .menu-items button[aria-pressed=true]").wait_for()
    assert Favourite.objects.filter(user=member, generation=done).exists()
    page.wait_for_function("() => document.activeElement.matches('button[aria-pressed]')")
    assert page.url == f"{live_server.url}/"

    # Without JavaScript the same buttons post the page's one form and come back to the page.
    context = browser.new_context(
        java_script_enabled=False, storage_state=page.context.storage_state()
    )
    plain = context.new_page()
    try:
        plain.goto(f"{live_server.url}/g/{done.pk}/")
        plain.click("button[aria-pressed=true]")
        plain.locator("button[aria-pressed=false]").wait_for()
        assert plain.url == f"{live_server.url}/g/{done.pk}/"
        assert not Favourite.objects.filter(user=member, generation=done).exists()
    finally:
        context.close()


def test_each_team_gallery_filter_starts_at_any_and_each_choice_shows_only_its_cards(
    page, live_server, member, teammate
):
    make_generation(member, prompt="Mine, done")
    make_generation(teammate, prompt="Theirs, done")
    log_in(page, live_server, member.username)
    page.goto(f"{live_server.url}/gallery/")
    page.click("summary:has-text('Filter')")

    for select in ("#id_member", "#id_model", "#id_status"):
        first = page.locator(f"{select} option").first
        assert (first.get_attribute("value"), first.inner_text()) == ("", "Any"), select
    for name, prompt in ((member.username, "Mine, done"), (teammate.username, "Theirs, done")):
        page.select_option("#id_member", label=name)
        page.click("form.filters button[type=submit]")
        page.wait_for_url("**member=**")
        page.locator(f"#cards .prompt:has-text('{prompt}')").wait_for()
        assert page.locator("#cards .card").count() == 1, name
        assert page.input_value("#id_member") != ""
