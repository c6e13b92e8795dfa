"""In Chromium at 1280 by 800, the admin pages staff use for credits and members: our name in
the header, amounts as people read them, the credit accounts table whole, and breadcrumbs
styled on our own admin pages as on Django's."""

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from generations import credits

from .otp_helpers import verified_admin_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff_page(browser, live_server, admin_user):
    """A page signed in as staff with a verified second factor (the session of a client)."""
    client = verified_admin_client(Client(), admin_user)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


PAGES = {
    "accounts": "admin:generations_creditaccount_changelist",
    "usage": "admin:generations_usage",
    "invite": "admin:generations_invitation_add",
    "ledger": "admin:generations_creditledgerentry_changelist",
}


@pytest.mark.parametrize("name", PAGES)
def test_admin_pages_carry_our_name_and_styled_breadcrumbs(staff_page, live_server, name):
    page = staff_page

    page.goto(live_server.url + reverse(PAGES[name]))

    assert page.inner_text("#site-name").strip() == "Banana Studio admin"
    assert "Django administration" not in page.content()
    assert page.title().endswith("Banana Studio admin")
    background = page.eval_on_selector(
        "nav .breadcrumbs", "el => getComputedStyle(el).backgroundColor"
    )
    assert background not in ("rgba(0, 0, 0, 0)", "transparent"), background


def test_the_credit_accounts_table_shows_readable_amounts_and_fits_at_1280(
    staff_page, live_server, member
):
    credits.grant(member, "0.5", reason="a half")
    page = staff_page

    page.goto(live_server.url + reverse(PAGES["accounts"]))

    row = page.locator("#result_list tbody tr", has_text="mina").inner_text()
    assert "1000.5" in row
    assert "000000" not in page.inner_text("#result_list")
    overflow = page.eval_on_selector(".results", "el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"the table is cut by {overflow}px"

    page.goto(live_server.url + reverse(PAGES["ledger"]))
    assert "000000" not in page.inner_text("#result_list")
