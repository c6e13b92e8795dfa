"""Issue 21, finding 8: keys outlived the member's access. A member disabled at the identity
provider kept working API keys; keys survived "sign out everywhere" and a password reset;
requests with `HX-Request` or `Sec-Fetch-Dest: empty` were never checked with the provider
again. Now keys of an inactive member, or of one the provider refused, stop at once; a new
password and "sign out everywhere" offer to revoke the keys (ticked by default); and every
request that needs the member is checked once the check is due, whatever its headers.

The provider is a real OpenID Connect provider on loopback (tests/identity_provider.py)."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.http import HttpResponseRedirect
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generations.api import keys
from generations.models import ApiKey, MemberProfile, ProviderIdentity

from .api_helpers import bearer, make_key
from .conftest import make_user
from .identity_provider import PersonAtTheProvider
from .mail_helpers import link_in

pytestmark = pytest.mark.django_db
User = get_user_model()
NEW_PASSWORD = "a-Long-new-passw0rd"
INTERVAL = 600
LATER = timedelta(seconds=INTERVAL + 60)


def key_works(secret):
    return Client().get("/v1/models", headers=bearer(secret)).status_code == 200


def signed_in_user(client):
    response = client.get(reverse("account_settings"))
    return response.context["user"] if response.status_code == 200 else None


@pytest.fixture
def rechecked(settings):
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = INTERVAL


@pytest.fixture
def ana(client, provider, rechecked):
    """Ana, signed in with the provider in `client`, with a key."""
    provider.add_account("ana", groups=["studio"])
    person = PersonAtTheProvider(provider)
    person.sign_in(client, "ana")
    user = User.objects.get(username="ana")
    _key, secret = make_key(user)
    assert key_works(secret)
    return person, user, secret


# --- Keys stop with the member's access ---------------------------------------------------


def test_a_deactivated_members_keys_stop_at_once(member, teammate):
    _key, secret = make_key(member)
    _other, teammates = make_key(teammate)

    member.is_active = False
    member.save()

    assert not key_works(secret)
    assert key_works(teammates)


def test_keys_stop_when_the_provider_refuses_the_member_at_a_check(client, provider, ana):
    person, user, secret = ana
    _other, teammates = make_key(make_user("tae"))
    provider.disable("ana")

    with time_machine.travel(timezone.now() + LATER):
        where, page = person.follow(client, client.get(reverse("gallery")))

    assert (where, page.status_code) == ("studio", 403)
    assert signed_in_user(client) is None
    assert not key_works(secret)
    assert key_works(teammates)
    assert ProviderIdentity.objects.get(user=user).refused_at is not None


def test_keys_work_again_once_the_member_signs_in_with_the_provider_again(client, provider, ana):
    person, user, secret = ana
    provider.disable("ana")
    with time_machine.travel(timezone.now() + LATER):
        person.follow(client, client.get(reverse("gallery")))
    assert not key_works(secret)

    provider.add_account("ana", groups=["studio"])  # enabled again
    PersonAtTheProvider(provider).sign_in(client, "ana")

    assert signed_in_user(client) == user
    assert key_works(secret)


def test_keys_stop_when_the_rules_refuse_what_the_provider_now_says(
    client, provider, ana, settings
):
    person, _user, secret = ana
    settings.OIDC_REQUIRED_GROUP = "studio"
    provider.add_account("ana", groups=[])  # taken out of the group at the provider

    with time_machine.travel(timezone.now() + LATER):
        _where, page = person.follow(client, client.get(reverse("gallery")))

    assert page.status_code == 403
    assert "not in the group" in page.text
    assert not key_works(secret)


def test_a_provider_that_is_unavailable_stops_no_keys(client, ana):
    _person, _user, secret = ana

    client.get(reverse("oidc_authentication_callback"), {"error": "temporarily_unavailable"})

    assert key_works(secret)


# --- Every request that needs the member is checked once the check is due ---------------------


def provider_check(response, provider):
    """The prompt=none authorization request `response` sends the browser to, if any."""
    location = response.headers.get("HX-Redirect") or response.headers.get("Location", "")
    if not location.startswith(provider.issuer):
        return None
    return parse_qs(urlsplit(location).query)


def test_an_htmx_request_sends_the_tab_to_the_provider_and_back_to_its_page(client, provider, ana):
    person, user, _secret = ana
    page = reverse("gallery")

    with time_machine.travel(timezone.now() + LATER):
        response = client.get(
            reverse("generation_statuses"),
            headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{page}"},
        )
        assert response.status_code == 200
        assert provider_check(response, provider)["prompt"] == ["none"]
        where, landed = person.follow(client, HttpResponseRedirect(response["HX-Redirect"]))

    assert where == "studio"
    assert landed.request["PATH_INFO"] == page
    assert signed_in_user(client) == user


def test_an_htmx_request_of_someone_the_provider_disabled_signs_them_out(client, provider, ana):
    person, _user, secret = ana
    provider.disable("ana")

    with time_machine.travel(timezone.now() + LATER):
        response = client.post(
            reverse("account_settings"),
            {"display_name": "Not Ana"},
            headers={"HX-Request": "true"},
        )
        assert provider_check(response, provider) is not None
        _where, page = person.follow(client, HttpResponseRedirect(response["HX-Redirect"]))

    assert page.status_code == 403
    assert signed_in_user(client) is None
    assert not key_works(secret)
    assert MemberProfile.objects.get(user__username="ana").display_name != "Not Ana"


def test_a_scripts_request_is_refused_until_the_page_is_checked(client, provider, ana):
    person, _user, _secret = ana
    poll = reverse("generation_statuses")

    with time_machine.travel(timezone.now() + LATER):
        refused = client.get(poll, headers={"Sec-Fetch-Dest": "empty"})
        person.follow(client, client.get(reverse("gallery")))  # the page load checks
        allowed = client.get(poll, headers={"Sec-Fetch-Dest": "empty"})

    assert refused.status_code == 401
    assert provider_check(refused, provider) is None
    assert allowed.status_code == 200


def test_a_form_posted_without_htmx_goes_to_the_provider_and_back_to_its_page(
    client, provider, ana
):
    person, user, _secret = ana

    with time_machine.travel(timezone.now() + LATER):
        response = client.post(
            reverse("account_settings"),
            {"display_name": "Ana L."},
            headers={"Referer": "http://testserver/history/"},
        )
        assert provider_check(response, provider) is not None
        _where, page = person.follow(client, response)

    assert page.request["PATH_INFO"] == reverse("history")
    assert signed_in_user(client) == user


def test_images_of_a_page_already_shown_load_for_one_more_interval_then_are_refused(
    client, provider, ana
):
    _person, _user, _secret = ana
    page = reverse("gallery")

    with time_machine.travel(timezone.now() + LATER):
        soon = client.get(page, headers={"Sec-Fetch-Dest": "image"})
    with time_machine.travel(timezone.now() + LATER + timedelta(seconds=INTERVAL)):
        late = client.get(page, headers={"Sec-Fetch-Dest": "image"})

    assert soon.status_code == 200
    assert late.status_code == 401


def test_views_open_to_visitors_are_never_held_up(client, provider, ana):
    with time_machine.travel(timezone.now() + 10 * LATER):
        catalogue = client.get(
            reverse("javascript_catalog", args=["en", "x"]), headers={"Sec-Fetch-Dest": "script"}
        )
        login_page = client.get(reverse("login"))

    assert catalogue.status_code in (200, 302)
    assert login_page.status_code == 200


# --- A new password and "sign out everywhere" offer to revoke the keys ------------------------


def test_sign_out_everywhere_offers_to_revoke_the_keys_ticked_by_default(client, member, teammate):
    _key, secret = make_key(member)
    _other, teammates = make_key(teammate)
    client.force_login(member)

    page = client.get(reverse("account_settings")).text
    assert 'name="revoke_keys"' in page
    assert re.search(r'<input type="checkbox" name="revoke_keys"[^>]* checked>', page)
    assert "Also revoke my API key" in page

    response = client.post(reverse("account_sign_out_everywhere"), {"revoke_keys": "on"})

    assert response["Location"] == reverse("login")
    assert not key_works(secret)
    assert key_works(teammates)
    assert "Your API key is revoked." in client.get(reverse("login")).text


def test_sign_out_everywhere_with_the_box_unticked_keeps_the_keys(client, member):
    _key, secret = make_key(member)
    client.force_login(member)

    client.post(reverse("account_sign_out_everywhere"), {})

    assert signed_in_user(client) is None
    assert key_works(secret)


def test_without_keys_there_is_nothing_to_offer(client, member):
    client.force_login(member)
    assert "revoke_keys" not in client.get(reverse("account_settings")).text


def test_signing_out_everywhere_needs_a_signed_in_member(client, member):
    _key, secret = make_key(member)

    response = client.post(reverse("account_sign_out_everywhere"), {"revoke_keys": "on"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert key_works(secret)


def reset_form(client, smtp_inbox):
    assert client.post(reverse("password_reset"), {"email": "mina@example.com"}).status_code == 302
    link = link_in(smtp_inbox.to("mina@example.com")[-1], "/password/reset/")
    return client.get(link, follow=True)


@pytest.mark.parametrize(("ticked", "revoked"), [(True, True), (False, False)])
def test_a_password_reset_offers_to_revoke_the_keys(client, member, smtp_inbox, ticked, revoked):
    _key, secret = make_key(member)
    _two, second = make_key(member, "second")
    form = reset_form(client, smtp_inbox)
    assert "Also revoke my 2 API keys" in form.text
    data = {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    if ticked:
        data["revoke_keys"] = "on"

    done = client.post(form.redirect_chain[-1][0], data)

    assert done["Location"] == reverse("password_reset_complete")
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert key_works(secret) is not revoked
    assert key_works(second) is not revoked
    assert ApiKey.objects.filter(revoked_by=member).count() == (2 if revoked else 0)


def test_a_password_change_offers_to_revoke_the_keys_too(client, member):
    _key, secret = make_key(member)
    client.force_login(member)
    assert 'name="revoke_keys"' in client.get(reverse("password_change")).text

    client.post(
        reverse("password_change"),
        {
            "old_password": "pw",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
            "revoke_keys": "on",
        },
    )

    assert keys.key_from_secret(secret) is None
    assert signed_in_user(client) == member  # still signed in here
