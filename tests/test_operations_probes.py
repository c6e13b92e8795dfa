"""/healthz and /readyz: what a load balancer and a deploy ask before sending traffic."""

import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import time_machine
from django.urls import reverse
from django.utils import timezone

from generations.models import Generation, UpstreamHealth
from operations import heartbeat

from .conftest import TEST_KEY, wait_for
from .test_dev_runner import free_port

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def readyz(client):
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"].startswith("max-age=0")
    return response.status_code, response.json()


def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


def test_readyz_without_a_worker_heartbeat_is_503_naming_the_worker(client):
    status, body = readyz(client)
    assert status == 503
    assert body["status"] == "unavailable"
    assert body["failing"] == ["worker"]
    assert body["checks"]["database"] == {"ok": True}
    assert body["checks"]["worker"]["ok"] is False
    assert body["checks"]["worker"]["last_seen_seconds_ago"] is None
    assert body["checks"]["upstream_key"] == {"ok": True}


def test_readyz_is_200_while_a_worker_beats_and_503_once_it_goes_quiet(client, settings):
    settings.BANANA_WORKER_STALE_AFTER = 60
    with time_machine.travel(timezone.now(), tick=False) as clock:
        heartbeat.beat("worker-a")
        status, body = readyz(client)
        assert status == 200
        assert body == {
            "status": "ok",
            "failing": [],
            "checks": {
                "database": {"ok": True},
                "worker": {"ok": True, "last_seen_seconds_ago": 0.0, "stale_after_seconds": 60},
                "upstream_key": {"ok": True},
            },
        }

        clock.shift(timedelta(seconds=61))
        status, body = readyz(client)
        assert status == 503 and body["failing"] == ["worker"]
        assert body["checks"]["worker"]["last_seen_seconds_ago"] == 61.0

        heartbeat.beat("worker-b")  # another worker takes over
        assert readyz(client)[0] == 200


@pytest.mark.django_db(transaction=True)  # the heartbeat writes from its own thread
def test_a_worker_that_stops_cleanly_is_gone_at_once(client):
    beating = heartbeat.Heartbeat("worker-c", every=3600).start()
    wait_for(lambda: heartbeat.live_workers().filter(worker_id="worker-c").exists())
    assert readyz(client)[0] == 200
    beating.stop()
    assert not heartbeat.live_workers().exists()
    assert readyz(client)[1]["failing"] == ["worker"]


@pytest.mark.usefixtures("client_requests_commit")
def test_readyz_names_the_upstream_key_while_the_upstream_rejects_it(
    member_client, client, emulator, settings
):
    heartbeat.beat("worker-a")
    settings.BANANA_API_KEY = "dk-not-the-teams-key"
    response = member_client.post(
        reverse("generate"), {"prompt": "A banana", "model": "google/gempix2"}
    )
    assert response.status_code == 302
    assert Generation.objects.get().status == Generation.Status.FAILED  # the upstream said 401

    status, body = readyz(client)
    assert status == 503 and body["failing"] == ["upstream_key"]
    since = UpstreamHealth.objects.get().key_rejected_since
    assert body["checks"]["upstream_key"]["rejected_since"] == since.isoformat()

    settings.BANANA_API_KEY = TEST_KEY  # fixed: the next call the upstream accepts clears it
    member_client.post(reverse("generate"), {"prompt": "Again", "model": "google/gempix2"})
    assert readyz(client)[0] == 200


def test_probes_need_no_login_and_are_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    heartbeat.beat("worker-a")
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/history/").status_code == 301  # everything else goes to https


@pytest.mark.subprocess
def test_without_its_database_the_process_is_alive_but_not_ready():
    port, closed = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": f"postgres://banana@127.0.0.1:{closed}/banana",
            "METRICS_TOKEN": "token-" + "m" * 20,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def up():
            try:
                return requests.get(f"{base}/healthz", timeout=10)
            except requests.RequestException:  # not up yet, or busy starting
                return None

        assert wait_for(up, timeout=30).text == "ok"
        ready = requests.get(f"{base}/readyz", timeout=10)
        metrics = requests.get(
            f"{base}/metrics", headers={"Authorization": "Bearer token-" + "m" * 20}, timeout=10
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "unavailable",
        "failing": ["database"],
        "checks": {
            "database": {"ok": False, "detail": "OperationalError"},
            "worker": {"ok": None, "detail": "not checked: the database did not answer"},
            "upstream_key": {"ok": None, "detail": "not checked: the database did not answer"},
        },
    }
    assert metrics.status_code == 200
    assert "banana_database_up 0.0" in metrics.text
    assert 'banana_http_requests_total{method="GET",status="5xx"} 1.0' in metrics.text


@pytest.fixture
def request_log():
    """What Django's request logger writes (its records stop at the "django" logger)."""
    records = []
    handler = logging.Handler(level=logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger("django")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def test_a_failing_readyz_logs_one_warning_and_no_request_error(client, caplog, request_log):
    caplog.set_level(logging.WARNING, logger="operations")

    status, _body = readyz(client)

    assert status == 503
    assert [r.getMessage() for r in caplog.records if r.name == "operations.views"] == [
        "Not ready: worker"
    ]
    assert [r for r in request_log if r.name == "django.request"] == []


def test_other_answers_keep_djangos_request_log_line(client, settings, request_log):
    settings.METRICS_TOKEN = ""

    assert client.get("/metrics").status_code == 404

    assert [r.getMessage() for r in request_log if r.name == "django.request"] == [
        "Not Found: /metrics"
    ]
