"""The API findings of the third hostile pass (issue 21): each behaviour over real HTTP
against a live server (or the whole WSGI stack), with the emulator as our upstream."""

import base64
import io
import json
import socket
import tracemalloc

import openai
import pytest
import requests
from django.core.handlers.wsgi import WSGIHandler
from django.tasks.signals import task_enqueued
from PIL import Image

from generations import catalogue, credits
from generations.api import jobs
from generations.fetch import FetchError, FetchPolicy, address_refused_message, check_url
from generations.models import Generation, ReferenceImage

from .api_helpers import bearer, data_uri, make_key, noise_png

pytestmark = pytest.mark.django_db(transaction=True)

DUMMY_TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


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


# --- 21.2 A task query never waits on the upstream ----------------------------------------


def test_a_due_task_query_answers_from_the_row_and_leaves_the_upstream_to_a_worker(
    live_server, emulator, member, settings
):
    _, secret = make_key(member)
    task_id = submit(live_server, secret, {"model": "google/gempix2", "prompt": "x"}).json()[
        "data"
    ]["task_id"]
    assert Generation.objects.get(pk=task_id).upstream_task_id  # sent
    Generation.objects.filter(pk=task_id).update(last_checked_at=None)  # and a check is due
    asked_before = emulator.query_count()
    settings.TASKS = DUMMY_TASKS  # a worker that has not run yet
    enqueued = []

    def note(sender, task_result, **kwargs):
        enqueued.append(task_result.task.name)

    task_enqueued.connect(note)
    try:
        answer = query(live_server, secret, task_id)
        again = query(live_server, secret, task_id)  # within the interval: no second claim
    finally:
        task_enqueued.disconnect(note)

    assert answer.status_code == again.status_code == 200
    assert answer.json()["data"]["status"] == "pending"  # the row as it stands
    assert emulator.query_count() == asked_before  # nobody asked the upstream in the request
    assert enqueued == ["refresh_claimed_generation"]


# --- 21.5 Large bodies are decoded one image at a time ------------------------------------


def _peak_of_submit(tmp_path, secret, images):
    """Peak Python memory while the whole WSGI stack serves one /api/image/gen whose body
    (read from a file, as a server hands it over) carries `images` data: URIs."""
    body = tmp_path / f"body-{len(images)}.json"
    body.write_text(json.dumps({"model": "google/gempix2", "prompt": "x", "images": images}))
    statuses = []
    with body.open("rb") as stream:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/image/gen",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "HTTP_HOST": "testserver",
            "wsgi.url_scheme": "http",
            "wsgi.input": stream,
            "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(body.stat().st_size),
            "HTTP_AUTHORIZATION": f"Bearer {secret}",
        }
        handler = WSGIHandler()
        tracemalloc.start()
        try:
            response = handler(environ, lambda status, headers: statuses.append(status))
            b"".join(response)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert statuses == ["200 OK"], statuses
    return peak


def test_memory_per_request_stays_near_the_largest_single_image(
    tmp_path, emulator, member, settings
):
    settings.TASKS = DUMMY_TASKS  # the submit only: nothing is sent meanwhile
    _, secret = make_key(member)
    image = data_uri(content=noise_png((900, 900)))  # ~2 MB of PNG, ~2.7 MB as text
    assert len(image) > 2_500_000

    one = _peak_of_submit(tmp_path, secret, [image])
    four = _peak_of_submit(tmp_path, secret, [image] * 4)

    # Read whole and decoded together, four images cost about four times one (4.1x before).
    assert four / one < 1.5, (one, four)
    references = ReferenceImage.objects.filter(generation__owner=member)
    assert references.count() == 5
    assert all(r.file and r.width == 900 for r in references)


# --- 21.10 One message for addresses that do not resolve and addresses refused ------------


@pytest.fixture
def fake_dns(monkeypatch):
    """Names under .test resolve as listed, names under .invalid do not; the rest as ever."""
    real = socket.getaddrinfo
    names = {"intranet.test": "10.0.0.5", "metadata.test": "169.254.169.254"}

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(names.get(host, host), port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_unresolvable_and_refused_addresses_read_the_same(
    live_server, emulator, member, settings, fake_dns
):
    settings.BANANA_FETCH_ALLOW_PRIVATE = False
    _, secret = make_key(member)
    body = {"model": "google/gempix2", "prompt": "x"}
    hosts = ("nowhere.invalid", "intranet.test", "metadata.test", "10.0.0.5")

    hooks = [submit(live_server, secret, {**body, "callback_url": f"http://{h}/h"}) for h in hosts]
    refs = [submit(live_server, secret, {**body, "images": [f"http://{h}/a.png"]}) for h in hosts]

    assert {a.status_code for a in hooks + refs} == {400}
    assert {a.json()["detail"] for a in hooks} == {
        jobs.ADDRESS_REFUSED.format(param="callback_url")
    }
    assert {a.json()["detail"] for a in refs} == {jobs.ADDRESS_REFUSED.format(param="images[0]")}
    assert Generation.objects.count() == 0


def test_a_fetch_refusal_reads_the_same_whether_the_name_resolves_or_not(fake_dns):
    """The message a member reads on the keys page (a delivery's error) or under a reference
    URL comes from here: it must not tell a name that does not resolve from a refused one."""
    policy = FetchPolicy(require_https=False, allow_private=False)
    messages = set()
    for host in ("nowhere.invalid", "intranet.test", "metadata.test", "10.0.0.5"):
        with pytest.raises(FetchError) as refused:
            check_url(f"http://{host}/hook", policy)
        messages.add(refused.value.message.replace(host, "HOST"))

    assert messages == {address_refused_message("HOST")}


# --- 21.11 Deeply nested JSON is a malformed body, not a 500 --------------------------------


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_a_400_on_both_apis(live_server, emulator, member, depth):
    _, secret = make_key(member)
    nested = (
        b'{"prompt": "x", "model": "google/gempix2", "n": ' + b"[" * depth + b"]" * depth + b"}"
    )
    headers = {**bearer(secret), "Content-Type": "application/json"}

    provider = requests.post(
        live_server.url + "/api/image/gen", data=nested, headers=headers, timeout=30
    )
    openai_style = requests.post(
        live_server.url + "/v1/images/generations", data=nested, headers=headers, timeout=30
    )

    assert provider.status_code == 400
    assert provider.json() == {"code": 1, "message": "failed", "detail": "malformed JSON"}
    assert openai_style.status_code == 400
    assert openai_style.json()["error"]["code"] == "invalid_json"
    assert Generation.objects.count() == 0


# --- 21.16 OpenAI's own model names -----------------------------------------------------------


@pytest.fixture
def client_for():
    clients = []

    def make(live_server, secret, **kwargs):
        client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=secret, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_dall_e_names_map_to_the_default_model_and_answer_urls(
    client_for, live_server, emulator, member
):
    _, secret = make_key(member)
    client = client_for(live_server, secret)

    dall_e_3 = client.images.generate(model="dall-e-3", prompt="A banana", size="1024x1792")
    dall_e_2 = client.images.generate(model="dall-e-2", prompt="A banana")
    gpt_image = client.images.generate(model="gpt-image-1", prompt="A banana")

    assert dall_e_3.data[0].url.startswith(live_server.url + "/api/results/")
    assert dall_e_3.data[0].b64_json is None
    assert dall_e_2.data[0].url
    assert gpt_image.data[0].b64_json and gpt_image.data[0].url is None
    default = catalogue.default_model()
    assert {g.model for g in Generation.objects.filter(owner=member)} == {default}
    assert requests.get(dall_e_3.data[0].url, timeout=10).status_code == 200


def test_aliases_follow_configuration_and_can_be_turned_off(
    client_for, live_server, emulator, member, settings
):
    _, secret = make_key(member)
    client = client_for(live_server, secret)
    settings.BANANA_OPENAI_MODEL_ALIASES = {"dall-e-3": "google/nano-banana"}

    client.images.generate(model="dall-e-3", prompt="x")
    assert Generation.objects.get(owner=member).model == "google/nano-banana"
    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="gpt-image-1", prompt="x")
    assert refused.value.body["code"] == "model_not_found"

    settings.BANANA_OPENAI_MODEL_ALIASES = {}
    with pytest.raises(openai.BadRequestError):
        client.images.generate(model="dall-e-3", prompt="x")
    assert Generation.objects.count() == 1


def test_an_alias_never_opens_a_model_the_key_may_not_use(
    client_for, live_server, emulator, member, settings
):
    _, secret = make_key(member, allowed_models=["google/nano-banana"])
    settings.BANANA_OPENAI_MODEL_ALIASES = {"dall-e-3": "google/gempix2", "dall-e-2": ""}
    client = client_for(live_server, secret)

    with pytest.raises(openai.BadRequestError) as refused:
        client.images.generate(model="dall-e-3", prompt="x")
    client.images.generate(model="dall-e-2", prompt="x")  # "": the key's own default

    assert refused.value.body["code"] == "model_not_found"
    assert Generation.objects.get(owner=member).model == "google/nano-banana"


# --- 21.17 output_format and output_compression -------------------------------------------


def test_output_format_converts_b64_and_url_answers(client_for, live_server, emulator, member):
    _, secret = make_key(member)
    client = client_for(live_server, secret)

    webp = client.images.generate(prompt="x", output_format="webp")
    jpeg_url = client.images.generate(
        prompt="x", output_format="jpeg", output_compression=40, response_format="url"
    )

    picture = Image.open(io.BytesIO(base64.b64decode(webp.data[0].b64_json)))
    assert picture.format == "WEBP"
    assert webp.output_format == "webp"
    fetched = requests.get(jpeg_url.data[0].url, timeout=10)
    assert fetched.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(fetched.content)).format == "JPEG"


def test_output_compression_sets_the_quality(client_for, live_server, emulator, member):
    _, secret = make_key(member)
    client = client_for(live_server, secret)

    low = client.images.generate(prompt="x", output_format="jpeg", output_compression=5)
    high = client.images.generate(prompt="x", output_format="jpeg", output_compression=95)

    assert len(low.data[0].b64_json) < len(high.data[0].b64_json) / 2


# --- 21.18 A key reads its balance --------------------------------------------------------


def test_a_key_reads_its_members_balance_and_its_own_budget(live_server, emulator, member):
    _, budgeted = make_key(member, "budgeted", monthly_budget=10)
    _, unlimited = make_key(member, "unlimited")
    submit(live_server, budgeted, {"model": "google/gempix2", "prompt": "x"})

    mine = requests.get(live_server.url + "/api/balance", headers=bearer(budgeted), timeout=10)
    other = requests.get(live_server.url + "/api/balance", headers=bearer(unlimited), timeout=10)
    anonymous = requests.get(live_server.url + "/api/balance", timeout=10)

    assert mine.status_code == 200
    summary = credits.summary_for(member)
    data = mine.json()["data"]
    assert data["available"] == f"{summary.available:.6f}"
    assert data["held"] == f"{summary.held:.6f}"
    assert data["key"] == {
        "name": "budgeted",
        "monthly_budget": "10.000000",
        "committed_this_month": "0.500000",
        "remaining_this_month": "9.500000",
    }
    assert other.json()["data"]["key"]["monthly_budget"] is None
    assert other.json()["data"]["key"]["remaining_this_month"] is None
    assert anonymous.status_code == 401
    assert anonymous.json() == {"code": 401, "message": "Invalid API key"}
