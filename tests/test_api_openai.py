"""The OpenAI-compatible images API, driven by the official `openai` package over real
HTTP against a live server, with the emulator as our upstream."""

import base64
import io
from decimal import Decimal

import openai
import pytest
import requests
from PIL import Image

from generations import credits
from generations.models import CreditAccount, Generation

from .api_helpers import bearer, make_key, png_bytes
from .conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client_for():
    """`client_for(live_server, key)`: an OpenAI client on our /v1, closed after the test
    (a kept-alive connection would hold a server thread, and its database session)."""
    clients = []

    def make(live_server, secret, **kwargs):
        client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=secret, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_generations_with_n_2_are_two_generations_each_with_its_hold(
    client_for, live_server, emulator, member
):
    _, secret = make_key(member)

    images = client_for(live_server, secret).images.generate(
        model="google/gempix2", prompt="A banana on the moon", n=2, size="1536x1024"
    )

    assert len(images.data) == 2
    for image in images.data:
        picture = Image.open(io.BytesIO(base64.b64decode(image.b64_json)))
        assert picture.size == (512, 341)  # the emulator's 1k at 3:2
    generations = Generation.objects.filter(owner=member)
    assert generations.count() == 2
    assert {g.aspect_ratio for g in generations} == {"3:2"}
    assert {g.image_size for g in generations} == {"1k"}
    assert {g.status for g in generations} == {"success"}
    assert emulator.submit_count == 2
    account = CreditAccount.objects.get(user=member)
    assert account.entries.filter(kind="hold").count() == 2
    assert account.balance == Decimal("999")


def test_url_response_format_returns_our_signed_urls_that_serve_the_image(
    client_for, live_server, emulator, member
):
    _, secret = make_key(member)

    images = client_for(live_server, secret).images.generate(
        model="google/gempix2", prompt="A banana", response_format="url"
    )

    (image,) = images.data
    assert image.b64_json is None
    assert image.url.startswith(live_server.url + "/api/results/")
    fetched = requests.get(image.url, timeout=10)  # no key, no session
    assert fetched.status_code == 200
    assert Image.open(io.BytesIO(fetched.content)).format == "PNG"


def test_edits_with_two_reference_files(client_for, live_server, emulator, member):
    _, secret = make_key(member)

    images = client_for(live_server, secret).images.edit(
        model="google/gempix2",
        image=[("soap.png", png_bytes("white"), "image/png"), ("lotion.png", png_bytes("pink"))],
        prompt="Put them in a basket",
    )

    assert len(images.data) == 1
    generation = Generation.objects.get(owner=member)
    assert generation.references.count() == 2
    sent = emulator.tasks[generation.upstream_task_id]
    assert len(sent["images"]) == 2


def test_edits_accept_a_single_image_field(live_server, emulator, member):
    _, secret = make_key(member)

    answer = requests.post(
        live_server.url + "/v1/images/edits",
        headers=bearer(secret),
        data={"prompt": "Make it blue", "model": "google/gempix2", "response_format": "url"},
        files={"image": ("a.png", png_bytes(), "image/png")},
        timeout=30,
    )

    assert answer.status_code == 200
    assert answer.json()["data"][0]["url"]
    assert Generation.objects.get(owner=member).references.count() == 1


def test_models_lists_what_the_key_may_use(client_for, live_server, emulator, member):
    _, everything = make_key(member, "all")
    _, limited = make_key(member, "one", allowed_models=["google/nano-banana"])

    all_models = [m.id for m in client_for(live_server, everything).models.list()]
    one_model = [m.id for m in client_for(live_server, limited).models.list()]

    assert all_models[:2] == ["google/gempix2", "google/gemini-2.5-flash-image"]
    assert len(all_models) == 6
    assert one_model == ["google/nano-banana"]


def test_a_model_the_key_may_not_use_is_refused_before_anything_is_spent(
    client_for, live_server, emulator, member
):
    _, secret = make_key(member, allowed_models=["google/nano-banana"])

    with pytest.raises(openai.BadRequestError) as refused:
        client_for(live_server, secret).images.generate(model="google/gempix2", prompt="x")

    assert refused.value.status_code == 400
    assert refused.value.body["code"] == "model_not_found"
    assert refused.value.body["param"] == "model"
    assert Generation.objects.count() == 0


def test_an_invalid_key_is_openais_401(client_for, live_server, emulator, member):
    with pytest.raises(openai.AuthenticationError) as refused:
        client_for(live_server, "bsk_" + "n" * 43).images.generate(prompt="x")

    assert refused.value.body["code"] == "invalid_api_key"
    assert refused.value.body["type"] == "invalid_request_error"


def test_not_enough_credits_is_402_and_nothing_is_submitted(
    client_for, live_server, emulator, member
):
    poor = make_user("poor")
    _, secret = make_key(poor)

    with pytest.raises(openai.APIStatusError) as refused:
        client_for(live_server, secret).images.generate(prompt="x", n=2)

    assert refused.value.status_code == 402
    assert refused.value.body["code"] == "insufficient_credits"
    assert refused.value.body["type"] == "insufficient_quota"
    assert "Not enough credits" in refused.value.body["message"]
    assert emulator.submit_count == 0


def test_n_is_all_or_nothing_when_credits_cover_only_some(
    client_for, live_server, emulator, member
):
    short = make_user("short")
    credits.grant(short, "1.0", reason="two images' worth")
    _, secret = make_key(short)

    with pytest.raises(openai.APIStatusError) as refused:
        client_for(live_server, secret).images.generate(prompt="x", n=3)

    assert refused.value.status_code == 402
    assert Generation.objects.count() == 0
    assert CreditAccount.objects.get(user=short).balance == Decimal("1.0")


def test_the_members_limits_are_429(client_for, live_server, emulator, member):
    account = CreditAccount.objects.get(user=member)
    account.max_per_minute = 1
    account.save()
    _, secret = make_key(member)
    client = client_for(live_server, secret, max_retries=0)
    client.images.generate(prompt="first")

    with pytest.raises(openai.RateLimitError) as refused:
        client.images.generate(prompt="second")

    assert refused.value.body["code"] == "rate_limit_exceeded"
    assert refused.value.response.headers["Retry-After"]


def test_a_slow_image_times_out_clearly_and_stays_in_the_history(
    client_for, live_server, emulator, member, settings
):
    emulator.config.in_progress_seconds = 60
    settings.BANANA_API_WAIT_SECONDS = 0.5
    settings.BANANA_API_WAIT_INTERVAL = 0.1
    _, secret = make_key(member)

    with pytest.raises(openai.APIStatusError) as timed_out:
        client_for(live_server, secret).images.generate(prompt="slow")  # default retries on

    assert timed_out.value.status_code == 504
    assert timed_out.value.body["code"] == "generation_timeout"
    generation = Generation.objects.get(owner=member)
    assert str(generation.pk) in timed_out.value.body["message"]
    assert not generation.is_final
    # x-should-retry: false kept the client from resending (and paying) again.
    assert emulator.submit_count == 1


def test_a_failed_image_is_502_and_not_resent(client_for, live_server, emulator, member):
    emulator.config.failure_rate = 1.0
    _, secret = make_key(member)

    with pytest.raises(openai.APIStatusError) as failed:
        client_for(live_server, secret).images.generate(prompt="doomed")

    assert failed.value.status_code == 502
    assert failed.value.body["code"] == "generation_failed"
    assert emulator.submit_count == 1
    assert CreditAccount.objects.get(user=member).balance == 1000


def test_a_full_server_refuses_more_waiting_calls_before_spending(
    live_server, emulator, member, settings
):
    settings.BANANA_API_MAX_WAITING = 0
    _, secret = make_key(member)

    answer = requests.post(
        live_server.url + "/v1/images/generations",
        json={"prompt": "x"},
        headers=bearer(secret),
        timeout=10,
    )

    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "server_busy"
    assert Generation.objects.count() == 0


def test_bad_parameters_are_openais_400(live_server, emulator, member):
    _, secret = make_key(member)
    url = live_server.url + "/v1/images/generations"
    cases = [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "n": 5}, "n"),
        ({"prompt": "x", "size": "big"}, "size"),
        ({"prompt": "x", "response_format": "gif"}, "response_format"),
        ({"prompt": "x", "stream": True}, "stream"),
        ({"prompt": "x\u0000y"}, "prompt"),
    ]
    for body, param in cases:
        answer = requests.post(url, json=body, headers=bearer(secret), timeout=10)
        assert answer.status_code == 400, body
        assert answer.json()["error"]["param"] == param
    edit = requests.post(
        live_server.url + "/v1/images/edits",
        headers=bearer(secret),
        data={"prompt": "x"},
        files={"mask": ("m.png", png_bytes(), "image/png")},
        timeout=10,
    )
    assert edit.status_code == 400
    assert Generation.objects.count() == 0


def test_an_unreadable_multipart_body_is_openais_400(live_server, emulator, member):
    _, secret = make_key(member)
    files = [("image", (f"{i}.png", png_bytes(), "image/png")) for i in range(10)]

    answer = requests.post(
        live_server.url + "/v1/images/edits",
        headers=bearer(secret),
        data={"prompt": "x"},
        files=files,
        timeout=10,
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "image"
    assert Generation.objects.count() == 0
