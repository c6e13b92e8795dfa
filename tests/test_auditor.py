"""An auditor reads every page of the admin (the usage report and every generation
included) and changes nothing: every POST the admin takes is refused or changes no row."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client, RequestFactory
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice

from generations import credits
from generations.accounts import members
from generations.models import (
    CreditAccount,
    Invitation,
    ModelAccess,
    ModelPrice,
    ProviderIdentity,
    TeamMonth,
    TeamSettings,
    UpstreamHealth,
)

from .conftest import make_user
from .otp_helpers import verified_admin_client
from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything(member, admin_user):
    """At least one row of every model the admin shows."""
    make_generation(member)
    credits.grant(member, 5, admin_user, "for the audit")
    ModelPrice.objects.create(model="google/gempix2", price=Decimal("0.5"))
    TeamSettings.objects.create(pk=1, monthly_team_cap=Decimal("100"))
    TeamMonth.objects.create(month=date(2026, 3, 1))
    UpstreamHealth.objects.create(pk=1)
    Invitation.objects.create(
        email="ana@example.com",
        token_hash=members.hash_token("t" * 43),
        expires_at=timezone.now() + timedelta(days=1),
    )
    ModelAccess.objects.create(model="google/nano-banana-pro", image_size="4k")
    ProviderIdentity.objects.create(user=member, issuer="https://sso.example.com", subject="m")
    Client().post(reverse("login"), {"username": member.username, "password": "pw"})
    Client().post(reverse("login"), {"username": "nobody", "password": "wrong"})
    verified_admin_client(Client(), admin_user)  # the admin's authenticator
    StaticDevice.objects.create(user=admin_user, name="Recovery codes")


@pytest.fixture
def auditor_client(client, everything):
    auditor = make_user("audra")
    members.set_role(auditor, "auditor")
    return verified_admin_client(client, auditor)


def registered():
    for model, model_admin in admin.site._registry.items():
        yield model, model_admin, f"admin:{model._meta.app_label}_{model._meta.model_name}"


def snapshot():
    """Every row of every model but sessions (which hold the messages of a refused action)."""
    return {
        model._meta.label: sorted(map(repr, model.objects.values()))
        for model in apps.get_models()
        if model._meta.label != "sessions.Session"
    }


def test_an_auditor_reads_every_list_and_every_record_of_the_admin(auditor_client):
    assert auditor_client.get(reverse("admin:index")).status_code == 200
    for model, _model_admin, prefix in registered():
        listing = auditor_client.get(reverse(f"{prefix}_changelist"))
        assert listing.status_code == 200, model
        obj = model.objects.first()
        if obj is None:
            continue
        page = auditor_client.get(reverse(f"{prefix}_change", args=[obj.pk]))
        assert page.status_code == 200, model
        assert 'name="_save"' not in page.text, model  # read-only: no save button


def test_an_auditor_reads_the_usage_report_and_its_csv(auditor_client):
    report = auditor_client.get(reverse("admin:generations_usage"))
    export = auditor_client.get(reverse("admin:generations_usage_csv"))

    assert report.status_code == 200
    assert "mina" in report.text
    assert export.status_code == 200
    assert b"mina" in b"".join(export.streaming_content)


def test_an_auditor_sees_every_generation_of_every_member(auditor_client, teammate):
    private = make_generation(teammate, visibility="private", prompt="a private banana")

    listing = auditor_client.get(reverse("admin:generations_generation_changelist"))
    page = auditor_client.get(reverse("admin:generations_generation_change", args=[private.pk]))

    assert reverse("admin:generations_generation_change", args=[private.pk]) in listing.text
    assert "a private banana" in page.text


def test_an_auditor_is_offered_no_action_that_changes_anything(auditor_client):
    listing = auditor_client.get(reverse("admin:generations_creditaccount_changelist"))
    users = auditor_client.get(reverse("admin:auth_user_changelist"))
    invitations = auditor_client.get(reverse("admin:generations_invitation_changelist"))

    assert 'value="grant_or_adjust"' not in listing.text
    assert 'value="make_admin"' not in users.text
    assert 'value="deactivate"' not in users.text
    assert 'value="revoke"' not in invitations.text
    assert "Add invitation" not in invitations.text


def test_every_admin_post_by_an_auditor_is_refused_and_changes_nothing(auditor_client):
    superuser = make_user("root", is_staff=True, is_superuser=True)  # to list every action
    before = snapshot()
    refused = []

    def post(url, data=None, *, must_be_403=True):
        response = auditor_client.post(url, data or {})
        if must_be_403:
            assert response.status_code == 403, (url, response.status_code)
        refused.append(url)

    for model, model_admin, prefix in registered():
        pks = [str(pk) for pk in model.objects.values_list("pk", flat=True)]
        post(reverse(f"{prefix}_add"), {"name": "x", "email": "x@example.com"})
        every_action = model_admin.get_actions(_request_as(superuser))
        for action in [*every_action, "delete_selected"]:
            # Actions the auditor may not use are not run: Django answers with a message.
            post(
                reverse(f"{prefix}_changelist"),
                {"action": action, "_selected_action": pks, "post": "yes", "index": "0"},
                must_be_403=False,
            )
        for pk in pks:
            post(reverse(f"{prefix}_change", args=[pk]), {"name": "changed"})
            post(reverse(f"{prefix}_delete", args=[pk]), {"post": "yes"})
            for extra in ("password_change",):
                try:
                    url = reverse(f"{prefix}_{extra}", args=[pk])
                except NoReverseMatch:
                    continue
                post(url, {"password1": "Nope-nope-123", "password2": "Nope-nope-123"})
    account_ids = ",".join(str(pk) for pk in CreditAccount.objects.values_list("pk", flat=True))
    post(
        reverse("admin:generations_creditaccount_grant") + f"?ids={account_ids}",
        {"kind": "grant", "amount": "100", "reason": "sneaky", "key": "k"},
    )
    post(reverse("admin:generations_invitation_add"), {"addresses": "x@example.com"})

    assert snapshot() == before
    assert len(refused) > 50


def _request_as(user):
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def test_cleaning_up_sign_in_attempts_is_for_those_who_may_delete_them(auditor_client, admin_user):
    """django-axes offers it to anyone who may view attempts; here auditors do not get it."""
    listing = auditor_client.get(reverse("admin:axes_accessattempt_changelist"))
    assert 'value="cleanup_expired_attempts"' not in listing.text

    admin_client = verified_admin_client(Client(), admin_user)
    response = admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "cleanup_expired_attempts", "_selected_action": ["0"]},
    )
    assert response.status_code == 302
    assert "Cleaned up 0 expired access attempts" in admin_client.get(response["Location"]).text


def test_an_auditor_opening_a_grant_url_gets_our_403_page_in_their_language(auditor_client):
    profile = members.profile_for(User.objects.get(username="audra"))
    profile.language = "ko"
    profile.save()
    verified_admin_client(auditor_client, profile.user)  # signs in again: the language comes along
    accounts = ",".join(str(pk) for pk in CreditAccount.objects.values_list("pk", flat=True))

    response = auditor_client.get(
        reverse("admin:generations_creditaccount_grant") + f"?ids={accounts}"
    )

    assert response.status_code == 403
    page = response.content.decode()
    assert '<html lang="ko">' in page
    assert "css/studio.css" in page and 'class="topbar"' in page
    assert "허용되지 않음" in page
    assert "관리자 화면으로 돌아가기" in page
