"""What common pages and answers cost in queries, so pages stay within reach of a bare view."""

from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generations import catalogue, credits
from generations.models import ApiKey

from .api_helpers import bearer, make_key, png_bytes
from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db

SUBMIT_BUDGET = 12


@pytest.fixture
def worker_elsewhere(settings):
    """Enqueued tasks wait for a worker, as in production, instead of running in the
    request (what a worker costs is not what the request costs)."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def test_the_credit_header_costs_one_query(member, django_assert_num_queries):
    credits.summary_for(member)  # the month's allowance is credited once
    with django_assert_num_queries(1):
        summary = credits.summary_for(member)
    assert summary.available == 1000


def test_the_header_follows_the_team_default_allowance(member, settings):
    from generations.models import TeamSettings

    TeamSettings.objects.create(pk=1, default_monthly_allowance=40)
    assert credits.summary_for(member).allowance == 40


def test_a_poll_of_finished_cards_costs_three_queries_however_many(
    member_client, member, django_assert_num_queries
):
    done = [make_generation(member) for _ in range(3)]
    watch = [f"{g.pk}:in_progress" for g in done]
    member_client.get(reverse("home"))
    # The session, the member, and the cards with their images and the credit header.
    with django_assert_num_queries(3):
        response = member_client.get(reverse("generation_statuses"), {"watch": watch})
    assert response.text.count('hx-swap-oob="true"') == 4  # three cards and the header
    assert "1000 available / 0 held" in response.text


@pytest.mark.parametrize("cards", [1, 8])
def test_a_poll_of_cards_in_flight_writes_nothing_until_a_refresh_is_due(
    member_client, member, cards, django_assert_num_queries
):
    running = [
        make_generation(member, status="in_progress", upstream_task_id=f"ta-{i}")
        for i in range(cards)
    ]
    watch = [f"{g.pk}:{g.poll_token}" for g in running]
    poll = partial(member_client.get, reverse("generation_statuses"), {"watch": watch})
    poll()  # claims the refresh of each (the worker asks the upstream)
    # The session, the member, the cards: no claim, no task, however many cards.
    with django_assert_num_queries(3):
        response = poll()
    assert response.text.strip() == ""


def studio_submit(client, count=1):
    return client.post(
        reverse("generate"),
        {"model": catalogue.default_model(), "prompt": "A banana", "count": count},
        headers={"HX-Request": "true"},
    )


# transaction=True: the submit's transaction is the outermost one, as in production (inside
# a test's transaction every atomic block would add a SAVEPOINT and its RELEASE). Django
# counts the BEGIN and COMMIT of a transaction, on SQLite and PostgreSQL alike.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("count", [1, 4])
def test_a_studio_submit_costs_twelve_queries_for_one_image_or_four(
    member_client, member, count, worker_elsewhere, settings, django_assert_max_num_queries
):
    """12, for a job of one image or four: the session and the
    member; the models this member may use (for the form, then for create_job); the price;
    BEGIN; the hold (the account's conditional UPDATE, one read for the limits, storage and
    team cap, the team month's UPDATE, the ledger rows); the generation rows; COMMIT. The
    answer's cards and header are drawn from what was just written."""
    settings.BANANA_DEFAULT_MAX_IN_FLIGHT = 8
    studio_submit(member_client)  # the month's allowance and the team's month exist
    with django_assert_max_num_queries(SUBMIT_BUDGET) as queries:
        response = studio_submit(member_client, count)
    assert response.text.count('class="tile"') == count
    held = Decimal("0.5") * (1 + count)
    header = (
        f"{credits.format_credits(1000 - held)} available / {credits.format_credits(held)} held"
    )
    assert header in response.text
    assert len(queries) == 12


def submitted(queries):
    """The queries of the submit itself: up to its COMMIT (what follows is the answer)."""
    sql = [q["sql"] for q in queries.captured_queries]
    return sql[: sql.index("COMMIT") + 1]


@pytest.fixture
def api_submit(client, member, worker_elsewhere, settings):
    """A submit through one of the APIs with a key of `member` used a moment ago (its last
    use is written at most once a minute), the month's rows existing (the key's month, the
    allowance, the team's month); an OpenAI call answers at once (the images would take a
    worker), with its 504."""
    settings.BANANA_API_WAIT_SECONDS = 0
    settings.BANANA_DEFAULT_MAX_IN_FLIGHT = 16
    _key, secret = make_key(member)

    def submit(name, **body):
        if name == "openai_images_edits":
            kwargs = {"data": body}
        else:
            kwargs = {"data": body, "content_type": "application/json"}
        return client.post(reverse(name), headers=bearer(secret), **kwargs)

    submit("api_image_gen", model=catalogue.default_model(), prompt="A banana")
    return submit


@pytest.mark.django_db(transaction=True)
def test_a_provider_api_submit_costs_eleven_queries(api_submit, django_assert_max_num_queries):
    """11: the key, its member and the member's model access rules; the price; BEGIN; the
    hold's four; the generation row; the key's month (one conditional UPDATE) and its task
    row; COMMIT."""
    body = {"model": catalogue.default_model(), "prompt": "A banana"}
    with django_assert_max_num_queries(SUBMIT_BUDGET) as queries:
        response = api_submit("api_image_gen", **body)
    assert response.status_code == 200, response.text
    assert len(queries) == 11


@pytest.mark.django_db(transaction=True)
def test_a_submit_with_a_key_unused_for_a_minute_writes_its_last_use_in_twelve_queries(
    api_submit, member, django_assert_max_num_queries
):
    ApiKey.objects.filter(user=member).update(last_used_at=timezone.now() - timedelta(hours=1))
    body = {"model": catalogue.default_model(), "prompt": "A banana"}
    with django_assert_max_num_queries(SUBMIT_BUDGET) as queries:
        response = api_submit("api_image_gen", **body)
    assert response.status_code == 200, response.text
    assert len(queries) == 12
    assert ApiKey.objects.get(user=member).last_used_at > timezone.now() - timedelta(minutes=1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("n", [1, 4])
def test_an_openai_generations_submit_costs_eleven_queries_for_one_image_or_four(
    api_submit, n, member
):
    """The same 11 for n images (one job: one statement of each kind), then the two
    reads of the rows it answers with."""
    body = {"model": catalogue.default_model(), "prompt": "A banana", "n": n}
    with CaptureQueriesContext(connection) as queries:
        response = api_submit("openai_images_generations", **body)
    assert response.status_code == 504, response.text  # no worker: not ready in time
    assert len(submitted(queries)) == 11
    assert len(queries) == 11 + 2
    assert member.generations.count() == 1 + n


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("images", [1, 4])
def test_an_openai_edits_submit_costs_twelve_queries_however_many_images(api_submit, images):
    """An edit is that submit and the reference rows' INSERT."""
    body = {
        "model": catalogue.default_model(),
        "prompt": "Bluer",
        "image[]": [
            SimpleUploadedFile(f"{i}.png", png_bytes(), content_type="image/png")
            for i in range(images)
        ],
    }
    with CaptureQueriesContext(connection) as queries:
        response = api_submit("openai_images_edits", **body)
    assert response.status_code == 504, response.text
    assert len(submitted(queries)) <= SUBMIT_BUDGET
    assert len(submitted(queries)) == 12


def task_query(client, secret, generation):
    return client.get(
        reverse("api_task_query"), {"task_id": str(generation.pk)}, headers=bearer(secret)
    )


def test_an_api_status_query_of_a_finished_task_costs_three_queries(
    client, member, django_assert_num_queries
):
    """The key (its member and rules), the generation, its results."""
    done = make_generation(member)
    _key, secret = make_key(member)
    task_query(client, secret, done)  # the key's last use is written
    with django_assert_num_queries(3):
        response = task_query(client, secret, done)
    assert response.json()["data"]["status"] == "success"


def test_an_api_status_query_of_a_task_in_flight_writes_nothing_until_a_check_is_due(
    client, member, django_assert_num_queries
):
    running = make_generation(
        member, status="in_progress", upstream_task_id="ta-1", last_checked_at=timezone.now()
    )
    _key, secret = make_key(member)
    task_query(client, secret, running)
    with django_assert_num_queries(3):
        response = task_query(client, secret, running)
    assert response.json()["data"]["status"] == "in_progress"
