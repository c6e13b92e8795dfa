"""/metrics: Prometheus text behind a bearer token, with numbers from real traffic and data."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django_tasks_db.models import DBTaskResult
from prometheus_client.parser import text_string_to_metric_families

from generations.models import Generation
from generations.tasks import housekeeping, reconcile_generations
from operations import heartbeat

from . import polling
from .conftest import TEST_KEY

pytestmark = pytest.mark.django_db

TOKEN = "metrics-" + "t" * 32


@pytest.fixture
def scrape(client, settings):
    """Scrapes with the right token and returns {(name, labels...): value}."""
    settings.METRICS_TOKEN = TOKEN

    def scrape():
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples[(sample.name, *sorted(sample.labels.items()))] = sample.value
        return samples

    return scrape


def test_no_token_configured_means_there_is_no_metrics_page(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_without_credentials_401_and_with_wrong_ones_403(client, settings):
    settings.METRICS_TOKEN = TOKEN
    missing = client.get("/metrics")
    assert missing.status_code == 401
    assert missing["WWW-Authenticate"] == 'Bearer realm="metrics"'
    for header in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer wrong", TOKEN):
        response = client.get("/metrics", headers={"Authorization": header})
        assert response.status_code == 403, header
        assert "banana" not in response.text


def test_metrics_need_no_login(scrape):
    assert scrape()[("banana_database_up",)] == 1


def test_http_requests_are_counted_by_method_and_status_class_and_timed(client, scrape):
    before = scrape()
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    assert client.get("/history/").status_code == 302  # to the login page
    assert client.post("/healthz").status_code == 405
    after = scrape()

    def delta(name, **labels):
        key = (name, *sorted(labels.items()))
        return after.get(key, 0) - before.get(key, 0)

    # The first scrape's own answer is counted too.
    assert delta("banana_http_requests_total", method="GET", status="2xx") == 3 + 1
    assert delta("banana_http_requests_total", method="GET", status="3xx") == 1
    assert delta("banana_http_requests_total", method="POST", status="4xx") == 1
    assert delta("banana_http_request_duration_seconds_count") == 6
    assert delta("banana_http_request_duration_seconds_bucket", le="+Inf") == 6
    assert delta("banana_http_request_duration_seconds_sum") > 0


@pytest.mark.usefixtures("client_requests_commit")
def test_generations_failures_key_and_credits_come_from_the_data(
    member_client, emulator, settings, scrape
):
    settings.BANANA_POLL_INTERVAL = 0

    def submit(prompt):
        member_client.post(reverse("generate"), {"prompt": prompt, "model": "google/gempix2"})
        return Generation.objects.get(prompt=prompt)

    def poll(generation):
        polling.poll(member_client, generation)

    done = submit("A banana that succeeds")
    poll(done)
    failed_upstream = submit("A banana the model refuses")
    emulator.finish(failed_upstream.upstream_task_id, "failed", "Content policy violation")
    poll(failed_upstream)
    waiting = submit("A banana still cooking")
    emulator.set_status(waiting.upstream_task_id, "in_progress")
    poll(waiting)
    settings.BANANA_API_KEY = "dk-rejected-key"
    submit("A banana sent with a rejected key")

    samples = scrape()
    statuses = {
        labels[0][1]: value
        for (name, *labels), value in samples.items()
        if name == "banana_generations"
    }
    assert statuses == dict.fromkeys(Generation.Status.values, 0) | {
        "success": 1,
        "failed": 2,
        "in_progress": 1,
    }
    assert samples[("banana_generation_failures_total", ("stage", "submit"))] == 1
    assert samples[("banana_generation_failures_total", ("stage", "task"))] == 1
    assert samples[("banana_upstream_key_rejected",)] == 1
    assert samples[("banana_upstream_key_rejected_since_seconds",)] > 0
    done.refresh_from_db()
    assert done.credits_charged == Decimal("0.5")
    assert samples[("banana_credits_spent_total",)] == 0.5

    settings.BANANA_API_KEY = TEST_KEY
    submit("A banana with the key fixed")
    samples = scrape()
    assert samples[("banana_upstream_key_rejected",)] == 0
    assert ("banana_upstream_key_rejected_since_seconds",) not in samples


def test_task_queue_depth_and_live_workers(settings, scrape):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    reconcile_generations.enqueue()
    housekeeping.enqueue()
    housekeeping.enqueue()
    DBTaskResult.objects.ready().get_locked().claim("worker-a")
    heartbeat.beat("worker-a")

    samples = scrape()
    assert samples[("banana_task_queue", ("state", "ready"))] == 2
    assert samples[("banana_task_queue", ("state", "running"))] == 1
    assert samples[("banana_task_queue_oldest_ready_age_seconds",)] >= 0
    assert samples[("banana_workers_alive",)] == 1
    assert 0 <= samples[("banana_worker_last_seen_age_seconds",)] < 5
