"""/healthz and /readyz: what a load balancer and a deploy ask before sending traffic."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from generations.models import Generation, UpstreamHealth
from operations import heartbeat

from .conftest import TEST_KEY, wait_for

pytestmark = pytest.mark.django_db


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
