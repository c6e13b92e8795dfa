"""Members' credits: holds, settlement, release, limits, and what members see."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import credits, services
from generations.models import CreditAccount, CreditLedgerEntry, Generation, TeamSettings
from generations.upstream import TaskState

from .conftest import make_user, refresh_now

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("client_requests_commit")]

D = Decimal


def submit(client, **extra):
    data = {"prompt": "A banana", "model": "google/gempix2", **extra}
    return client.post(reverse("generate"), data, headers={"HX-Request": "true"})


@pytest.fixture
def poor(db):
    user = make_user("poor")
    credits.grant(user, "0.3", reason="almost nothing")
    return user


@pytest.fixture
def poor_client(client, poor):
    client.force_login(poor)
    return client


def account(user):
    return CreditAccount.objects.get(user=user)


def ledger_sums_match(user):
    acc = account(user)
    entries = CreditLedgerEntry.objects.filter(account=acc)
    return (
        sum((e.amount for e in entries), D(0)) == acc.balance
        and sum((e.held_delta for e in entries), D(0)) == acc.held
    )


def test_it_refuses_a_submit_without_enough_credits_and_sends_nothing(poor_client, emulator):
    response = submit(poor_client)

    assert response.status_code == 200
    assert '<div class="error" role="alert">' in response.text
    assert "Not enough credits: 0.3 available, 0.5 needed." in response.text
    # Only the form's error slot is swapped: the form and what it holds stay as they are.
    assert 'id="compose-errors" hx-swap-oob="true"' in response.text
    assert 'id="compose"' not in response.text
    assert not Generation.objects.exists()
    assert emulator.submit_count == 0


def test_it_refuses_without_htmx_too(poor_client, emulator):
    response = poor_client.post(reverse("generate"), {"prompt": "x", "model": "google/gempix2"})

    assert response.status_code == 400
    assert "Not enough credits: 0.3 available, 0.5 needed." in response.text
    assert emulator.submit_count == 0


def test_it_holds_the_price_then_settles_the_consumed_amount(
    member, member_client, emulator, committed
):
    submit(member_client)
    generation = Generation.objects.get()
    assert generation.hold_amount == D("0.5")
    assert account(member).held == D("0.5")
    assert account(member).balance == D("999.5")

    with committed():
        refresh_now(generation.pk)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS
    assert generation.credit_state == Generation.CreditState.SETTLED
    assert generation.credits_charged == D("0.5")
    acc = account(member)
    assert (acc.balance, acc.held) == (D("999.5"), D("0"))
    kinds = list(
        CreditLedgerEntry.objects.filter(generation=generation).values_list("kind", flat=True)
    )
    assert sorted(kinds) == ["hold", "settle"]
    assert ledger_sums_match(member)


def test_a_4k_image_costs_more(member, emulator):
    generation = services.create_generation(
        member, model="google/gempix2", prompt="x", image_size="4k"
    )
    assert generation.hold_amount == D("1.0")


def test_a_failure_releases_the_hold(member, emulator, committed):
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    generation.refresh_from_db()
    emulator.finish(generation.upstream_task_id, "failed")

    with committed():
        refresh_now(generation.pk)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.credit_state == Generation.CreditState.RELEASED
    assert account(member).balance == D("1000")
    assert account(member).held == D("0")
    assert ledger_sums_match(member)


def test_a_rejected_submit_releases_the_hold(member, emulator, committed, settings):
    # On offer here, unknown upstream: the upstream rejects it.
    settings.BANANA_MODELS = [{"id": "google/not-a-model", "label": "Nope", "sizes": []}]
    with committed():
        generation = services.create_generation(member, model="google/not-a-model", prompt="x")

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.credit_state == Generation.CreditState.RELEASED
    assert account(member).balance == D("1000")


def test_a_charge_above_the_hold_is_recorded_and_flagged(member, emulator, committed):
    emulator.config.price = "0.750000"
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")

    with committed():
        refresh_now(generation.pk)

    generation.refresh_from_db()
    assert generation.over_hold is True
    assert generation.credits_charged == D("0.75")
    assert account(member).balance == D("999.25")
    assert ledger_sums_match(member)


def test_settlement_happens_once_however_often_the_state_arrives(member, emulator, committed):
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    generation.refresh_from_db()
    state = TaskState(
        task_id=generation.upstream_task_id,
        status="success",
        raw_status="success",
        images=("data:image/png;base64,AAAA",),
        consumed=D("0.5"),
    )
    for _ in range(3):
        with committed():
            services.apply_upstream_state(generation.pk, state)
    assert credits.settle(generation, D("0.5")) is None
    assert credits.release(generation, "late") is None

    entries = CreditLedgerEntry.objects.filter(generation=generation)
    assert sorted(entries.values_list("kind", flat=True)) == ["hold", "settle"]
    assert account(member).balance == D("999.5")


def test_settle_and_release_are_no_ops_without_a_hold(member):
    generation = Generation.objects.create(owner=member, model="m", prompt="old")

    assert credits.settle(generation, D("0.5")) is None
    assert credits.release(generation, "x") is None
    assert account(member).balance == D("1000")


def test_success_without_consumed_charges_the_hold(member, emulator, committed):
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    generation.refresh_from_db()
    state = TaskState(
        task_id=generation.upstream_task_id,
        status="success",
        raw_status="success",
        images=("data:image/png;base64,AAAA",),
    )
    with committed():
        services.apply_upstream_state(generation.pk, state)

    generation.refresh_from_db()
    assert generation.credits_charged == D("0.5")


def test_unknown_outcome_given_up_by_the_reconciler_releases(member, emulator, settings, committed):
    emulator.config.drop_submit_response = True
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    generation.refresh_from_db()
    assert generation.status == Generation.Status.UNKNOWN
    assert account(member).held == D("0.5")

    services.reconcile(now=timezone.now() + timedelta(seconds=settings.BANANA_UNKNOWN_TIMEOUT + 1))

    generation.refresh_from_db()
    assert generation.credit_state == Generation.CreditState.RELEASED
    assert account(member).held == D("0")
    assert generation.outcome_unknown  # flagged for admins: the provider may have charged


def test_admins_see_which_given_up_submits_may_have_been_charged(client, member, admin_user):
    from django.urls import reverse

    from .otp_helpers import verified_admin_client

    lost = Generation.objects.create(
        owner=member, model="m", prompt="lost answer", status="failed", outcome_unknown=True
    )
    plain = Generation.objects.create(owner=member, model="m", prompt="plain", status="failed")
    admin = verified_admin_client(client, admin_user)

    url = reverse("admin:generations_generation_changelist")
    flagged = admin.get(url, {"outcome_unknown__exact": "1"}).text

    assert "may have been charged by the provider" in admin.get(url).text
    assert str(lost.pk) in flagged and str(plain.pk) not in flagged


def test_in_flight_limit_refuses_with_a_clear_message(member, member_client, emulator):
    acc = account(member)
    acc.max_in_flight = 2
    acc.save()
    for _ in range(2):
        assert submit(member_client).status_code == 200

    response = submit(member_client)

    assert "You already have 2 generations in progress" in response.text
    assert emulator.submit_count == 2
    assert Generation.objects.count() == 2


def test_per_minute_limit_refuses(member, member_client, emulator):
    CreditAccount.objects.filter(user=member).update(max_per_minute=1, max_in_flight=10)
    submit(member_client)

    response = submit(member_client)

    assert "per minute" in response.text
    assert emulator.submit_count == 1


def test_team_cap_stops_everyone(member, teammate, emulator, committed):
    TeamSettings.objects.create(pk=1, monthly_team_cap=D("1.0"))
    credits.grant(teammate, 10)
    with committed():
        services.create_generation(member, model="google/gempix2", prompt="x")
        services.create_generation(teammate, model="google/gempix2", prompt="x")

    with pytest.raises(credits.TeamCapReached), committed():
        services.create_generation(teammate, model="google/gempix2", prompt="x")
    assert emulator.submit_count == 2


def test_retry_without_credits_shows_the_message(poor, poor_client, emulator):
    original = Generation.objects.create(
        owner=poor, model="google/gempix2", prompt="x", status="failed", finished_at=timezone.now()
    )
    response = poor_client.post(
        reverse("generation_retry", args=[original.pk]), headers={"HX-Request": "true"}
    )
    assert "Not enough credits" in response.text
    assert Generation.objects.count() == 1


def test_monthly_allowance_renews_once_a_month(member):
    CreditAccount.objects.filter(user=member).update(monthly_allowance=D("20"))

    assert credits.renew_monthly_allowance(member, date(2026, 3, 5)) == D("20")
    assert credits.renew_monthly_allowance(member, date(2026, 3, 28)) == D("0")
    assert credits.renew_monthly_allowance(member, date(2026, 4, 1)) == D("20")
    assert account(member).balance == D("1040")
    keys = CreditLedgerEntry.objects.filter(kind="allowance").values_list(
        "idempotency_key", flat=True
    )
    assert sorted(keys) == [f"allowance:{member.pk}:2026-03", f"allowance:{member.pk}:2026-04"]


def test_team_default_allowance_applies_when_the_member_has_none(member):
    TeamSettings.objects.create(pk=1, default_monthly_allowance=D("7"))
    assert credits.renew_monthly_allowance(member, date(2030, 1, 1)) == D("7")


def test_grant_and_adjust_name_the_admin_and_reason(member, admin_user):
    credits.grant(member, 5, admin_user, "top-up", key="k1")
    credits.grant(member, 5, admin_user, "top-up", key="k1")
    credits.adjust(member, "-2.5", admin_user, "refund reversed")

    acc = account(member)
    assert acc.balance == D("1002.5")
    adjustment = CreditLedgerEntry.objects.get(kind="adjustment")
    assert (adjustment.actor, adjustment.reason, adjustment.amount) == (
        admin_user,
        "refund reversed",
        D("-2.5"),
    )
    with pytest.raises(ValueError):
        credits.adjust(member, 1, admin_user, "  ")


def test_ledger_rows_cannot_be_changed_or_deleted(member):
    entry = CreditLedgerEntry.objects.first()
    entry.reason = "rewritten"
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        CreditLedgerEntry.objects.update(reason="x")
    with pytest.raises(TypeError):
        CreditLedgerEntry.objects.all().delete()


def test_price_for_prefers_admin_prices(db):
    from generations.models import ModelPrice

    assert credits.price_for("google/gempix2", "4k") == D("1.0")
    assert credits.price_for("google/nano-banana") == D("0.5")
    ModelPrice.objects.create(model="google/nano-banana", price=D("0.25"))
    assert credits.price_for("google/nano-banana", "") == D("0.25")


# --- What members see ----------------------------------------------------------------------


def test_header_shows_available_and_held(member_client):
    response = member_client.get(reverse("home"))
    assert 'id="credit-balance"' in response.text
    assert "1000 available / 0 held" in response.text


def test_form_shows_the_price_and_follows_model_and_size(member_client):
    response = member_client.get(reverse("home"))
    assert 'id="price"' in response.text
    assert "Costs 0.5 credits" in response.text

    price = member_client.get(
        reverse("credit_price"), {"model": "google/gempix2", "image_size": "4k"}
    )
    assert price.text.strip() == "Costs 1 credit"
    four = member_client.get(
        reverse("credit_price"), {"model": "google/gempix2", "image_size": "4k", "count": "4"}
    )
    assert "Costs 4 credits" in four.text
    # A model that takes no size is priced without one, whatever size is sent.
    no_size = member_client.get(
        reverse("credit_price"), {"model": "google/nano-banana", "image_size": "4k"}
    )
    assert "Costs 0.5 credits" in no_size.text


def test_card_shows_the_hold_while_in_flight(member, member_client, emulator):
    emulator.config.drop_submit_response = True
    response = submit(member_client)
    assert "0.5 credits on hold" in response.text


def test_notice_past_80_percent_of_allowance(member, member_client, emulator, committed):
    CreditAccount.objects.filter(user=member).update(monthly_allowance=D("0.6"))
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    with committed():
        refresh_now(generation.pk)

    response = member_client.get(reverse("home"))

    assert "You have used 83% of your monthly allowance" in response.text


def test_ledger_page_shows_only_my_entries(member, member_client, teammate):
    credits.grant(teammate, 3, reason="secret teammate grant")

    response = member_client.get(reverse("credit_ledger"))

    assert response.status_code == 200
    assert "test budget" in response.text
    assert "secret teammate grant" not in response.text


def test_ledger_page_as_another_member_shows_their_own(client, member, teammate):
    client.force_login(teammate)
    response = client.get(reverse("credit_ledger"))
    assert response.status_code == 200
    assert "test budget" not in response.text


def test_credit_pages_need_login(client):
    for url in [reverse("credit_ledger"), reverse("credit_price")]:
        response = client.get(url)
        assert response.status_code == 302
        assert reverse("login") in response["Location"]


def test_header_credits_follow_a_submit_and_its_settlement_without_reload(
    member_client, emulator, settings
):
    settings.BANANA_POLL_INTERVAL = 0
    emulator.config.pending_seconds = 60
    response = member_client.post(
        reverse("generate"),
        {"prompt": "p", "model": "google/gempix2"},
        headers={"HX-Request": "true"},
    )
    assert 'id="credit-balance"' in response.text
    assert 'hx-swap-oob="true"' in response.text
    assert "999.5 available / 0.5 held" in response.text
    generation = Generation.objects.get()
    status = reverse("generation_status", args=[generation.pk])

    running = member_client.get(status, headers={"HX-Request": "true"})
    assert 'id="credit-balance"' not in running.text

    emulator.finish(generation.upstream_task_id, status="success")
    for _ in range(5):  # the answer that stops the polling, once the image is stored too
        final = member_client.get(status, headers={"HX-Request": "true"})
        if final.status_code == 286:
            break
    assert final.status_code == 286
    assert "999.5 available / 0 held" in final.text


def test_the_ledger_pages_by_keyset_and_shows_every_entry_once(member_client, member):
    from generations.views.credits import LEDGER_PAGE_SIZE

    for n in range(LEDGER_PAGE_SIZE + 5):
        credits.grant(member, 1, reason=f"gift {n}")
    seen, url = [], reverse("credit_ledger")
    while url:
        response = member_client.get(url)
        seen += [entry.pk for entry in response.context["entries"]]
        older = response.context["older"]
        url = f"{reverse('credit_ledger')}?before={older}" if older else None
    assert (
        len(seen)
        == len(set(seen))
        == CreditLedgerEntry.objects.filter(account__user=member).count()
    )
    assert "Newest" in response.text
