"""In Chromium (issue 20): a member saves a reference to the team library; a teammate picks
it in the composer, applies a team preset with one click (its defaults fill the form, the
final prompt shows), generates, and sees the member's words, the preset and the prompt
sent on the image's page. At 1280 and 390 px, in English and Korean, axe-clean in the
light and the dark scheme, with no console error and no failed request."""

import os

import pytest

from generations import presets
from generations.models import Generation, LibraryAsset

from .browser import log_in, serious_accessibility_violations, sideways_overflow, watch_problems
from .conftest import make_user
from .sharing_builders import add_reference, make_generation, png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("BANANA_SCREENSHOTS")


def watched_context(browser, *, locale, width):
    context = browser.new_context(
        # axe is injected as an inline script: only these contexts bypass the policy
        # (test_content_security_policy.py checks the pages keep to it).
        bypass_csp=True,
        locale=locale,
        viewport={"width": width, "height": 844 if width < 600 else 900},
        is_mobile=width < 600,
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page, watch_problems(page)


def check_page(page, name, tag):
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        assert serious_accessibility_violations(page) == [], (name, scheme)
        if SHOTS:
            page.screenshot(path=os.path.join(SHOTS, f"{tag}-{name}-{scheme}.png"), full_page=True)
    assert sideways_overflow(page) <= 0, name


@pytest.mark.parametrize("width", [1280, 390])
@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
def test_library_asset_and_team_preset_from_another_members_composer(
    browser, live_server, member, admin_user, with_webhooks, locale, width
):
    tag = f"{locale[:2]}-{width}"
    teammate = make_user("tae")
    from generations import credits

    credits.grant(teammate, 100, reason="test budget")
    original = make_generation(member, prompt="Our mascot, waving")
    add_reference(original)
    preset = presets.save(
        admin_user,
        name="House style",
        template="{prompt}, studio photo",
        scope="team",
        aspect_ratio="16:9",
    )

    # The member saves a reference of theirs to the library.
    context, page, problems = watched_context(browser, locale=locale, width=width)
    try:
        log_in(page, live_server, member.username)
        page.goto(f"{live_server.url}/g/{original.pk}/")
        saver = page.locator(".references details.save-to-library").first
        saver.locator("summary").click()
        saver.locator("input[name=name]").fill("Mascot")
        saver.locator("input[name=tags]").fill("mascot character")
        saver.locator("button[type=submit]").click()
        page.locator(".references p.note[role=status]").wait_for()
        check_page(page, "detail-saved", tag)
        # An upload on the library page: the button shows the chosen file's name.
        page.goto(f"{live_server.url}/library/")
        page.set_input_files(
            "#id_asset-image",
            files=[{"name": "logo.png", "mimeType": "image/png", "buffer": png_bytes("navy")}],
        )
        page.locator("[data-shows-file-name] .button", has_text="logo.png").wait_for()
        page.fill("#id_asset-name", "Logo")
        page.fill("#id_asset-tags", "brand")
        page.click("form[enctype] button[type=submit]")
        page.locator(".library-asset", has_text="Logo").wait_for()
        page.goto(f"{live_server.url}/library/?q=%23mascot")
        page.locator(".library-asset", has_text="Mascot").wait_for()
        assert page.locator(".library-asset").count() == 1
        check_page(page, "library", tag)
        assert problems == []
    finally:
        context.close()
    asset = LibraryAsset.objects.get(name="Mascot")
    assert asset.owner == member and asset.visibility == "team"
    assert LibraryAsset.objects.get(name="Logo").tags == " brand "

    # A teammate uses it from their composer, with the team's preset.
    context, page, problems = watched_context(browser, locale=locale, width=width)
    try:
        log_in(page, live_server, teammate.username)
        page.locator("#compose").wait_for()
        page.fill("#id_prompt", "a mug on a desk")
        page.click(f"[data-apply-preset='{preset.pk}']")
        page.locator("#final-prompt q").wait_for()
        page.wait_for_function(
            "() => document.querySelector('#final-prompt q')?.textContent"
            " === 'a mug on a desk, studio photo'"
        )
        assert page.input_value("#id_aspect_ratio") == "16:9"
        assert page.get_attribute(f"[data-apply-preset='{preset.pk}']", "aria-pressed") == "true"
        page.click("[data-open-library]")
        page.fill("#library-search", "masc")
        page.locator("#library-picker [data-add-library-asset]").first.wait_for()
        check_page(page, "studio-library-picker", tag)
        page.click(f"#library-picker [data-add-library-asset='{asset.pk}']")
        page.locator("#compose [data-library-chosen] li").wait_for()
        check_page(page, "studio-preset", tag)
        page.click("#compose button[type=submit]")
        page.locator("#cards img.result").first.wait_for(timeout=30_000)
        generation = Generation.objects.get(owner=teammate)
        assert generation.prompt == "a mug on a desk, studio photo"
        assert generation.member_prompt == "a mug on a desk"
        assert generation.aspect_ratio == "16:9"
        assert generation.references.get().library_asset == asset
        assert len(with_webhooks.tasks[generation.upstream_task_id]["images"]) == 1

        page.goto(f"{live_server.url}/g/{generation.pk}/")
        text = page.locator(".detail dl").inner_text()
        assert "a mug on a desk, studio photo" in text
        assert "House style" in text
        assert "a mug on a desk\n" in text + "\n"
        check_page(page, "detail-preset", tag)
        page.goto(f"{live_server.url}/presets/")
        check_page(page, "presets", tag)
        assert problems == []
    finally:
        context.close()
    asset.refresh_from_db()
    assert asset.use_count == 1
