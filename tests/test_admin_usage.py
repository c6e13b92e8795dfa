"""The admin's view of credits: usage report, CSV export, grants, the read-only ledger."""

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import credits, usage
from generations.models import CreditAccount, CreditLedgerEntry, Generation, UpstreamHealth

from .otp_helpers import verified_admin_client

pytestmark = pytest.mark.django_db

D = Decimal
START, END = date(2026, 3, 1), date(2026, 3, 31)
ADMIN_URLS = [
    ("admin:generations_usage", {}),
    ("admin:generations_usage_csv", {}),
    ("admin:generations_creditaccount_grant", {}),
    ("admin:generations_creditaccount_changelist", {}),
    ("admin:generations_creditledgerentry_changelist", {}),
]


def at(day, hour=12):
    return timezone.make_aware(datetime(2026, 3, day, hour))


def make_generation(owner, day, status, charged, model="google/gempix2"):
    final = status in ("success", "failed")
    return Generation.objects.create(
        owner=owner,
        model=model,
        prompt="p",
        status=status,
        created_at=at(day),
        finished_at=at(day, 13) if final else None,
        credits_charged=charged,
        hold_amount=D("0.5"),
        credit_state="settled" if charged else "released",
    )


@pytest.fixture
def known_data(member, teammate):
    make_generation(member, 2, "success", D("0.5"))
    make_generation(member, 2, "success", D("1.0"), model="google/nano-banana-pro")
    make_generation(member, 3, "failed", D("0"))
    make_generation(teammate, 3, "success", D("0.5"))
    make_generation(teammate, 20, "failed", D("0"))
    make_generation(teammate, 20, "success", D("0.75"))
    # Outside the range: never counted.
    Generation.objects.create(
        owner=member, model="google/gempix2", prompt="p", created_at=timezone.now()
    )
    return member, teammate


@pytest.fixture
def admin_client(client, admin_user):
    return verified_admin_client(client, admin_user)


def test_report_per_member_per_day_against_a_known_data_set(known_data):
    rows = usage.by_member(START, END, "day")
    figures = [
        (
            r["period"].date(),
            r["owner__username"],
            r["generations"],
            r["successes"],
            r["failures"],
            r["spent"],
        )
        for r in rows
    ]
    assert figures == [
        (date(2026, 3, 2), "mina", 2, 2, 0, D("1.5")),
        (date(2026, 3, 3), "mina", 1, 0, 1, D("0")),
        (date(2026, 3, 3), "tae", 1, 1, 0, D("0.5")),
        (date(2026, 3, 20), "tae", 2, 1, 1, D("0.75")),
    ]


def test_report_per_month_and_per_model(known_data):
    months = {r["owner__username"]: r for r in usage.by_member(START, END, "month")}
    assert (months["mina"]["generations"], months["mina"]["spent"]) == (3, D("1.5"))
    assert (months["tae"]["generations"], months["tae"]["failures"]) == (3, 1)
    models = {r["model"]: (r["generations"], r["spent"]) for r in usage.by_model(START, END)}
    assert models == {
        "google/gempix2": (5, D("1.75")),
        "google/nano-banana-pro": (1, D("1.0")),
    }


def test_report_page_shows_figures_chart_and_range(admin_client, known_data):
    response = admin_client.get(
        reverse("admin:generations_usage"), {"start": "2026-03-01", "end": "2026-03-31"}
    )
    assert response.status_code == 200
    assert "<svg" in response.text and "polyline" in response.text
    assert 'id="usage-by-member"' in response.text
    assert "google/nano-banana-pro" in response.text
    narrow = admin_client.get(
        reverse("admin:generations_usage"), {"start": "2026-03-20", "end": "2026-03-20"}
    )
    assert "google/nano-banana-pro" not in narrow.text


def test_csv_export_streams_one_row_per_generation(admin_client, known_data):
    response = admin_client.get(
        reverse("admin:generations_usage_csv"), {"start": "2026-03-01", "end": "2026-03-31"}
    )
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == usage.CSV_HEADER
    assert len(rows) == 7
    assert [(r[1], r[2], r[4], r[6]) for r in rows[1:3]] == [
        ("mina", "google/gempix2", "success", "0.500000"),
        ("mina", "google/nano-banana-pro", "success", "1.000000"),
    ]


@pytest.mark.parametrize(("name", "kwargs"), ADMIN_URLS)
def test_members_cannot_reach_any_of_it(client, member, name, kwargs):
    client.force_login(member)
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


@pytest.mark.parametrize(("name", "kwargs"), ADMIN_URLS)
def test_anonymous_cannot_reach_any_of_it(client, name, kwargs):
    response = client.get(reverse(name, kwargs=kwargs))
    assert response.status_code == 302
    assert response["Location"].startswith((reverse("login"), reverse("admin:login")))


def test_ledger_cannot_be_edited_or_deleted_in_the_admin(admin_client, member):
    entry = CreditLedgerEntry.objects.get(account__user=member)
    change = reverse("admin:generations_creditledgerentry_change", args=[entry.pk])

    assert admin_client.get(change).status_code == 200  # viewable
    response = admin_client.post(change, {"reason": "rewritten", "amount": "999"})
    assert response.status_code == 403
    delete = reverse("admin:generations_creditledgerentry_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    add = reverse("admin:generations_creditledgerentry_add")
    assert admin_client.get(add).status_code == 403
    entry.refresh_from_db()
    assert entry.reason == "test budget"


def test_ledger_rows_refuse_save_after_creation(member):
    entry = CreditLedgerEntry.objects.get(account__user=member)
    entry.amount = D("1000000")
    with pytest.raises(TypeError):
        entry.save()


def test_admin_grants_with_a_reason_and_the_ledger_names_them(admin_client, admin_user, member):
    account = CreditAccount.objects.get(user=member)
    url = reverse("admin:generations_creditaccount_grant") + f"?ids={account.pk}"
    assert admin_client.get(url).status_code == 200

    data = {"kind": "adjustment", "amount": "-10", "reason": "overcharged", "key": "form-1"}
    response = admin_client.post(url, data)
    admin_client.post(url, data)  # the same form sent twice posts once

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.balance == D("990")
    entry = CreditLedgerEntry.objects.get(kind="adjustment")
    assert (entry.actor, entry.reason) == (admin_user, "overcharged")


def test_grant_action_leads_to_the_form(admin_client, member, teammate):
    credits.account_for(teammate)
    ids = list(CreditAccount.objects.values_list("pk", flat=True))
    response = admin_client.post(
        reverse("admin:generations_creditaccount_changelist"),
        {"action": "grant_or_adjust", "_selected_action": ids},
    )
    assert response.status_code == 302
    assert reverse("admin:generations_creditaccount_grant") in response["Location"]


def test_admins_see_who_is_near_or_at_their_limit(admin_client, member, teammate):
    credits.account_for(teammate)  # 0 credits: at the limit
    response = admin_client.get(
        reverse("admin:generations_creditaccount_changelist"), {"limit": "at"}
    )
    assert response.status_code == 200
    assert "tae" in response.text
    assert ">mina<" not in response.text
    report = admin_client.get(reverse("admin:generations_usage"))
    assert "tae: at the limit" in report.text


def test_admin_index_warns_when_the_key_is_rejected(admin_client):
    assert 'id="key-rejected"' not in admin_client.get(reverse("admin:index")).text
    UpstreamHealth.note_key_rejected()

    response = admin_client.get(reverse("admin:index"))

    assert 'id="key-rejected"' in response.text
    assert "rejecting the team" in response.text


def test_generation_admin_shows_costs(admin_client, known_data):
    response = admin_client.get(reverse("admin:generations_generation_changelist"))
    assert response.status_code == 200
    assert "credits charged" in response.text.lower()


def test_generations_cannot_be_edited_or_deleted_in_the_admin(admin_client, member):
    generation = Generation.objects.create(
        owner=member, model="google/gempix2", prompt="kept", webhook_secret_hash="x" * 64
    )
    change = reverse("admin:generations_generation_change", args=[generation.pk])
    delete = reverse("admin:generations_generation_delete", args=[generation.pk])

    assert admin_client.get(change).status_code == 200
    assert admin_client.post(change, {"prompt": "rewritten"}).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    changelist = admin_client.get(reverse("admin:generations_generation_changelist"))
    assert "delete_selected" not in changelist.text
    generation.refresh_from_db()
    assert generation.prompt == "kept"
