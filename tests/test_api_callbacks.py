"""Callbacks to members' URLs: the provider's callback body, signed per Standard Webhooks
(verified here with the `standardwebhooks` package, the reference implementation), sent
once the generation is settled, retried with backoff, logged for the member."""

from datetime import timedelta

import jsonschema_rs
import pytest
import requests
import time_machine
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from generations import services
from generations.api import callbacks, keys, schemas
from generations.fetch import address_refused_message
from generations.models import CallbackDelivery, Generation

from .api_helpers import Receiver, bearer, make_key

pytestmark = pytest.mark.django_db(transaction=True)

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def submit_with_callback(live_server, secret, url):
    answer = requests.post(
        live_server.url + "/api/image/gen",
        json={"model": "google/gempix2", "prompt": "A banana", "callback_url": url},
        headers=bearer(secret),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]["task_id"]


def query(live_server, secret, task_id):
    return requests.get(
        live_server.url + "/api/task/query",
        params={"task_id": task_id},
        headers=bearer(secret),
        timeout=30,
    )


def run_worker():
    """What `manage.py worker` does, once: run every task that is due, then stop."""
    call_command("db_worker", batch=True, startup_delay=False, reload=False, interval=0)


def test_the_callback_is_the_providers_body_signed_per_standard_webhooks(
    live_server, emulator, member
):
    key, secret = make_key(member)
    with Receiver() as receiver:
        task_id = submit_with_callback(live_server, secret, receiver.url)
        query(live_server, secret, task_id)  # drives the generation to its end

        assert receiver.received.wait(10)

    (request,) = receiver.requests
    payload = Webhook(key.signing_secret).verify(request["body"], request["headers"])
    assert set(payload) == {"result", "status", "task_id", "consumed", "status_reason"}
    components = schemas.document("", retry_schedule="")["components"]
    schema = {"$ref": "#/components/schemas/ProviderCallback", "components": components}
    assert jsonschema_rs.validator_for(schema).is_valid(payload)
    assert payload["task_id"] == task_id
    assert payload["status"] == "success"
    assert payload["consumed"] == "0.500000"
    assert payload["status_reason"] == {"message": None}
    image_url = payload["result"][0]["image"]
    assert image_url.startswith(live_server.url + "/api/results/")
    assert requests.get(image_url, timeout=10).status_code == 200
    assert request["headers"]["webhook-id"].startswith("msg_")
    assert request["headers"]["Content-Type"] == "application/json"
    delivery = CallbackDelivery.objects.get(generation_id=task_id)
    assert delivery.state == CallbackDelivery.State.DELIVERED
    assert [(a.number, a.status_code) for a in delivery.attempt_log.all()] == [(1, 200)]


def test_a_tampered_body_or_a_wrong_secret_fails_verification(live_server, emulator, member):
    key, secret = make_key(member)
    other, _ = make_key(member, "other")
    with Receiver() as receiver:
        task_id = submit_with_callback(live_server, secret, receiver.url)
        query(live_server, secret, task_id)
        assert receiver.received.wait(10)

    (request,) = receiver.requests
    tampered = request["body"].replace(b'"success"', b'"failed"')
    assert tampered != request["body"]
    with pytest.raises(WebhookVerificationError):
        Webhook(key.signing_secret).verify(tampered, request["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(other.signing_secret).verify(request["body"], request["headers"])


def test_a_failed_callback_is_retried_with_backoff_and_logged(
    live_server, emulator, member, settings, client
):
    settings.TASKS = DB_TASKS
    key, secret = make_key(member)
    with Receiver(statuses=[500, 200]) as receiver:
        task_id = submit_with_callback(live_server, secret, receiver.url)
        run_worker()  # sends the generation upstream
        query(live_server, secret, task_id)  # success: its images are queued for storing
        run_worker()  # stores them; the callback's first attempt gets a 500

        assert len(receiver.requests) == 1
        delivery = CallbackDelivery.objects.get(generation_id=task_id)
        assert delivery.state == CallbackDelivery.State.PENDING
        assert delivery.attempts == 1
        waiting = DBTaskResult.objects.get(
            task_path="generations.tasks.deliver_callback", status="READY"
        )
        delay = waiting.run_after - delivery.attempt_log.get().at
        assert timedelta(seconds=4) < delay < timedelta(seconds=6)

        with time_machine.travel(timezone.now() + timedelta(seconds=6)):
            run_worker()

        assert len(receiver.requests) == 2

    first, second = receiver.requests
    assert first["headers"]["webhook-id"] == second["headers"]["webhook-id"]
    assert first["body"] == second["body"]
    Webhook(key.signing_secret).verify(first["body"], first["headers"])
    delivery.refresh_from_db()
    assert delivery.state == CallbackDelivery.State.DELIVERED
    assert [(a.number, a.status_code) for a in delivery.attempt_log.all()] == [
        (1, 500),
        (2, 200),
    ]
    # The member sees the log on the keys page.
    client.force_login(member)
    page = client.get("/keys/").content.decode()
    assert "2 attempts" in page
    assert "HTTP 500" in page and "HTTP 200" in page


def test_the_last_failed_attempt_gives_up(live_server, emulator, member, settings):
    settings.TASKS = DB_TASKS
    _, secret = make_key(member)
    with Receiver(statuses=[503]) as receiver:
        task_id = submit_with_callback(live_server, secret, receiver.url)
        run_worker()
        query(live_server, secret, task_id)
        run_worker()
        elapsed = timedelta()
        for delay in callbacks.RETRY_DELAYS:
            elapsed += delay
            with time_machine.travel(timezone.now() + elapsed + timedelta(seconds=1)):
                run_worker()

    attempts = len(callbacks.RETRY_DELAYS) + 1
    assert len(receiver.requests) == attempts
    delivery = CallbackDelivery.objects.get(generation_id=task_id)
    assert delivery.state == CallbackDelivery.State.FAILED
    assert delivery.attempts == attempts
    assert not DBTaskResult.objects.filter(
        task_path="generations.tasks.deliver_callback", status="READY"
    ).exists()


def test_a_callback_to_a_forbidden_address_is_refused_when_it_is_sent(
    live_server, emulator, member, settings
):
    """The address is checked again at every attempt (DNS may answer otherwise by then),
    and the connected address before anything is sent."""
    _, secret = make_key(member)
    with Receiver() as receiver:
        task_id = submit_with_callback(live_server, secret, receiver.url)
        settings.BANANA_FETCH_ALLOW_PRIVATE = False  # production's policy from here on
        query(live_server, secret, task_id)

    assert receiver.requests == []
    delivery = CallbackDelivery.objects.get(generation_id=task_id)
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None
    assert attempt.error == address_refused_message("127.0.0.1")


def test_a_revoked_keys_callbacks_are_cancelled(live_server, emulator, member, settings):
    key, secret = make_key(member)
    with Receiver() as receiver:
        task_id = submit_with_callback(live_server, secret, receiver.url)
        keys.revoke(key, member)
        settings.BANANA_RECONCILE_AFTER = 0
        services.reconcile()

    assert receiver.requests == []
    delivery = CallbackDelivery.objects.get(generation_id=task_id)
    assert delivery.state == CallbackDelivery.State.CANCELLED
    assert Generation.objects.get(pk=task_id).status == "success"


def test_a_failed_generation_is_called_back_as_failed(live_server, emulator, member):
    emulator.config.failure_rate = 1.0
    key, secret = make_key(member)
    with Receiver() as receiver:
        task_id = submit_with_callback(live_server, secret, receiver.url)
        query(live_server, secret, task_id)
        assert receiver.received.wait(10)

    payload = Webhook(key.signing_secret).verify(
        receiver.requests[0]["body"], receiver.requests[0]["headers"]
    )
    assert payload["status"] == "failed"
    assert payload["result"] is None
    assert payload["status_reason"]["message"]
    assert payload["consumed"] == "0.000000"
