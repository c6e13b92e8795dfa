"""The provider's API, served by us as a drop-in: real HTTP against a live server, with
the emulator as our upstream. A program written for the provider works against us by
changing only its base URL and key."""

import io
import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import time_machine
from django.utils import timezone
from PIL import Image

from generations.api import jobs
from generations.models import ApiKeyMonth, CreditAccount, Generation, ReferenceImage

from .api_helpers import bearer, data_uri, make_key, noise_png
from .conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)

FIXTURES = Path(__file__).parent / "fixtures" / "upstream"
ROOT = Path(__file__).resolve().parent.parent


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def submit(live_server, secret, body, **kwargs):
    return requests.post(
        live_server.url + "/api/image/gen", json=body, headers=bearer(secret), timeout=30, **kwargs
    )


def query(live_server, secret, task_id):
    return requests.get(
        live_server.url + "/api/task/query",
        params={"task_id": task_id},
        headers=bearer(secret),
        timeout=30,
    )


def test_the_vendors_basic_body_is_accepted_and_the_task_completes(live_server, emulator, member):
    key, secret = make_key(member, "notebook")

    answer = submit(live_server, secret, fixture("gen-request-basic.json"))

    assert answer.status_code == 200
    body = answer.json()
    assert body["code"] == 0 and body["message"] == "ok"
    task_id = body["data"]["task_id"]
    task = query(live_server, secret, task_id).json()
    assert task["code"] == 0
    data = task["data"]
    assert data["task_id"] == task_id
    assert data["status"] == "success"
    assert data["consumed"] == "0.500000"
    assert data["status_reason"] == {"message": None}
    assert len(data["result"]) == 1
    image_url = data["result"][0]["image"]
    assert image_url.startswith(live_server.url + "/api/results/")
    # Ours, not the upstream's, and served without a session.
    image = requests.get(image_url, timeout=10)
    assert image.status_code == 200
    assert image.headers["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(image.content)).size == (512, 512)
    generation = Generation.objects.get(pk=task_id)
    assert generation.owner == member
    assert generation.api_task.key == key
    assert generation.credits_charged == Decimal("0.5")


def test_a_task_is_pending_until_the_upstream_says_more(live_server, emulator, member):
    emulator.config.pending_seconds = 60
    _, secret = make_key(member)

    task_id = submit(live_server, secret, fixture("gen-request-basic.json")).json()["data"][
        "task_id"
    ]
    data = query(live_server, secret, task_id).json()["data"]

    assert data["status"] == "pending"
    assert data["result"] is None
    assert data["consumed"] == "0.000000"


def test_a_failed_task_reports_the_reason_and_charges_nothing(live_server, emulator, member):
    emulator.config.failure_rate = 1.0
    _, secret = make_key(member)

    task_id = submit(live_server, secret, {"model": "google/gempix2", "prompt": "x"}).json()[
        "data"
    ]["task_id"]
    data = query(live_server, secret, task_id).json()["data"]

    assert data["status"] == "failed"
    assert data["result"] is None
    assert data["status_reason"]["message"]
    assert data["consumed"] == "0.000000"
    assert CreditAccount.objects.get(user=member).balance == 1000


def test_submit_without_a_valid_key_is_the_vendors_401(live_server, emulator, member):
    for headers in ({}, bearer("bsk_" + "x" * 43), {"Authorization": "Basic Zm9vOmJhcg=="}):
        answer = requests.post(
            live_server.url + "/api/image/gen",
            json=fixture("gen-request-basic.json"),
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 401
        assert answer.json() == fixture("gen-response-401.json")
    assert Generation.objects.count() == 0


def test_query_without_a_valid_key_is_the_vendors_401(live_server, emulator, member):
    answer = requests.get(live_server.url + "/api/task/query", params={"task_id": "x"}, timeout=10)
    assert answer.status_code == 401
    assert answer.json() == fixture("query-response-401.json")


def test_bad_parameters_are_the_vendors_400_with_a_detail(live_server, emulator, member):
    _, secret = make_key(member)

    missing_prompt = submit(live_server, secret, {"model": "google/gempix2"})
    malformed = requests.post(
        live_server.url + "/api/image/gen",
        data=b"{not json",
        headers={**bearer(secret), "Content-Type": "application/json"},
        timeout=10,
    )
    unknown_model = submit(live_server, secret, {"model": "google/nope", "prompt": "x"})
    five_images = submit(
        live_server, secret, {"model": "google/gempix2", "prompt": "x", "images": [data_uri()] * 5}
    )

    assert missing_prompt.status_code == 400
    assert missing_prompt.json() == fixture("gen-response-400.json")
    assert malformed.status_code == 400
    assert malformed.json() == {"code": 1, "message": "failed", "detail": "malformed JSON"}
    assert unknown_model.status_code == 400
    assert "google/nope" in unknown_model.json()["detail"]
    assert five_images.status_code == 400
    assert five_images.json()["detail"] == "at most 4 images are allowed"
    assert Generation.objects.count() == 0


def test_unknown_task_is_the_vendors_404(live_server, emulator, member):
    _, secret = make_key(member)
    for task_id in ("ta-nope", "00000000-0000-0000-0000-000000000000"):
        answer = query(live_server, secret, task_id)
        assert answer.status_code == 404
        assert answer.json() == fixture("query-response-404.json")
    missing = requests.get(live_server.url + "/api/task/query", headers=bearer(secret), timeout=10)
    assert missing.status_code == 400
    assert missing.json()["detail"] == "task_id is required"


def test_one_members_key_can_never_read_another_members_task(live_server, emulator, member):
    _, mine = make_key(member)
    teammate = make_user("tae")
    _, theirs = make_key(teammate)
    task_id = submit(live_server, mine, fixture("gen-request-basic.json")).json()["data"]["task_id"]

    answer = query(live_server, theirs, task_id)

    assert answer.status_code == 404
    assert answer.json() == fixture("query-response-404.json")
    assert query(live_server, mine, task_id).status_code == 200


def test_data_uri_references_are_checked_and_kept_like_uploads(live_server, emulator, member):
    _, secret = make_key(member)

    ok = submit(
        live_server,
        secret,
        {"model": "google/gempix2", "prompt": "x", "images": [data_uri("red"), data_uri("blue")]},
    )
    not_an_image = submit(
        live_server,
        secret,
        {"model": "google/gempix2", "prompt": "x", "images": ["data:image/png;base64,AAAA"]},
    )

    assert ok.status_code == 200
    references = ReferenceImage.objects.filter(generation_id=ok.json()["data"]["task_id"])
    assert [r.content_type for r in references] == ["image/png", "image/png"]
    assert all(r.file for r in references)
    assert not_an_image.status_code == 400
    assert not_an_image.json()["detail"].startswith("images[0]:")


def test_reference_and_callback_urls_follow_our_address_policy(
    live_server, emulator, member, settings
):
    settings.BANANA_FETCH_ALLOW_PRIVATE = False
    _, secret = make_key(member)
    body = {"model": "google/gempix2", "prompt": "x"}

    loopback = submit(live_server, secret, {**body, "images": ["http://127.0.0.1/a.png"]})
    private = submit(live_server, secret, {**body, "images": ["http://10.1.2.3/a.png"]})
    by_name = submit(live_server, secret, {**body, "callback_url": "http://localhost:9/hook"})
    metadata = submit(
        live_server, secret, {**body, "callback_url": "http://169.254.169.254/latest"}
    )
    credentials = submit(live_server, secret, {**body, "images": ["http://u:p@example.com/a.png"]})

    for answer, param in (
        (loopback, "images[0]"),
        (private, "images[0]"),
        (by_name, "callback_url"),
        (metadata, "callback_url"),
    ):
        assert answer.status_code == 400
        assert answer.json()["detail"] == jobs.ADDRESS_REFUSED.format(param=param)
    assert credentials.status_code == 400
    assert Generation.objects.count() == 0


def test_a_key_spends_its_members_credits_like_the_web_form(live_server, emulator, member):
    key, secret = make_key(member)

    task_id = submit(live_server, secret, fixture("gen-request-basic.json")).json()["data"][
        "task_id"
    ]
    query(live_server, secret, task_id)

    account = CreditAccount.objects.get(user=member)
    assert account.balance == Decimal("999.5")
    assert account.held == 0
    kinds = list(account.entries.order_by("created_at", "pk").values_list("kind", flat=True))
    assert kinds[-2:] == ["hold", "settle"]
    assert ApiKeyMonth.objects.get(key=key).committed == Decimal("0.5")


def test_api_generations_appear_in_history_marked_with_the_keys_name(
    live_server, emulator, member, client
):
    _, secret = make_key(member, "n8n flow")
    task_id = submit(live_server, secret, fixture("gen-request-basic.json")).json()["data"][
        "task_id"
    ]
    client.force_login(member)

    history = client.get("/history/").content.decode()
    detail = client.get(f"/g/{task_id}/").content.decode()
    studio = client.get("/").content.decode()

    assert f'id="card-{task_id}"' in history
    assert "API: n8n flow" in history
    assert "API: n8n flow" in studio
    assert "the API key “n8n flow”" in detail


def test_result_urls_expire(live_server, emulator, member, settings):
    settings.BANANA_API_RESULT_URL_TTL = 3600
    _, secret = make_key(member)
    task_id = submit(live_server, secret, fixture("gen-request-basic.json")).json()["data"][
        "task_id"
    ]
    url = query(live_server, secret, task_id).json()["data"]["result"][0]["image"]

    assert requests.get(url, timeout=10).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        assert requests.get(url, timeout=10).status_code == 404
    assert requests.get(url.replace("/api/results/", "/api/results/x"), timeout=10).status_code == (
        404
    )


def test_a_valid_key_may_send_a_members_body_and_an_invalid_one_only_an_anonymous_one(
    live_server, emulator, member, settings
):
    settings.BANANA_ANONYMOUS_MAX_BODY = 2000
    _, secret = make_key(member)
    body = {"model": "google/gempix2", "prompt": "x", "images": [data_uri(content=noise_png())]}
    assert len(json.dumps(body)) > 2000

    with_key = submit(live_server, secret, body)
    without = submit(live_server, "bsk_" + "y" * 43, body)

    assert with_key.status_code == 200
    assert without.status_code == 413


@pytest.mark.subprocess
def test_our_own_upstream_client_completes_a_generation_against_our_server(
    live_server, emulator, member
):
    """generations.upstream, the client we use against the provider, run in its own
    process with only its base URL and key pointed at us."""
    _, secret = make_key(member, "our own client")
    script = textwrap.dedent(
        """
        import json, sys, time
        import django
        django.setup()
        from generations import upstream

        task_id = upstream.submit(model="google/gempix2", prompt="A banana", images=[sys.argv[1]])
        deadline = time.monotonic() + 30
        state = upstream.query(task_id)
        while not state.is_final and time.monotonic() < deadline:
            time.sleep(0.2)
            state = upstream.query(task_id)
        print(json.dumps({"task_id": task_id, "status": state.status,
                          "images": state.images, "consumed": str(state.consumed)}))
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "banana_site.settings",
        "DEBUG": "true",
        "BANANA_API_BASE_URL": live_server.url,
        "BANANA_API_KEY": secret,
    }

    done = subprocess.run(
        [sys.executable, "-c", script, data_uri("green")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    state = json.loads(done.stdout.strip().splitlines()[-1])
    assert state["status"] == "success"
    assert state["consumed"] == "0.500000"
    assert state["images"][0].startswith(live_server.url + "/api/results/")
    assert requests.get(state["images"][0], timeout=10).status_code == 200
    generation = Generation.objects.get(pk=state["task_id"])
    assert generation.owner == member
    assert generation.references.count() == 1
