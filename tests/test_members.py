"""Members from the moment they exist: a credit account and the starting grant for every new
user, roles, deactivation ending every session, and which models a member may use."""

import importlib
from decimal import Decimal

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from generations import credits, services
from generations.accounts import members
from generations.forms import GenerationForm
from generations.models import (
    CreditAccount,
    CreditLedgerEntry,
    Generation,
    MemberProfile,
    MemberSession,
    ModelAccess,
    TeamSettings,
)

from .conftest import make_user
from .otp_helpers import verified_admin_client

pytestmark = pytest.mark.django_db
User = get_user_model()


# --- From the moment a user exists ---------------------------------------------------------


def test_every_new_user_has_a_credit_account_and_profile_at_once(db):
    user = User.objects.create_user("ana")
    superuser = User.objects.create_superuser("root", "root@example.com", "pw")

    for someone in (user, superuser):
        assert CreditAccount.objects.filter(user=someone).exists()
        assert someone.profile.display_name == ""


def test_an_admin_grants_credits_to_a_member_who_never_signed_in(client, admin_user):
    ana = make_user("ana")
    assert ana.last_login is None
    verified_admin_client(client, admin_user)

    account = CreditAccount.objects.get(user=ana)
    client.post(
        reverse("admin:generations_creditaccount_grant") + f"?ids={account.pk}",
        {"kind": "grant", "amount": "15", "reason": "welcome", "key": "k1"},
    )

    assert credits.account_for(ana).balance == Decimal("15")


def test_new_members_get_the_starting_grant_from_the_team_settings(settings):
    settings.BANANA_STARTING_CREDITS = Decimal("3")
    from_settings = make_user("ana")
    TeamSettings.objects.create(pk=1, starting_credits=Decimal("8"))
    from_team = make_user("bo")
    TeamSettings.objects.filter(pk=1).update(starting_credits=Decimal("0"))
    nothing = make_user("cy")

    assert credits.account_for(from_settings).balance == Decimal("3")
    assert credits.account_for(from_team).balance == Decimal("8")
    assert credits.account_for(nothing).balance == Decimal("0")
    assert not CreditLedgerEntry.objects.filter(account__user=nothing).exists()
    entry = CreditLedgerEntry.objects.get(account__user=from_team)
    assert (entry.kind, entry.reason) == ("grant", "Starting credits")


def test_the_starting_grant_is_written_once_per_member(settings):
    settings.BANANA_STARTING_CREDITS = Decimal("5")
    ana = make_user("ana")

    assert credits.grant_starting_credits(ana) is None  # already granted at creation
    ana.save()  # saving again grants nothing either

    assert CreditLedgerEntry.objects.filter(idempotency_key=f"starting:{ana.pk}").count() == 1
    assert credits.account_for(ana).balance == Decimal("5")


MIGRATION = importlib.import_module("generations.migrations.0012_members")


def test_users_from_before_get_their_account_and_profile_from_the_migration(db):
    old = make_user("old")
    CreditAccount.objects.filter(user=old).delete()  # as before this version: none yet
    MemberProfile.objects.filter(user=old).delete()

    MIGRATION.accounts_and_profiles_for_existing_users(django_apps, None)

    assert CreditAccount.objects.filter(user=old).exists()
    assert MemberProfile.objects.filter(user=old).exists()
    assert not CreditLedgerEntry.objects.filter(account__user=old).exists()


# --- Roles ---------------------------------------------------------------------------------


def test_roles_are_djangos_flags_and_the_auditors_hold_only_view_permissions():
    ana = make_user("ana")

    members.set_role(ana, "auditor")
    ana = User.objects.get(pk=ana.pk)
    assert (ana.is_staff, ana.is_superuser) == (True, False)
    permissions = ana.get_all_permissions()
    assert "generations.view_generation" in permissions
    assert "generations.view_creditaccount" in permissions
    assert all(p.split(".")[1].startswith("view_") for p in permissions)

    members.set_role(ana, "admin")
    ana = User.objects.get(pk=ana.pk)
    assert (ana.is_staff, ana.is_superuser, members.role_of(ana)) == (True, True, "admin")

    members.set_role(ana, "member")
    ana = User.objects.get(pk=ana.pk)
    assert (ana.is_staff, ana.is_superuser, members.role_of(ana)) == (False, False, "member")
    assert not ana.groups.exists()


def test_an_admin_sets_roles_from_the_user_list(client, admin_user):
    ana = make_user("ana")
    verified_admin_client(client, admin_user)

    client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "make_auditor", "_selected_action": [ana.pk]},
    )

    assert members.role_of(User.objects.get(pk=ana.pk)) == "auditor"


# --- Deactivation ----------------------------------------------------------------------------


def signed_in_client(user, password="pw"):
    client = Client()
    assert client.post(reverse("login"), {"username": user.username, "password": password})[
        "Location"
    ] == reverse("home")
    return client


def test_deactivating_a_member_in_the_admin_ends_all_their_sessions(client, admin_user):
    ana = make_user("ana")
    laptop, phone = signed_in_client(ana), signed_in_client(ana)
    assert MemberSession.objects.filter(user=ana).count() == 2
    verified_admin_client(client, admin_user)
    change = client.get(reverse("admin:auth_user_change", args=[ana.pk])).context["adminform"]
    data = {
        name: value
        for name, value in change.form.initial.items()
        if value is not None and name not in ("password", "groups", "user_permissions")
    }

    response = client.post(
        reverse("admin:auth_user_change", args=[ana.pk]),
        {
            **data,
            "is_active": "",
            "date_joined_0": ana.date_joined.strftime("%Y-%m-%d"),
            "date_joined_1": ana.date_joined.strftime("%H:%M:%S"),
            "profile-TOTAL_FORMS": "1",
            "profile-INITIAL_FORMS": "1",
            "profile-0-id": ana.profile.pk,
            "profile-0-user": ana.pk,
            "provider_identities-TOTAL_FORMS": "0",
            "provider_identities-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not User.objects.get(pk=ana.pk).is_active
    assert not MemberSession.objects.filter(user=ana).exists()
    for device in (laptop, phone):
        assert not Session.objects.filter(session_key=device.cookies["sessionid"].value).exists()
        assert device.get(reverse("home"))["Location"].startswith(reverse("login"))


def test_the_deactivate_action_signs_out_everywhere_but_not_the_admin_themselves(
    client, admin_user
):
    ana = make_user("ana")
    laptop = signed_in_client(ana)
    verified_admin_client(client, admin_user)

    client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "deactivate", "_selected_action": [ana.pk, admin_user.pk]},
    )

    assert not User.objects.get(pk=ana.pk).is_active
    assert User.objects.get(pk=admin_user.pk).is_active
    assert laptop.get(reverse("home"))["Location"].startswith(reverse("login"))
    assert client.get(reverse("admin:index")).status_code == 200


def test_sessions_from_before_recording_began_are_found_too(client):
    """Sessions signed in before sessions were recorded: the migration records them once."""
    ana = make_user("ana")
    laptop = signed_in_client(ana)
    MemberSession.objects.all().delete()  # as if signed in before this version

    MIGRATION.record_existing_sessions(django_apps, None)
    ana.is_active = False
    ana.save()

    assert laptop.get(reverse("home"))["Location"].startswith(reverse("login"))
    assert not Session.objects.filter(session_key=laptop.cookies["sessionid"].value).exists()


# --- Which models a member may use -------------------------------------------------------------


@pytest.fixture
def pro_4k_for_some(db):
    """4K of Nano Banana Pro for admins and one named member; the rest of it for everyone."""
    rule = ModelAccess.objects.create(model="google/nano-banana-pro", image_size="4k")
    return rule


def form_for(user, **data):
    return GenerationForm(
        {"prompt": "a banana", "model": "google/nano-banana-pro", **data}, user=user
    )


def test_a_restricted_size_is_not_offered_and_is_refused_on_the_form(pro_4k_for_some, member):
    option = next(o for o in members.allowed_models(member) if o.id == "google/nano-banana-pro")
    assert option.sizes == ("1k", "2k")

    form = form_for(member, image_size="4k")

    assert not form.is_valid()
    assert "You may not use 4K with this model" in form.errors["image_size"][0]
    assert form_for(member, image_size="2k").is_valid()


def test_a_restricted_size_is_refused_by_create_generation_for_every_api(pro_4k_for_some, member):
    with pytest.raises(members.ModelNotAllowed, match="You may not use Nano Banana Pro at 4K"):
        services.create_generation(
            member, model="google/nano-banana-pro", prompt="p", image_size="4k"
        )

    assert not Generation.objects.exists()
    assert credits.account_for(member).held == 0


def test_the_members_a_rule_names_and_the_roles_it_ticks_may_use_it(
    pro_4k_for_some, member, admin_user, emulator, committed
):
    auditor = make_user("audra")
    members.set_role(auditor, "auditor")
    pro_4k_for_some.users.add(member)

    assert form_for(member, image_size="4k").is_valid()
    assert form_for(admin_user, image_size="4k").is_valid()  # admins: ticked by default
    assert not form_for(auditor, image_size="4k").is_valid()
    with committed():
        generation = services.create_generation(
            member, model="google/nano-banana-pro", prompt="p", image_size="4k"
        )
    assert generation.image_size == "4k"


def test_a_whole_model_reserved_for_auditors_is_not_offered_to_members(member):
    ModelAccess.objects.create(model="google/gempix2", auditors=True, admins=False)

    form = GenerationForm(user=member)
    assert "google/gempix2" not in dict(form.fields["model"].choices)
    assert form.initial["model"] != "google/gempix2"  # the default falls back to one allowed
    with pytest.raises(members.ModelNotAllowed, match="not one of the models you may use"):
        services.create_generation(member, model="google/gempix2", prompt="p")


def test_the_studio_shows_a_refused_model_as_a_form_error_not_a_crash(
    member_client, pro_4k_for_some
):
    response = member_client.post(
        reverse("generate"),
        {"prompt": "a banana", "model": "google/nano-banana-pro", "image_size": "4k"},
    )

    assert response.status_code == 400
    assert "You may not use 4K with this model" in response.text
    assert not Generation.objects.exists()


def test_models_not_on_offer_are_refused_by_create_generation(member):
    with pytest.raises(members.ModelNotAllowed):
        services.create_generation(member, model="google/not-on-offer", prompt="p")
