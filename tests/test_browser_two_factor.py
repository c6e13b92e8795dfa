"""In Chromium: the demo admin (`make run`) opens the admin for the first time, is walked
through setting up an authenticator, and later signs in again with a recovery code."""

from base64 import b32decode

import pytest
from django.core.management import call_command
from django_otp.oath import TOTP

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def admin_login(page, live_server, password):
    page.goto(live_server.url + "/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.click("input[type=submit]")


def test_demo_admin_sets_up_two_step_sign_in_on_first_visit(browser, page, live_server, capsys):
    call_command("ensure_demo_admin")
    password = capsys.readouterr().out.split("Password:")[1].strip()

    admin_login(page, live_server, password)
    page.wait_for_url("**/two-factor/setup/?next=/admin/")
    assert page.locator("figure svg.qr").is_visible()
    page.click("summary")  # "Can't scan? Type the key instead"
    secret = page.inner_text("#totp-secret").replace(" ", "")
    page.fill("#id_code", f"{TOTP(b32decode(secret)).token():06d}")
    page.click("#two-factor-setup button[type=submit]")

    page.wait_for_url("**/two-factor/recovery-codes/?next=/admin/")
    codes = page.locator("#recovery-code-list li").all_inner_texts()
    assert len(codes) == 10
    page.click("#continue")
    page.wait_for_url(live_server.url + "/admin/")
    assert page.locator("#site-name").is_visible()

    # Another browser: the password alone no longer opens the admin; a recovery code does.
    context = browser.new_context()
    try:
        other = context.new_page()
        admin_login(other, live_server, password)
        other.wait_for_url("**/two-factor/verify/?next=/admin/")
        other.fill("#id_code", codes[0].upper())
        other.click("#two-factor-verify button[type=submit]")
        other.wait_for_url(live_server.url + "/admin/")
        assert other.locator("#site-name").is_visible()
    finally:
        context.close()
