"""One refresh in flight per generation: a claim holds until its refresh has run (or its
worker is long dead), no poll, webhook or reconciler adds a second one meanwhile, a
refresh of a row that is already final asks nobody, and a webhook announcing a final
state is asked about at once and its images stored right away."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from generations import services
from generations.models import Generation, ResultImage, hash_secret

from .api_helpers import data_uri
from .conftest import TEST_KEY, refresh_now
from .polling import poll
from .sharing_builders import make_generation
from .worker_helpers import DB_TASKS

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("client_requests_commit")]

REFRESH_TASKS = ["refresh_claimed_generation", "refresh_after_webhook"]


@pytest.fixture
def running(member, emulator, committed):
    """A generation the upstream is still working on, sent and asked about once."""
    emulator.config.pending_seconds = 600
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    generation.refresh_from_db()
    assert generation.status == Generation.Status.PENDING
    return generation


def refresh_tasks():
    return DBTaskResult.objects.filter(
        task_path__in=[f"generations.tasks.{name}" for name in REFRESH_TASKS]
    )


def run_queued_tasks():
    """What a worker does with what is queued now (each task as its own run)."""
    for result in DBTaskResult.objects.ready():
        result.delete()
        result.task.call(**result.args_kwargs["kwargs"])


def test_a_claimed_refresh_holds_until_it_has_run(member_client, running, settings, emulator):
    settings.TASKS = DB_TASKS
    poll(member_client, running)
    assert refresh_tasks().count() == 1

    # Long after the interval, the refresh has still not run: no poll adds a second one,
    # nor does the reconciler.
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        for _ in range(5):
            poll(member_client, running)
        settings.BANANA_RECONCILE_AFTER = 0
        services.reconcile()
        assert refresh_tasks().count() == 1
        assert not services.claim_check(running.pk)

        run_queued_tasks()
        assert emulator.query_count(running.upstream_task_id) == 1

    # Once it has run, the next due poll claims the next one.
    with time_machine.travel(timezone.now() + timedelta(seconds=120)):
        poll(member_client, running)
    assert refresh_tasks().count() == 1


def test_a_claim_whose_worker_died_lapses_after_the_timeout(member_client, running, settings):
    settings.TASKS = DB_TASKS
    poll(member_client, running)
    refresh_tasks().delete()  # its worker died with it

    later = timedelta(seconds=settings.BANANA_REFRESH_CLAIM_TIMEOUT - 5)
    with time_machine.travel(timezone.now() + later):
        poll(member_client, running)
        assert not refresh_tasks().exists()
    with time_machine.travel(timezone.now() + later + timedelta(seconds=10)):
        poll(member_client, running)
        assert refresh_tasks().count() == 1


def test_a_refresh_of_a_row_already_final_asks_nobody(running, emulator, settings, committed):
    settings.TASKS = DB_TASKS
    Generation.objects.filter(pk=running.pk).update(last_checked_at=None)
    with committed():
        assert services.refresh_soon(Generation.objects.get(pk=running.pk))
    assert refresh_tasks().count() == 1
    queries = emulator.query_count(running.upstream_task_id)
    # The webhook finished it before the claimed refresh ran.
    emulator.finish(running.upstream_task_id, status="success")
    state = services.upstream.query(running.upstream_task_id)
    with committed():
        services.apply_upstream_state(running.pk, state)
    queries += 1

    with committed():
        run_queued_tasks()

    assert emulator.query_count(running.upstream_task_id) == queries
    running.refresh_from_db()
    assert running.status == Generation.Status.SUCCESS
    assert running.refresh_claimed_until is None


def test_a_webhook_announcing_the_end_is_asked_about_at_once_and_stored(
    running, emulator, settings, client, committed
):
    settings.PUBLIC_BASE_URL = "http://testserver"
    refresh_now(running.pk)  # someone has just asked: the next check is seconds away
    emulator.finish(running.upstream_task_id, status="success")
    secret = "s" * 43
    Generation.objects.filter(pk=running.pk).update(webhook_secret_hash=hash_secret(secret))
    url = reverse("upstream_webhook", args=[running.pk, secret])
    body = {"task_id": running.upstream_task_id, "status": "success"}

    with time_machine.travel(timezone.now() + timedelta(seconds=1)), committed():
        answer = client.post(url, body, content_type="application/json")

    assert answer.status_code == 200
    running.refresh_from_db()
    assert running.status == Generation.Status.SUCCESS
    assert running.results.get().state == ResultImage.State.STORED


class UpstreamWhoseTaskEndsDuringAQuery:
    """A fake upstream: its first answer to a query is "pending", but the task ends while
    that answer travels, and the upstream's webhook reaches us meanwhile (the webhook's
    task runs in the server's thread, as a worker would run it); later queries are
    answered "success". `answers` lists the answers in the order they were sent."""

    def __init__(self, generation_id):
        self.answers = []
        self.queries = 0
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                task_id = parse_qs(urlsplit(self.path).query)["task_id"][0]
                upstream.queries += 1
                if upstream.queries == 1:
                    try:
                        services.refresh_on_webhook(generation_id, announced_final=True)
                    finally:
                        connection.close()
                    data = {"task_id": task_id, "status": "pending"}
                else:
                    image = {"image": data_uri()}
                    data = {"task_id": task_id, "status": "success", "result": [image]}
                upstream.answers.append(data["status"])
                body = json.dumps({"code": 0, "data": {**data, "consumed": "0.5"}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "claimed_ago, answers",
    [
        # Claimed as the webhook comes (a duplicate's own refresh, a poll at the very end):
        # that refresh looks once more when it ends.
        (0, ["pending", "success"]),
        # A poll's query that went out before the task ended: the webhook does not wait for
        # its stale answer but looks beside it at once, and nobody looks again.
        (2, ["success", "pending"]),
    ],
)
def test_a_webhook_during_a_refresh_in_flight_is_answered_by_one_more_look(
    member, settings, claimed_ago, answers
):
    settings.BANANA_API_KEY = TEST_KEY
    generation = make_generation(member, status="pending", upstream_task_id="ta-racing")
    with UpstreamWhoseTaskEndsDuringAQuery(generation.pk) as upstream:
        settings.BANANA_API_BASE_URL = upstream.url
        assert services.claim_check(generation.pk)
        Generation.objects.filter(pk=generation.pk).update(
            last_checked_at=timezone.now() - timedelta(seconds=claimed_ago)
        )

        services.refresh_claimed(generation.pk)

    assert upstream.answers == answers
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS
    assert generation.refresh_claimed_until is None
    assert generation.results.get().state == ResultImage.State.STORED


def test_a_webhook_without_news_waits_for_the_interval(running, emulator, settings):
    settings.TASKS = DB_TASKS
    refresh_now(running.pk)
    queries = emulator.query_count(running.upstream_task_id)

    again = services.refresh_on_webhook(running.pk, announced_final=False)

    assert emulator.query_count(running.upstream_task_id) == queries
    assert again == services.next_check_at(running.pk)
