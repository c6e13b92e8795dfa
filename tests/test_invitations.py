"""Invitations end to end: an admin invites by e-mail from the admin, the mail goes over
real SMTP on loopback (tests/mail_helpers.py), and the link in it works once, until it
expires or is withdrawn."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from generations import credits
from generations.accounts import members
from generations.models import Invitation, TeamSettings
from operations.redaction import redact_secrets

from .conftest import make_user
from .mail_helpers import free_port, link_in
from .otp_helpers import verified_admin_client

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "a-Long-passw0rd-for-ana"


@pytest.fixture
def admin_client(client, admin_user):
    return verified_admin_client(client, admin_user)


def invite(admin_client, addresses, role="member"):
    return admin_client.post(
        reverse("admin:generations_invitation_add"), {"addresses": addresses, "role": role}
    )


def invitation_link(inbox, address):
    return link_in(inbox.to(address)[-1], "/join/")


def path_of(link):
    return link.removeprefix("http://testserver")


def join(client, link, username="ana", password=PASSWORD):
    return client.post(
        path_of(link), {"username": username, "password1": password, "password2": password}
    )


def test_an_admin_invites_several_people_at_once_and_each_gets_their_own_link_by_mail(
    admin_client, smtp_inbox
):
    response = invite(admin_client, "ana@example.com\nbo@example.com, Ana@Example.com")

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:generations_invitation_changelist")
    assert sorted(r for _s, recipients, _m in smtp_inbox.messages for r in recipients) == [
        "ana@example.com",
        "bo@example.com",
    ]
    sender, _recipients, message = smtp_inbox.messages[0]
    assert sender == "studio@example.com"
    assert "invited to Banana Studio" in message["Subject"]
    body = smtp_inbox.to("ana@example.com")[0]
    assert "boss invites you" in body
    assert "7 days" in body
    ana = invitation_link(smtp_inbox, "ana@example.com")
    bo = invitation_link(smtp_inbox, "bo@example.com")
    assert ana != bo
    assert ana.startswith("http://testserver/join/")
    listing = admin_client.get(reverse("admin:generations_invitation_changelist"))
    assert listing.text.count("Pending") >= 2
    assert Invitation.objects.pending().count() == 2


def test_the_invited_person_joins_with_a_username_password_and_the_starting_credits(
    admin_client, smtp_inbox
):
    TeamSettings.objects.create(pk=1, starting_credits=Decimal("20"))
    invite(admin_client, "ana@example.com")
    admin_client.logout()
    link = invitation_link(smtp_inbox, "ana@example.com")

    page = admin_client.get(path_of(link))
    assert page.status_code == 200
    assert "ana@example.com" in page.text
    assert 'name="password1"' in page.text
    response = join(admin_client, link)

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    user = User.objects.get(username="ana")
    assert user.email == "ana@example.com"
    assert user.check_password(PASSWORD)
    assert credits.account_for(user).balance == Decimal("20")
    assert members.role_of(user) == "member"
    assert admin_client.get(reverse("home")).context["user"] == user
    invitation = Invitation.objects.get()
    assert invitation.state() == Invitation.State.ACCEPTED
    assert invitation.accepted_by == user


def test_the_link_works_once(admin_client, smtp_inbox):
    invite(admin_client, "ana@example.com")
    link = invitation_link(smtp_inbox, "ana@example.com")
    join(Client(), link)

    again = Client().get(path_of(link))
    other = join(Client(), link, username="ana2")

    assert again.status_code == 410
    assert "already been used" in again.text
    assert 'name="password1"' not in again.text
    assert other.status_code == 410
    assert not User.objects.filter(username="ana2").exists()


def test_an_expired_link_says_so(admin_client, smtp_inbox):
    invite(admin_client, "ana@example.com")
    link = invitation_link(smtp_inbox, "ana@example.com")

    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        page = Client().get(path_of(link))
        posted = join(Client(), link)

    assert page.status_code == 410
    assert "has expired" in page.text
    assert posted.status_code == 410
    assert not User.objects.filter(username="ana").exists()


def test_a_withdrawn_invitation_says_so(admin_client, smtp_inbox):
    invite(admin_client, "ana@example.com")
    link = invitation_link(smtp_inbox, "ana@example.com")
    invitation = Invitation.objects.get()

    admin_client.post(
        reverse("admin:generations_invitation_changelist"),
        {"action": "revoke", "_selected_action": [invitation.pk]},
    )

    page = Client().get(path_of(link))
    assert page.status_code == 410
    assert "withdrawn" in page.text
    invitation.refresh_from_db()
    assert invitation.state() == Invitation.State.REVOKED


def test_sending_again_mails_a_new_link_and_the_old_one_stops_working(admin_client, smtp_inbox):
    invite(admin_client, "ana@example.com")
    old = invitation_link(smtp_inbox, "ana@example.com")

    admin_client.post(
        reverse("admin:generations_invitation_changelist"),
        {"action": "send_again", "_selected_action": [Invitation.objects.get().pk]},
    )

    new = invitation_link(smtp_inbox, "ana@example.com")
    assert new != old
    assert Client().get(path_of(old)).status_code == 410
    assert join(Client(), new).status_code == 302


def test_an_unknown_link_is_not_found(client):
    page = client.get(reverse("invitation", args=["x" * 43]))

    assert page.status_code == 404
    assert "not valid" in page.text


def test_an_address_that_belongs_to_a_member_is_not_invited(admin_client, smtp_inbox):
    make_user("mina")
    make_user("old", is_active=False)

    response = invite(admin_client, "mina@example.com\nold@example.com\nbo@example.com")

    assert [r for _s, recipients, _m in smtp_inbox.messages for r in recipients] == [
        "bo@example.com"
    ]
    shown = admin_client.get(response["Location"]).text
    assert "Not invited: mina@example.com (already a member)" in shown
    assert "Not invited: old@example.com (a deactivated member: reactivate them" in shown


@pytest.mark.django_db(transaction=True)
def test_two_people_racing_for_one_link_make_one_member():
    invitation = Invitation.objects.create(
        email="ana@example.com",
        token_hash=members.hash_token("r" * 43),
        expires_at=timezone.now() + timedelta(days=1),
    )
    barrier = threading.Barrier(2, timeout=10)
    outcomes = []

    def accept(username):
        try:
            barrier.wait()
            members.accept_with_password(invitation, username, PASSWORD)
            outcomes.append("joined")
        except members.InvitationRefused as exc:
            outcomes.append(str(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=accept, args=(name,)) for name in ("ana", "ana-too")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["This invitation has already been used.", "joined"]
    assert User.objects.filter(email="ana@example.com").count() == 1


def test_addresses_that_are_not_addresses_are_refused_and_nothing_is_sent(admin_client, smtp_inbox):
    response = invite(admin_client, "ana@example.com\nnot-an-address")

    assert response.status_code == 200
    assert "Not e-mail addresses: not-an-address" in response.text
    assert smtp_inbox.messages == []
    assert not Invitation.objects.exists()


def test_an_auditor_invitation_makes_an_auditor(admin_client, smtp_inbox):
    invite(admin_client, "audra@example.com", role="auditor")
    admin_client.logout()

    join(admin_client, invitation_link(smtp_inbox, "audra@example.com"), username="audra")

    user = User.objects.get(username="audra")
    assert members.role_of(user) == "auditor"
    assert user.is_staff and not user.is_superuser
    assert user.groups.filter(name="Auditors").exists()


def test_a_mail_that_cannot_be_sent_is_reported_and_leaves_no_invitation(admin_client, settings):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 2},
        }
    }

    response = invite(admin_client, "ana@example.com")

    shown = admin_client.get(response["Location"]).text
    assert "The mail to ana@example.com could not be sent" in shown
    assert not Invitation.objects.exists()


def test_a_weak_password_is_refused_and_the_link_still_works(admin_client, smtp_inbox):
    invite(admin_client, "ana@example.com")
    link = invitation_link(smtp_inbox, "ana@example.com")
    admin_client.logout()

    weak = join(admin_client, link, password="12345678")
    assert weak.status_code == 200
    assert "too common" in weak.text
    assert not User.objects.filter(username="ana").exists()

    assert join(admin_client, link).status_code == 302


def test_a_taken_username_is_refused(admin_client, smtp_inbox):
    User.objects.create_user("ana", "someone-else@example.com", "pw")
    invite(admin_client, "ana@example.com")
    admin_client.logout()

    response = join(admin_client, invitation_link(smtp_inbox, "ana@example.com"))

    assert response.status_code == 200
    assert "already exists" in response.text


def test_a_signed_in_member_sees_the_invitation_but_no_form(admin_client, smtp_inbox):
    invite(admin_client, "ana@example.com")

    page = admin_client.get(path_of(invitation_link(smtp_inbox, "ana@example.com")))

    assert page.status_code == 200
    assert "Sign out first" in page.text
    assert 'name="password1"' not in page.text


def test_the_invitation_offers_the_provider_and_only_it_when_local_passwords_are_off(
    admin_client, smtp_inbox, provider, settings
):
    invite(admin_client, "ana@example.com")
    admin_client.logout()
    link = path_of(invitation_link(smtp_inbox, "ana@example.com"))
    assert "Join with Example SSO" in admin_client.get(link).text

    settings.BANANA_LOCAL_PASSWORDS = False
    page = admin_client.get(link)
    posted = join(admin_client, "http://testserver" + link)

    assert "Join with Example SSO" in page.text
    assert 'name="password1"' not in page.text
    assert posted.status_code == 403
    assert not User.objects.filter(username="ana").exists()


def test_invitations_are_records_nobody_edits_or_deletes(admin_client, smtp_inbox):
    invite(admin_client, "ana@example.com")
    invitation = Invitation.objects.get()

    change = admin_client.post(
        reverse("admin:generations_invitation_change", args=[invitation.pk]),
        {"email": "evil@example.com"},
    )
    delete = admin_client.post(
        reverse("admin:generations_invitation_delete", args=[invitation.pk]), {"post": "yes"}
    )

    assert change.status_code == 403
    assert delete.status_code == 403
    invitation.refresh_from_db()
    assert invitation.email == "ana@example.com"


def test_invitation_tokens_and_the_providers_code_never_reach_a_log_line():
    token = "J" * 43
    logged = redact_secrets(f'"GET /join/{token}/ HTTP/1.1" 410')
    callback = redact_secrets("GET /login/provider/callback/?code=abc123&state=xyz&iss=https://x")

    assert token not in logged
    assert logged == '"GET /join/[redacted]/ HTTP/1.1" 410'
    assert callback == (
        "GET /login/provider/callback/?code=[redacted]&state=[redacted]&iss=https://x"
    )


def test_the_invite_form_says_how_many_credits_new_members_start_with(admin_client):
    TeamSettings.objects.create(pk=1, starting_credits=Decimal("20"))
    page = admin_client.get(reverse("admin:generations_invitation_add")).text
    assert "New members start with 20 credits (Team settings)." in page

    TeamSettings.objects.filter(pk=1).update(starting_credits=Decimal("0"))
    page = admin_client.get(reverse("admin:generations_invitation_add")).text
    assert "New members start with no credits" in page


def test_a_member_who_joined_with_no_credits_is_told_how_many_they_have_and_whom_to_ask(
    admin_client, smtp_inbox
):
    TeamSettings.objects.create(pk=1, starting_credits=Decimal("0"))
    make_user("zed", is_staff=True, is_superuser=True)
    invite(admin_client, "ana@example.com")
    admin_client.logout()
    join(admin_client, invitation_link(smtp_inbox, "ana@example.com"))

    response = admin_client.post(
        reverse("generate"),
        {"prompt": "My first banana", "model": "google/gempix2", "count": 1},
        headers={"HX-Request": "true"},
    )

    assert "Not enough credits: 0 available, 0.5 needed." in response.text
    assert "Ask an admin for more: boss, zed." in response.text


def test_the_join_page_gives_the_expiry_without_a_double_full_stop(admin_client, smtp_inbox):
    invite(admin_client, "ana@example.com")
    admin_client.logout()
    # An afternoon expiry: English dates end in "p.m." there.
    Invitation.objects.update(expires_at=timezone.now().replace(hour=21) + timedelta(days=2))

    page = admin_client.get(path_of(invitation_link(smtp_inbox, "ana@example.com"))).text

    assert "p.m." in page
    assert ".." not in page.replace("…", "")
