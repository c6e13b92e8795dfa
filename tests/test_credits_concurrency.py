"""Many submissions at once can never overspend a member's budget or the team's cap.

Each thread submits through the view over its own database connection, so the guarantee
under test is the database's: one conditional UPDATE per hold, and submits of one member
queued on their account row.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from generations import credits
from generations.models import CreditAccount, CreditLedgerEntry, Generation, TeamSettings

from .conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 50
PRICE = Decimal("0.5")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, settings):
    vendor = connection.vendor
    if request.param != vendor:
        how = {
            "postgresql": "set DATABASE_URL=postgres://… to run it",
            "sqlite": "runs when DATABASE_URL is unset or sqlite://…",
        }[request.param]
        pytest.skip(f"the {request.param} variant; this run uses {vendor} ({how})")
    settings.BANANA_DEFAULT_MAX_IN_FLIGHT = 0  # 0: no in-flight limit, only credits count
    settings.BANANA_DEFAULT_MAX_PER_MINUTE = 0
    return vendor


def submit_all(users):
    """Every thread logs in as its user, waits at the barrier, then submits at once."""
    barrier = threading.Barrier(len(users))
    answers = [None] * len(users)

    def run(i, user):
        try:
            client = Client()
            client.force_login(user)
            barrier.wait()
            answers[i] = client.post(
                reverse("generate"),
                {"prompt": f"banana {i}", "model": "google/gempix2"},
                headers={"HX-Request": "true"},
            ).text
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, u)) for i, u in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return answers


def spent(user):
    entries = CreditLedgerEntry.objects.filter(account__user=user, kind="settle")
    return -sum((e.amount + e.held_delta for e in entries), Decimal(0))


def test_fifty_submits_on_a_budget_of_ten_send_exactly_ten(database, emulator):
    member = make_user("racer")
    credits.grant(member, PRICE * 10, reason="exactly ten")

    answers = submit_all([member] * THREADS)

    refused = [a for a in answers if "Not enough credits: 0 available, 0.5 needed." in a]
    assert emulator.submit_count == 10
    assert Generation.objects.filter(owner=member).count() == 10
    assert len(refused) == 40
    assert all('<div class="error" role="alert">' in a for a in refused)
    account = CreditAccount.objects.get(user=member)
    assert account.balance == 0
    assert account.balance + account.held + spent(member) == PRICE * 10
    assert CreditLedgerEntry.objects.filter(kind="hold").count() == 10


def test_fifty_submits_against_the_team_cap_send_exactly_ten(database, emulator):
    TeamSettings.objects.create(pk=1, monthly_team_cap=PRICE * 10)
    members = [make_user(f"m{i}") for i in range(5)]
    for member in members:
        credits.grant(member, 100, reason="plenty")

    answers = submit_all([members[i % 5] for i in range(THREADS)])

    refused = [a for a in answers if "The team has used its credits for this month" in a]
    assert emulator.submit_count == 10
    assert Generation.objects.count() == 10
    assert len(refused) == 40
    for member in members:
        account = CreditAccount.objects.get(user=member)
        assert account.balance + account.held + spent(member) == 100
    assert sum(CreditAccount.objects.values_list("held", flat=True)) == PRICE * 10


def test_fifty_submits_with_five_in_flight_allowed_send_exactly_five(database, emulator, settings):
    # The limits are counted after the account's row is locked, so each submit sees the
    # generations of those queued before it.
    settings.BANANA_DEFAULT_MAX_IN_FLIGHT = 5
    emulator.config.pending_seconds = 3600  # they stay in flight
    member = make_user("busy")
    credits.grant(member, 100, reason="plenty")

    answers = submit_all([member] * THREADS)

    refused = [a for a in answers if "You already have 5 generations in progress." in a]
    assert Generation.objects.filter(owner=member).count() == 5
    assert len(refused) == 45
    account = CreditAccount.objects.get(user=member)
    assert account.balance + account.held + spent(member) == 100
    assert account.held + spent(member) == PRICE * 5
