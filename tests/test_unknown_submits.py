"""A submit whose outcome is unknown (the answer was lost, or its sender died mid-send)
holds its credits only as long as something could still tell us more: nothing can without
a callback URL, so the next reconciler run settles it; with one, the upstream's callback
may still name the task, until BANANA_UNKNOWN_TIMEOUT."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from generations import services
from generations.models import CreditAccount, Generation

from .polling import poll

pytestmark = pytest.mark.django_db

GIVEN_UP = "The image service never confirmed this generation."


def held(member):
    return CreditAccount.objects.get(user=member).held


def lost_submit(member, committed):
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    generation.refresh_from_db()
    assert generation.status == Generation.Status.UNKNOWN
    assert held(member) == Decimal("0.5")
    return generation


def test_a_lost_submit_without_a_callback_is_settled_by_the_next_reconciler_run(
    member, emulator, committed
):
    emulator.config.drop_submit_response = True
    generation = lost_submit(member, committed)

    with committed():
        counts = services.reconcile()

    assert counts["given_up"] == 1
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.credit_state == Generation.CreditState.RELEASED
    assert generation.outcome_unknown  # the provider may have charged the team
    assert generation.error_message.startswith(GIVEN_UP)
    assert held(member) == 0


def test_a_sender_that_died_mid_send_is_settled_once_no_submit_could_still_run(
    member, emulator, settings, committed
):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    # Its sender claimed it, then died before the upstream answered.
    limit = services.sending_stale_after()
    claimed_at = timezone.now() - limit + timedelta(seconds=20)
    Generation.objects.filter(pk=generation.pk).update(status="sending", submitted_at=claimed_at)

    with committed():
        services.reconcile()
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SENDING  # a submit could still be running

    with committed():
        services.reconcile(now=timezone.now() + timedelta(seconds=21))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.outcome_unknown
    assert held(member) == 0
    # Minutes, from the upstream client's own limits: not the 35 minutes it used to be.
    assert limit < timedelta(minutes=3)


def test_a_lost_submit_with_a_callback_waits_for_the_upstream_to_name_it(
    member, member_client, emulator, settings, committed
):
    settings.PUBLIC_BASE_URL = "http://testserver"
    emulator.config.drop_submit_response = True
    generation = lost_submit(member, committed)

    with committed():
        services.reconcile()

    generation.refresh_from_db()
    assert generation.status == Generation.Status.UNKNOWN
    assert held(member) == Decimal("0.5")
    card = poll(member_client, generation).text
    assert "Waiting for the upstream" in card

    later = timezone.now() + timedelta(seconds=settings.BANANA_UNKNOWN_TIMEOUT + 1)
    with committed():
        services.reconcile(now=later)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert held(member) == 0
