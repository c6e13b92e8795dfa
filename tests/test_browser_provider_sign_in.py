"""In Chromium: sign-in with the team's identity provider, a real OpenID Connect provider on
loopback (tests/identity_provider.py), through the whole authorization-code flow with PKCE:
the studio's button, the provider's own login form, and back."""

from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model

from generations.models import ProviderIdentity, TeamSettings

from .identity_provider import CALLBACK_PATH, IdentityProvider, installed_provider, use_provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
User = get_user_model()


@pytest.fixture(scope="module")
def live_provider(live_server, tmp_path_factory):
    """A provider that sends people back to the live server the browser uses."""
    provider = IdentityProvider(
        installed_provider(),
        [live_server.url + CALLBACK_PATH],
        tmp_path_factory.mktemp("identity-provider-browser"),
    )
    yield provider
    provider.stop()


@pytest.fixture
def sso(live_provider, settings):
    live_provider.reset()
    use_provider(settings, live_provider, domains=["example.com"])
    return live_provider


def sign_in_at_the_provider(page, provider, login, password="provider-pw"):
    page.wait_for_url(f"{provider.issuer}/interaction/**")
    page.fill("#login", login)
    page.fill("#password", password)
    page.click("#sign-in")


def test_a_new_member_signs_in_with_the_provider_through_the_whole_flow(page, live_server, sso):
    TeamSettings.objects.create(pk=1, starting_credits=Decimal("10"))
    sso.add_account("ana", name="Ana Lima")
    authorization_requests = []
    page.on(
        "request",
        lambda request: (
            authorization_requests.append(request.url)
            if request.url.startswith(f"{sso.issuer}/auth")
            else None
        ),
    )

    page.goto(live_server.url + "/login/")
    page.click("#provider-sign-in")
    sign_in_at_the_provider(page, sso, "ana")
    page.wait_for_url(live_server.url + "/")

    assert page.inner_text(".who") == "ana"
    assert "10 available" in page.inner_text("#credit-balance")
    query = parse_qs(urlsplit(authorization_requests[0]).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == [live_server.url + CALLBACK_PATH]
    user = User.objects.get(username="ana")
    assert ProviderIdentity.objects.get(user=user).subject == "ana"

    # Signed in at the provider already: the next sign-in here asks nothing there.
    page.click("form[action='/logout/'] button")
    page.wait_for_url(live_server.url + "/login/")
    page.click("#provider-sign-in")
    page.wait_for_url(live_server.url + "/")
    assert page.inner_text(".who") == "ana"


def test_a_person_outside_the_allowed_domains_is_told_why(page, live_server, sso):
    sso.add_account("eve", email="eve@elsewhere.net")

    page.goto(live_server.url + "/login/")
    page.click("#provider-sign-in")
    sign_in_at_the_provider(page, sso, "eve")
    page.wait_for_url(live_server.url + CALLBACK_PATH + "**")

    assert "open to addresses at example.com" in page.inner_text("#provider-refused")
    assert "eve@elsewhere.net" in page.inner_text("#provider-refused")
    assert not User.objects.exists()


def test_a_member_deactivated_in_the_admin_is_signed_out_and_cannot_sign_in_again(
    page, live_server, sso
):
    sso.add_account("ana")
    page.goto(live_server.url + "/login/")
    page.click("#provider-sign-in")
    sign_in_at_the_provider(page, sso, "ana")
    page.wait_for_url(live_server.url + "/")

    user = User.objects.get(username="ana")
    user.is_active = False
    user.save()  # as the admin's change form does

    page.goto(live_server.url + "/gallery/")
    page.wait_for_url(live_server.url + "/login/?next=/gallery/")
    page.click("#provider-sign-in")  # the provider still knows ana: no form there
    page.wait_for_url(live_server.url + CALLBACK_PATH + "**")
    assert "has been deactivated" in page.inner_text("#provider-refused")
    assert page.locator(".who").count() == 0
