"""Many API submits at once with one key can never overspend the member's credits or the
key's own monthly budget; a revoked key or a deactivated member is refused at once.

Real HTTP against a live server (one thread and one database connection per request), on
SQLite and on PostgreSQL: the guarantee is the database's conditional UPDATEs.
"""

import http.client
import json
import threading
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
import requests
from django.db import connection

from generations import credits
from generations.api import keys
from generations.models import ApiKeyMonth, CreditAccount, Generation

from .api_helpers import bearer, make_key
from .conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 50
PRICE = Decimal("0.5")
BODY = {"model": "google/gempix2", "prompt": "A banana"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, settings):
    vendor = connection.vendor
    if request.param != vendor:
        how = {
            "postgresql": "set DATABASE_URL=postgres://… to run it",
            "sqlite": "runs when DATABASE_URL is unset or sqlite://…",
        }[request.param]
        pytest.skip(f"the {request.param} variant; this run uses {vendor} ({how})")
    settings.BANANA_DEFAULT_MAX_IN_FLIGHT = 0  # only credits and budgets count here
    settings.BANANA_DEFAULT_MAX_PER_MINUTE = 0
    return vendor


def submit_all(url, secret, count=THREADS):
    """`count` submits that reach the server at once. The connections are opened first,
    one by one (the test server's listen queue is short), then every thread sends its
    request when all are ready."""
    parts = urlsplit(url)
    connections = []
    for _ in range(count):
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        conn.connect()
        connections.append(conn)
    barrier = threading.Barrier(count)
    answers = [None] * count

    def run(i):
        conn = connections[i]
        barrier.wait()
        conn.request(
            "POST",
            "/api/image/gen",
            body=json.dumps(BODY),
            headers={**bearer(secret), "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        answers[i] = (response.status, json.loads(response.read()))
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return answers


def test_fifty_api_submits_on_credits_for_ten_accept_exactly_ten(database, live_server, emulator):
    member = make_user("racer")
    credits.grant(member, PRICE * 10, reason="exactly ten")
    _, secret = make_key(member)

    answers = submit_all(live_server.url, secret)

    accepted = [body for status, body in answers if status == 200]
    refused = [body for status, body in answers if status != 200]
    assert len(accepted) == 10
    assert all(body["code"] == 0 for body in accepted)
    assert len(refused) == 40
    assert all(status == 400 for status, body in answers if body["code"] != 0)
    assert all(
        body
        == {
            "code": 1,
            "message": "failed",
            "detail": "Not enough credits: 0 available, 0.5 needed.",
        }
        for body in refused
    )
    assert emulator.submit_count == 10
    assert Generation.objects.filter(owner=member).count() == 10
    account = CreditAccount.objects.get(user=member)
    assert account.balance == 0
    assert account.held + account.balance <= PRICE * 10


def test_fifty_api_submits_never_pass_the_keys_monthly_budget(database, live_server, emulator):
    member = make_user("budgeted")
    credits.grant(member, 100, reason="plenty")
    key, secret = make_key(member, monthly_budget=PRICE * 6)

    answers = submit_all(live_server.url, secret)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 6 + [400] * 44
    refused = {body["detail"] for status, body in answers if status == 400}
    assert refused == {"The API key “script” has used its budget for this month (3 credits)."}
    assert emulator.submit_count == 6
    assert ApiKeyMonth.objects.get(key=key).committed == PRICE * 6
    assert CreditAccount.objects.get(user=member).balance == 100 - PRICE * 6


def test_a_revoked_key_is_refused_at_once(live_server, emulator, member):
    key, secret = make_key(member)
    first = requests.post(
        live_server.url + "/api/image/gen", json=BODY, headers=bearer(secret), timeout=30
    )
    assert first.status_code == 200

    keys.revoke(key, member)
    after = requests.post(
        live_server.url + "/api/image/gen", json=BODY, headers=bearer(secret), timeout=30
    )
    query = requests.get(
        live_server.url + "/api/task/query",
        params={"task_id": first.json()["data"]["task_id"]},
        headers=bearer(secret),
        timeout=30,
    )

    assert after.status_code == 401
    assert after.json() == {"code": 1, "message": "Invalid API key"}
    assert query.status_code == 401
    assert Generation.objects.count() == 1


def test_a_deactivated_members_keys_are_refused(live_server, emulator, member):
    _, secret = make_key(member)
    member.is_active = False
    member.save()

    submit = requests.post(
        live_server.url + "/api/image/gen", json=BODY, headers=bearer(secret), timeout=30
    )
    models = requests.get(live_server.url + "/v1/models", headers=bearer(secret), timeout=30)

    assert submit.status_code == 401
    assert models.status_code == 401
    assert models.json()["error"]["code"] == "invalid_api_key"
    assert Generation.objects.count() == 0


def test_a_released_hold_gives_the_keys_budget_back(live_server, emulator, member):
    emulator.config.failure_rate = 1.0
    key, secret = make_key(member, monthly_budget=PRICE)
    for _ in range(2):  # the second fits only because the first failed and was released
        answer = requests.post(
            live_server.url + "/api/image/gen", json=BODY, headers=bearer(secret), timeout=30
        )
        assert answer.status_code == 200
        task_id = answer.json()["data"]["task_id"]
        requests.get(
            live_server.url + "/api/task/query",
            params={"task_id": task_id},
            headers=bearer(secret),
            timeout=30,
        )
        assert Generation.objects.get(pk=task_id).status == "failed"

    assert ApiKeyMonth.objects.get(key=key).committed == 0


def test_a_settled_hold_counts_what_was_charged_against_the_keys_budget(
    live_server, emulator, member
):
    emulator.config.price = "0.300000"
    key, secret = make_key(member, monthly_budget=PRICE)
    answer = requests.post(
        live_server.url + "/api/image/gen", json=BODY, headers=bearer(secret), timeout=30
    )
    data = requests.get(
        live_server.url + "/api/task/query",
        params={"task_id": answer.json()["data"]["task_id"]},
        headers=bearer(secret),
        timeout=30,
    ).json()["data"]

    assert data["consumed"] == "0.300000"
    assert ApiKeyMonth.objects.get(key=key).committed == Decimal("0.3")
