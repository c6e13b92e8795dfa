"""The full walk, in Chromium: a member with jobs goes through every page of the site, a
visitor opens a share page logged out, and staff open the admin pages they use — at
1280 by 800 and 390 by 844, in English and Korean, light and dark. On every page: no serious or
critical axe finding, no console error, no failed request, no sideways scrolling.

One browser for the whole run; one context per combination, signed in once (the session
of a test client, so the walk spends its time on the pages, not on the login form)."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from generations import boards
from generations.models import Generation
from generations.sharing import create_share_link

from .browser import serious_accessibility_violations, sideways_overflow
from .otp_helpers import verified_admin_client
from .sharing_builders import add_reference, make_generation

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def member_with_jobs(member):
    done = make_generation(member, prompt="A banana lighthouse at night, long exposure")
    add_reference(done)
    make_generation(member, prompt="A failed one", status="failed", error_message="No image.")
    make_generation(
        member, prompt="Called off", status="failed", error_message=Generation.CANCELLED_MESSAGE
    )
    collection = boards.create_collection(member, "Moons")
    boards.add_to_collection(collection, done)
    link = create_share_link(member, generation=done, show_prompts=True, allow_download=True)
    collection_link = create_share_link(member, collection=collection)
    return done, collection, link, collection_link


def signed_in_context(browser, live_server, user, *, language, scheme, size, staff=False):
    client = Client()
    if staff:
        verified_admin_client(client, user)
    elif user is not None:
        client.force_login(user)
    context = browser.new_context(
        bypass_csp=True,  # axe is injected inline; test_content_security_policy.py checks CSP
        viewport={"width": size[0], "height": size[1]},
        is_mobile=size[0] < 600,
        color_scheme=scheme,
        locale=language,
    )
    cookies = [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
    if user is not None:
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        cookies.append(
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}
        )
    context.add_cookies(cookies)
    return context


def walk(context, live_server, pages, problems, where, language):
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = []
    page.on("console", lambda m: m.type == "error" and seen.append(f"console: {m.text}"))
    page.on("requestfailed", lambda r: seen.append(f"failed: {r.url} {r.failure}"))
    page.on("pageerror", lambda e: seen.append(f"script: {e}"))
    page.on("response", lambda r: r.status >= 400 and seen.append(f"{r.status}: {r.url}"))
    for name, url in pages.items():
        seen.clear()
        response = page.goto(live_server.url + url)
        page.wait_for_load_state("networkidle")
        found = list(seen)
        shown_in = page.get_attribute("html", "lang") or ""
        if not shown_in.startswith(language):
            found.append(f"in {shown_in!r}, not {language!r}")
        if response is None or response.status != 200:
            found.append(f"status {response and response.status}")
        found += [f"axe {v['id']}: {v['nodes']}" for v in serious_accessibility_violations(page)]
        overflow = sideways_overflow(page)
        if overflow > 0 and not name.startswith("admin"):
            found.append(f"{overflow}px sideways")
        if found:
            problems[f"{where} {name}"] = found
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("language", ["en", "ko"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_every_page_of_the_site_in_every_combination(
    browser, live_server, member, admin_user, emulator, scheme, language, size
):
    done, collection, link, collection_link = member_with_jobs(member)
    problems = {}

    member_pages = {
        "studio": reverse("home"),
        "studio-remix": reverse("generation_remix", args=[done.pk]),
        "history": reverse("history"),
        "gallery": reverse("gallery"),
        "detail": reverse("generation_detail", args=[done.pk]),
        "collections": reverse("collections"),
        "collection": reverse("collection_detail", args=[collection.pk]),
        "credits": reverse("credit_ledger"),
        "keys": reverse("api_keys"),
        "api-docs": reverse("api_docs"),
        "settings": reverse("account_settings"),
        "share-links": reverse("share_links"),
        "library": reverse("library"),
        "presets": reverse("presets"),
        "compare": reverse("generation_compare", args=[done.pk]),
    }
    options = {"language": language, "scheme": scheme, "size": size}
    context = signed_in_context(browser, live_server, member, **options)
    try:
        walk(context, live_server, member_pages, problems, "member", language)
    finally:
        context.close()

    context = signed_in_context(browser, live_server, None, **options)
    try:
        public = {
            "share-page": reverse("share_page", args=[link.token]),
            "share-collection": reverse("share_page", args=[collection_link.token]),
            "login": reverse("login"),
        }
        walk(context, live_server, public, problems, "visitor", language)
    finally:
        context.close()

    context = signed_in_context(browser, live_server, admin_user, staff=True, **options)
    try:
        admin_pages = {
            "admin": reverse("admin:index"),
            "admin-accounts": reverse("admin:generations_creditaccount_changelist"),
            "admin-usage": reverse("admin:generations_usage"),
            "admin-invite": reverse("admin:generations_invitation_add"),
            "admin-prices": reverse("admin:generations_modelprice_add"),
        }
        walk(context, live_server, admin_pages, problems, "staff", language)
    finally:
        context.close()

    # The walk changed nothing: no job was sent, none was charged.
    assert not Generation.objects.filter(upstream_task_id__isnull=False).exists()
    assert problems == {}
