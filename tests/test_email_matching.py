"""Issue 21, finding 7: addresses are matched exactly, after one normalisation in Python
(`members.normalise_email`: NFC, ASCII letters in lower case), never with the database's
case folding. Before, PostgreSQL's UPPER() linked a provider identity "al\u0131ce@example.com"
(a dotless i) to the member alice@example.com; the same comparison decided invitations."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from generations.accounts import members
from generations.models import Invitation, ProviderIdentity

from .conftest import make_user
from .identity_provider import PersonAtTheProvider
from .otp_helpers import verified_admin_client

pytestmark = pytest.mark.django_db
User = get_user_model()

DOTLESS = "al\u0131ce@example.com"  # a Turkish dotless i: UPPER() makes it "ALICE"
LIGATURE = "o\ufb00ice@example.com"  # the "ff" ligature: NFKC makes it "office"
SHARP = "stra\u00dfe@example.com"  # straße: casefold() is "strasse"


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  alice@example.com ", "alice@example.com"),
        ("jose\u0301@example.com", "jos\u00e9@example.com"),  # é written in two code points
        ("\u212aate@example.com", "kate@example.com"),  # the Kelvin sign is K, for Unicode
    ],
)
def test_the_same_address_written_differently_is_one_address(typed, stored):
    assert members.normalise_email(typed) == members.normalise_email(stored)


@pytest.mark.parametrize(
    ("other", "member"),
    [
        (DOTLESS, "alice@example.com"),
        (LIGATURE, "office@example.com"),
        (SHARP, "strasse@example.com"),
        ("ALİCE@example.com", "alice@example.com"),  # dotted capital I
    ],
)
def test_letters_that_only_look_alike_are_other_addresses(other, member):
    User.objects.create_user("member", member, "pw")

    assert members.normalise_email(other) != members.normalise_email(member)
    assert members.users_with_address(other) == []
    assert [u.username for u in members.users_with_address(member.upper())] == ["member"]


def test_a_provider_identity_with_a_look_alike_address_is_not_linked_to_the_member(
    client, provider
):
    alice = make_user("alice")  # alice@example.com
    provider.add_account("intruder", email=DOTLESS)

    PersonAtTheProvider(provider).sign_in(client, "intruder")

    identity = ProviderIdentity.objects.get(subject="intruder")
    assert identity.user != alice
    assert identity.user.email == DOTLESS
    assert not ProviderIdentity.objects.filter(user=alice).exists()


def test_a_provider_identity_with_the_members_address_in_capitals_is_linked(client, provider):
    alice = make_user("alice")
    provider.add_account("a.kim", email="ALICE@Example.com")

    PersonAtTheProvider(provider).sign_in(client, "a.kim")

    assert ProviderIdentity.objects.get(subject="a.kim").user == alice


def test_an_invitation_is_not_used_by_a_look_alike_address(client, provider, settings):
    settings.OIDC_ALLOWED_DOMAINS = []  # invited people only
    invitation = Invitation.objects.create(
        email="alice@example.com",
        token_hash=members.hash_token("t" * 43),
        expires_at=timezone.now() + timedelta(days=1),
    )
    provider.add_account("intruder", email=DOTLESS)

    page = PersonAtTheProvider(provider).sign_in(client, "intruder")

    assert page.status_code == 403
    assert "has no invitation" in page.text
    assert not User.objects.exists()
    invitation.refresh_from_db()
    assert invitation.state() == Invitation.State.PENDING


def test_an_allowed_domain_is_matched_exactly_too(client, provider, settings):
    settings.OIDC_ALLOWED_DOMAINS = ["example.com"]
    provider.add_account("intruder", email="intruder@exampl\u0435.com")  # Cyrillic e

    page = PersonAtTheProvider(provider).sign_in(client, "intruder")

    assert page.status_code == 403
    assert not User.objects.exists()


def test_an_admin_inviting_a_members_address_in_capitals_is_told_they_are_a_member(
    client, admin_user, smtp_inbox
):
    make_user("alice")
    admin = verified_admin_client(client, admin_user)

    admin.post(
        reverse("admin:generations_invitation_add"),
        {"addresses": "ALICE@example.com\nbo@example.com", "role": "member"},
    )

    assert [i.email for i in Invitation.objects.all()] == ["bo@example.com"]
    assert [recipients for _s, recipients, _m in smtp_inbox.messages] == [["bo@example.com"]]


def test_a_look_alike_of_a_members_address_is_invited_the_same_address_is_not():
    make_user("alice")

    outcome = members.invite([DOTLESS, "Alice@Example.com"], None, "member", "http://testserver")

    assert outcome.sent == [DOTLESS]
    assert outcome.skipped == [("alice@example.com", "already a member")]


def test_a_new_invitation_replaces_only_the_pending_one_of_the_same_address():
    first = members.invite(["alice@example.com"], None, "member", "http://testserver")
    assert first.sent == ["alice@example.com"]
    members.invite([DOTLESS, "Alice@EXAMPLE.com"], None, "member", "http://testserver")

    pending = sorted(i.email for i in Invitation.objects.pending())
    assert pending == sorted(["alice@example.com", DOTLESS])
    assert Invitation.objects.filter(revoked_at__isnull=False).count() == 1
    assert members.pending_invitation_for("ALICE@example.com").email == "alice@example.com"
    assert members.pending_invitation_for(DOTLESS).email == DOTLESS
