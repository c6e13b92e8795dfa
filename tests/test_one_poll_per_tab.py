"""A page polls once per interval however many cards are in flight on it, and the poll
never waits on the upstream: a due refresh is claimed and left to a worker."""

from datetime import date

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from generations import services
from generations.models import ApiTask, Generation, ResultImage

from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db


def watch(*generations, tokens=None):
    tokens = tokens or [g.poll_token for g in generations]
    return [f"{g.pk}:{t}" for g, t in zip(generations, tokens, strict=True)]


def test_a_page_with_eight_cards_in_flight_has_one_poll(member_client, member):
    running = [make_generation(member, status="in_progress") for _ in range(8)]

    text = member_client.get(reverse("home")).text

    assert text.count('hx-trigger="every 2s"') == 1
    assert text.count("data-poll-id>") == 8
    for generation in running:
        assert f'value="{generation.pk}:{generation.poll_token}"' in text


def test_the_poll_answers_only_cards_that_changed(member_client, member):
    same = make_generation(member, status="in_progress")
    moved = make_generation(member, status="in_progress")

    response = member_client.get(
        reverse("generation_statuses"),
        {"watch": watch(same, moved, tokens=[same.poll_token, "pending"])},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert f'id="card-{moved.pk}" hx-swap-oob="true"' in response.text
    assert f"card-{same.pk}" not in response.text


def test_a_settled_card_brings_the_credit_header_along(member_client, member):
    done = make_generation(member)

    response = member_client.get(
        reverse("generation_statuses"), {"watch": watch(done, tokens=["in_progress"])}
    )

    assert f'id="card-{done.pk}" hx-swap-oob="true"' in response.text
    assert 'id="credit-balance"' in response.text
    assert "data-poll-id>" not in response.text  # nothing left to watch


def test_the_poll_never_asks_the_upstream_itself(
    member_client, member, emulator, settings, client_requests_commit
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    running = make_generation(member, status="in_progress", upstream_task_id="ta-slow")

    for _ in range(3):
        member_client.get(reverse("generation_statuses"), {"watch": watch(running)})

    assert emulator.query_count() == 0
    queued = DBTaskResult.objects.get()  # coalesced: one refresh claimed, for a worker
    assert queued.task_path == "generations.tasks.refresh_claimed_generation"
    assert services.claim_check(running.pk) is False


def test_other_members_cards_and_junk_are_ignored(member_client, teammate):
    theirs = make_generation(teammate, status="in_progress", visibility="private")

    response = member_client.get(
        reverse("generation_statuses"),
        {"watch": [*watch(theirs, tokens=["x"]), "not-a-uuid:x", ":"]},
    )

    assert response.status_code == 200
    assert str(theirs.pk) not in response.text
    assert not Generation.objects.filter(last_checked_at__isnull=False).exists()


def test_the_poll_draws_each_card_with_its_own_images_and_badge(member_client, member):
    # The poll reads cards, images and API task in one joined query: each card gets its own
    # images in order and its key's badge, and a card without them gets none.
    done = make_generation(member)
    ResultImage.objects.create(
        generation=done, position=1, state=ResultImage.State.FAILED, error_message="gone"
    )
    ApiTask.objects.create(generation=done, key_name="nightly", month=date(2026, 1, 1))
    plain = make_generation(member, status="failed", error_message="refused")

    polled = member_client.get(
        reverse("generation_statuses"), {"watch": watch(done, plain, tokens=["x", "x"])}
    ).text

    assert "API: nightly" in polled
    first = polled.index(reverse("result_image", args=[done.pk, 0]))
    assert "gone" in polled[first:]
    assert "refused" in polled
    assert polled.count("API: ") == 1
