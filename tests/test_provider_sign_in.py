"""Sign-in with the team's identity provider, against a real OpenID Connect provider on
loopback (tests/identity_provider.py): the studio is the Django test client, the person's
browser at the provider is an HTTP session. The same flow in Chromium is in
tests/test_browser_provider_sign_in.py."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from generations import credits
from generations.accounts import members
from generations.models import CreditLedgerEntry, Invitation, ProviderIdentity, TeamSettings

from .conftest import make_user
from .identity_provider import PersonAtTheProvider

pytestmark = pytest.mark.django_db
User = get_user_model()
ROOT = Path(__file__).resolve().parent.parent


def signed_in_user(client):
    response = client.get(reverse("account_settings"))
    return response.context["user"] if response.status_code == 200 else None


def test_sign_in_starts_an_authorization_code_request_with_pkce(client, provider):
    response = client.get(reverse("oidc_authentication_init"))

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}" == provider.issuer
    query = parse_qs(location.query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == ["http://testserver/login/provider/callback/"]
    assert {"openid", "email"} <= set(query["scope"][0].split())
    assert query["state"] and query["nonce"]


def test_first_sign_in_of_an_allowed_person_creates_the_member_with_starting_credits(
    client, provider
):
    TeamSettings.objects.create(pk=1, starting_credits=Decimal("12"))
    provider.add_account("ana", email="ana@example.com", name="Ana Lima")

    page = PersonAtTheProvider(provider).sign_in(client, "ana")

    assert page.status_code == 200
    assert page.request["PATH_INFO"] == reverse("home")
    user = User.objects.get(email="ana@example.com")
    assert signed_in_user(client) == user
    assert user.username == "ana"
    assert not user.has_usable_password()
    assert user.profile.display_name == "Ana Lima"
    assert credits.account_for(user).balance == Decimal("12")
    assert CreditLedgerEntry.objects.get(account__user=user).idempotency_key == (
        f"starting:{user.pk}"
    )
    identity = ProviderIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (provider.issuer, "ana")


def test_signing_in_again_is_the_same_member_and_no_second_grant(client, provider):
    TeamSettings.objects.create(pk=1, starting_credits=Decimal("5"))
    provider.add_account("ana")
    PersonAtTheProvider(provider).sign_in(client, "ana")
    client.post(reverse("logout"))

    PersonAtTheProvider(provider).sign_in(client, "ana")

    assert User.objects.count() == 1
    assert credits.account_for(User.objects.get()).balance == Decimal("5")


def test_first_sign_in_links_to_the_member_with_the_same_verified_address(client, provider):
    existing = make_user("mina")  # mina@example.com, made by an admin with a password
    provider.add_account("m.kim", email="Mina@Example.com")

    PersonAtTheProvider(provider).sign_in(client, "m.kim")

    assert signed_in_user(client) == existing
    assert User.objects.count() == 1
    assert ProviderIdentity.objects.get().user == existing


def test_an_invited_person_joins_through_the_provider_with_the_invitations_role(
    client, provider, settings
):
    settings.OIDC_ALLOWED_DOMAINS = []  # invited people only
    invitation = Invitation.objects.create(
        email="ana@partner.org",
        role="auditor",
        token_hash=members.hash_token("t" * 43),
        expires_at=timezone.now() + timedelta(days=1),
    )
    provider.add_account("ana", email="ana@partner.org")

    PersonAtTheProvider(provider).sign_in(client, "ana")

    user = User.objects.get(email="ana@partner.org")
    assert signed_in_user(client) == user
    assert members.role_of(user) == "auditor"
    invitation.refresh_from_db()
    assert invitation.state() == Invitation.State.ACCEPTED
    assert invitation.accepted_by == user


def test_without_domain_or_group_rules_an_uninvited_person_is_refused(client, provider, settings):
    settings.OIDC_ALLOWED_DOMAINS = []
    provider.add_account("stranger", email="stranger@example.com")

    page = PersonAtTheProvider(provider).sign_in(client, "stranger")

    assert page.status_code == 403
    assert "invited people only" in page.text
    assert "stranger@example.com" in page.text
    assert not User.objects.exists()
    assert signed_in_user(client) is None


def test_an_address_outside_the_allowed_domains_is_refused_with_a_clear_page(client, provider):
    provider.add_account("eve", email="eve@elsewhere.net")

    page = PersonAtTheProvider(provider).sign_in(client, "eve")

    assert page.status_code == 403
    assert "open to addresses at example.com" in page.text
    assert "eve@elsewhere.net" in page.text
    assert reverse("login") in page.text
    assert not User.objects.exists()


def test_an_address_the_provider_has_not_verified_is_refused(client, provider):
    make_user("mina")
    provider.add_account("mina", email="mina@example.com", verified=False)

    page = PersonAtTheProvider(provider).sign_in(client, "mina")

    assert page.status_code == 403
    assert "did not confirm your e-mail address" in page.text
    assert not ProviderIdentity.objects.exists()
    assert signed_in_user(client) is None


def test_someone_outside_the_required_group_is_refused(client, provider, settings):
    settings.OIDC_ALLOWED_DOMAINS = []
    settings.OIDC_REQUIRED_GROUP = "studio-users"
    provider.add_account("ana", groups=["studio-users"])
    provider.add_account("bo", groups=["sales"])

    refused = PersonAtTheProvider(provider).sign_in(client, "bo")
    assert refused.status_code == 403
    assert "not in the group “studio-users”" in refused.text

    PersonAtTheProvider(provider).sign_in(client, "ana")
    assert signed_in_user(client).username == "ana"


def test_a_member_deactivated_in_the_admin_cannot_sign_in_with_the_provider(client, provider):
    provider.add_account("ana")
    PersonAtTheProvider(provider).sign_in(client, "ana")
    client.post(reverse("logout"))
    user = User.objects.get()
    user.is_active = False
    user.save()

    page = PersonAtTheProvider(provider).sign_in(client, "ana")

    assert page.status_code == 403
    assert "has been deactivated" in page.text
    assert signed_in_user(client) is None


def test_an_account_the_provider_disabled_is_refused_by_the_provider(client, provider):
    provider.add_account("ana", disabled=True)

    page = PersonAtTheProvider(provider).sign_in(client, "ana")

    assert page.status_code == 403
    assert "Example SSO refused the sign-in" in page.text
    assert "disabled at the identity provider" in page.text
    assert not User.objects.exists()


def test_a_session_is_checked_with_the_provider_again_and_ends_when_it_disables_the_account(
    client, provider, settings
):
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 600
    provider.add_account("ana")
    person = PersonAtTheProvider(provider)
    person.sign_in(client, "ana")
    assert client.get(reverse("home")).status_code == 200  # within the interval: no check

    provider.disable("ana")
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        response = client.get(reverse("gallery"))
        assert response.status_code == 302
        query = parse_qs(urlsplit(response["Location"]).query)
        assert query["prompt"] == ["none"]  # the person is not asked anything
        where, page = person.follow(client, response)

    assert where == "studio"
    assert page.status_code == 403
    assert "signed out here" in page.text
    assert signed_in_user(client) is None


def test_a_session_checked_again_goes_on_while_the_provider_still_signs_the_person_in(
    client, provider, settings
):
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 600
    provider.add_account("ana")
    person = PersonAtTheProvider(provider)
    person.sign_in(client, "ana")
    user = User.objects.get()

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        where, page = person.follow(client, client.get(reverse("gallery")))
        assert client.get(reverse("history")).status_code == 200  # checked: not again yet

    assert where == "studio"
    assert page.status_code == 200
    assert page.request["PATH_INFO"] == reverse("gallery")
    assert signed_in_user(client) == user


def test_fragments_send_the_whole_tab_to_the_provider_never_a_provider_page_in_a_fragment(
    client, provider, settings
):
    """How the check is made depends on the request; whether, not (tests/test_keys_and_access.py
    walks each kind)."""
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 600
    provider.add_account("ana")
    PersonAtTheProvider(provider).sign_in(client, "ana")

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        htmx = client.get(reverse("gallery"), headers={"HX-Request": "true"})
        image = client.get(reverse("gallery"), headers={"Sec-Fetch-Dest": "image"})

    assert htmx.status_code == 200
    assert htmx["HX-Redirect"].startswith(provider.issuer)
    assert "Location" not in htmx
    assert image.status_code == 200  # a page's image, within one more interval


def test_password_sessions_are_not_checked_with_the_provider(client, provider, settings):
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 0
    make_user("mina")
    client.post(reverse("login"), {"username": "mina", "password": "pw"})

    assert client.get(reverse("gallery")).status_code == 200


def test_refused_provider_sign_ins_do_not_count_against_password_sign_ins(
    client, provider, settings
):
    settings.AXES_FAILURE_LIMIT = 2
    make_user("mina")
    provider.add_account("eve", email="eve@elsewhere.net")
    for _ in range(3):
        assert PersonAtTheProvider(provider).sign_in(client, "eve").status_code == 403

    assert not AccessAttempt.objects.exists()
    response = client.post(reverse("login"), {"username": "mina", "password": "pw"})
    assert response.status_code == 302


def test_with_local_passwords_off_the_login_page_offers_only_the_provider(
    client, provider, settings
):
    settings.BANANA_LOCAL_PASSWORDS = False
    make_user("mina")

    page = client.get(reverse("login"))
    assert "Sign in with Example SSO" in page.text
    assert 'name="password"' not in page.text
    assert reverse("password_reset") not in page.text

    refused = client.post(reverse("login"), {"username": "mina", "password": "pw"})
    assert refused.status_code == 403
    assert signed_in_user(client) is None
    assert client.get(reverse("password_reset")).status_code == 404
    admin_login = client.get(reverse("admin:login"))
    assert admin_login.status_code == 302
    assert admin_login["Location"].startswith(reverse("login"))

    provider.add_account("mina")
    PersonAtTheProvider(provider).sign_in(client, "mina")
    assert client.get(reverse("password_change")).status_code == 404


def test_the_login_page_offers_both_when_both_are_on(client, provider):
    page = client.get(reverse("login") + "?next=/gallery/")

    assert "Sign in with Example SSO" in page.text
    assert 'name="password"' in page.text
    assert 'name="next" value="/gallery/"' in page.text
    assert 'href="/login/provider/?next=/gallery/"' in page.text


def test_the_page_asked_for_before_signing_in_is_where_the_member_lands(client, provider):
    provider.add_account("ana")

    start = client.get(reverse("oidc_authentication_init") + "?next=/gallery/")
    page = PersonAtTheProvider(provider).sign_in(client, "ana", start=start)

    assert page.request["PATH_INFO"] == reverse("gallery")


def test_an_unreachable_provider_is_a_clear_page(client, settings):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # discard port: nothing answers
    settings.OIDC_RP_CLIENT_ID = "banana-studio"
    settings.OIDC_PROVIDER_NAME = "Example SSO"

    page = client.get(reverse("oidc_authentication_init"))

    assert page.status_code == 503
    assert "Example SSO cannot be reached" in page.text


def test_without_a_provider_its_routes_do_not_exist_and_the_login_page_has_no_button(client):
    assert client.get(reverse("oidc_authentication_init")).status_code == 404
    assert client.get(reverse("oidc_authentication_callback")).status_code == 404
    assert "Sign in with" not in client.get(reverse("login")).text


def test_a_callback_nobody_started_signs_nobody_in(client, provider):
    response = client.get(reverse("oidc_authentication_callback") + "?code=abc&state=def")

    assert response.status_code == 403
    assert "could not be completed" in response.text
    assert signed_in_user(client) is None


def settings_of_a_fresh_process(**variables):
    """(exit code, the provider settings or the error) of a new process reading these
    environment variables."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OIDC_", "LOCAL_PASSWORDS", "BANANA_STARTING"))
    }
    env.update(DJANGO_SETTINGS_MODULE="banana_site.settings", **variables)
    code = (
        "import json; from django.conf import settings as s; print(json.dumps([s.OIDC_ISSUER,"
        " s.OIDC_RP_CLIENT_ID, s.OIDC_ALLOWED_DOMAINS, s.OIDC_REQUIRED_GROUP,"
        " s.BANANA_LOCAL_PASSWORDS, str(s.BANANA_STARTING_CREDITS), s.OIDC_USE_PKCE]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    return done.returncode, (json.loads(done.stdout) if done.returncode == 0 else done.stderr)


@pytest.mark.subprocess
def test_provider_settings_come_from_the_environment():
    code, values = settings_of_a_fresh_process(
        OIDC_ISSUER="https://sso.example.com/",
        OIDC_CLIENT_ID="studio",
        OIDC_ALLOWED_DOMAINS="Example.com,example.org",
        OIDC_REQUIRED_GROUP="studio-users",
        LOCAL_PASSWORDS="false",
        BANANA_STARTING_CREDITS="25",
    )

    assert code == 0, values
    assert values == [
        "https://sso.example.com",
        "studio",
        ["example.com", "example.org"],
        "studio-users",
        False,
        "25",
        True,
    ]


@pytest.mark.subprocess
def test_settings_that_would_lock_everyone_out_or_leak_stop_the_start():
    no_provider = settings_of_a_fresh_process(LOCAL_PASSWORDS="false")
    plain_http = settings_of_a_fresh_process(
        DEBUG="false",
        SECRET_KEY="k" * 60,
        ALLOWED_HOSTS="example.com",
        BANANA_API_KEY="dk-x",
        OIDC_ISSUER="http://sso.example.com",
        OIDC_CLIENT_ID="studio",
    )

    assert no_provider[0] != 0 and "nobody could sign in" in no_provider[1]
    assert plain_http[0] != 0 and "must use https://" in plain_http[1]
