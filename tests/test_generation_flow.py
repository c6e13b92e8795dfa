"""A generation end to end, against the emulator over real HTTP."""

import io
import threading

import pytest
import requests
from django.core.management import call_command
from django.urls import reverse
from PIL import Image

from generations import services
from generations.models import Generation, ResultImage, UpstreamHealth

from .conftest import wait_for
from .polling import poll, poll_until_settled, settled

# On-commit work runs through `committed` and `client_requests_commit`. Only tests whose rows
# another thread must see (the live server, concurrent pollers) commit for real.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("client_requests_commit")]


def submit(client, prompt="A banana on the moon", **extra):
    data = {"prompt": prompt, "model": "google/gempix2", **extra}
    response = client.post(reverse("generate"), data, headers={"HX-Request": "true"})
    assert response.status_code == 200, response.content
    return response, Generation.objects.latest("created_at")


poll_until_final = poll_until_settled


def png_bytes(color="red", size=(64, 48)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def test_submit_sends_the_generation_upstream_and_shows_the_card(member_client, emulator):
    response, generation = submit(member_client)

    assert generation.status == Generation.Status.PENDING
    assert generation.upstream_task_id in emulator.tasks
    task = emulator.tasks[generation.upstream_task_id]
    assert task["prompt"] == "A banana on the moon"
    assert f'id="card-{generation.pk}"' in response.text
    assert "hx-swap-oob" in response.text
    assert f'name="watch" value="{generation.pk}:' in response.text


def test_happy_path_by_polling_only_stores_image_and_thumbnail(member_client, emulator, settings):
    settings.BANANA_POLL_INTERVAL = 0
    _, generation = submit(member_client)

    final = poll_until_final(member_client, generation)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS
    assert generation.credits_consumed is not None
    result = generation.results.get()
    assert result.state == ResultImage.State.STORED
    assert result.source == ""
    with result.file.open("rb") as fh:
        assert Image.open(fh).size == (result.width, result.height)
    with result.thumbnail.open("rb") as fh:
        thumb = Image.open(fh)
        assert thumb.format == "WEBP"
        assert max(thumb.size) <= 384
    assert "data-poll-id" not in final.text
    assert f"/{result.thumbnail.name}" in final.text  # its signed URL
    image = member_client.get(reverse("result_image", args=[generation.pk, 0]))
    assert image.status_code == 200
    assert image["Content-Type"] == "image/png"


@pytest.mark.django_db(transaction=True)
def test_happy_path_by_webhook_alone(member_client, with_webhooks):
    _, generation = submit(member_client)

    wait_for(
        lambda: ResultImage.objects.filter(
            generation=generation, state=ResultImage.State.STORED
        ).exists()
    )
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS
    # The emulator records a callback once our answer is in, which can be after the store.
    wait_for(lambda: with_webhooks.callbacks_sent)
    url, _payload, answer = with_webhooks.callbacks_sent[0]
    assert str(generation.pk) in url
    assert answer == 200


@pytest.mark.django_db(transaction=True)
def test_callback_before_submit_response_binds_the_task(member_client, with_webhooks):
    with_webhooks.config.callback_mode = "before_response"
    _, generation = submit(member_client)

    wait_for(lambda: generation.results.filter(state=ResultImage.State.STORED).exists())
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS
    assert generation.upstream_task_id in with_webhooks.tasks


@pytest.mark.django_db(transaction=True)
def test_lost_submit_response_is_not_resent_and_the_callback_settles_it(
    member_client, with_webhooks
):
    with_webhooks.config.drop_submit_response = True
    with_webhooks.config.in_progress_seconds = 0.5
    _, generation = submit(member_client)

    assert with_webhooks.submit_count == 1
    wait_for(lambda: generation.results.filter(state=ResultImage.State.STORED).exists())
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS
    assert generation.upstream_task_id in with_webhooks.tasks
    assert with_webhooks.submit_count == 1


def test_lost_submit_response_without_callback_waits_as_unknown(member_client, emulator):
    emulator.config.drop_submit_response = True
    _, generation = submit(member_client)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.UNKNOWN
    assert emulator.submit_count == 1


@pytest.mark.django_db(transaction=True)
def test_duplicate_callbacks_settle_once(member_client, with_webhooks):
    with_webhooks.config.callback_mode = "duplicate"
    with_webhooks.config.duplicate_callbacks = 3
    _, generation = submit(member_client)

    wait_for(lambda: len(with_webhooks.callbacks_sent) >= 3)
    wait_for(lambda: generation.results.filter(state=ResultImage.State.STORED).exists())
    generation.refresh_from_db()
    finished_at = generation.finished_at
    assert generation.results.count() == 1
    # A late, replayed callback changes nothing.
    url, payload, _ = with_webhooks.callbacks_sent[0]
    assert requests.post(url, json=payload, timeout=5).status_code == 200
    generation.refresh_from_db()
    assert generation.finished_at == finished_at
    assert generation.results.count() == 1


@pytest.mark.django_db(transaction=True)
def test_webhook_with_wrong_secret_changes_nothing(client, member, emulator, live_server):
    generation = services.create_generation(member, model="google/gempix2", prompt="x")
    generation.refresh_from_db()
    url = reverse("upstream_webhook", args=[generation.pk, "not-the-secret-" + "x" * 30])
    payload = {"task_id": generation.upstream_task_id, "status": "success", "result": []}

    assert requests.post(live_server.url + url, json=payload, timeout=5).status_code == 404
    assert client.post(url, payload, content_type="application/json").status_code == 404
    missing = reverse("upstream_webhook", args=["00000000-0000-0000-0000-000000000000", "x" * 43])
    assert client.post(missing, payload, content_type="application/json").status_code == 404
    assert emulator.query_count() == 0
    generation.refresh_from_db()
    assert generation.status == Generation.Status.PENDING


def test_forged_webhook_body_is_only_a_hint(member, emulator, settings, client, committed):
    settings.PUBLIC_BASE_URL = "http://testserver"
    emulator.config.pending_seconds = 60
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    callback_url = emulator.tasks[Generation.objects.get().upstream_task_id]["callback_url"]
    forged = {
        "task_id": "ta-someone-elses-task",
        "status": "success",
        "result": [{"image": "http://127.0.0.1:1/evil.png"}],
        "consumed": "0",
    }

    response = client.post(callback_url, forged, content_type="application/json")

    assert response.status_code == 200
    generation.refresh_from_db()
    assert generation.status == Generation.Status.PENDING
    assert generation.upstream_task_id != "ta-someone-elses-task"
    assert not generation.results.exists()
    assert emulator.query_count(generation.upstream_task_id) == 1


def test_malformed_webhook_body_is_answered_and_still_refreshes(
    member, emulator, settings, client, committed
):
    settings.PUBLIC_BASE_URL = "http://testserver"
    with committed():
        services.create_generation(member, model="google/gempix2", prompt="x")
    generation = Generation.objects.get()
    callback_url = emulator.tasks[generation.upstream_task_id]["callback_url"]

    response = client.post(callback_url, b"{not json", content_type="application/json")

    assert response.status_code == 200
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_polls_cause_one_upstream_query(member_client, emulator, live_server):
    emulator.config.pending_seconds = 60
    _, generation = submit(member_client)
    cookie = member_client.cookies["sessionid"].value
    url = live_server.url + reverse("generation_statuses")
    barrier = threading.Barrier(10)
    statuses = []

    def poll():
        barrier.wait()
        response = requests.get(
            url, {"watch": f"{generation.pk}:-"}, cookies={"sessionid": cookie}, timeout=10
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=poll) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert statuses == [200] * 10
    assert emulator.query_count(generation.upstream_task_id) == 1


def test_data_uri_results_are_stored(member_client, emulator, settings):
    settings.BANANA_POLL_INTERVAL = 0
    emulator.config.result_as_data_uri = True
    _, generation = submit(member_client)

    poll_until_final(member_client, generation)

    result = generation.results.get()
    assert result.state == ResultImage.State.STORED
    assert result.source == ""
    assert result.thumbnail


def test_reconciler_finishes_an_unwatched_generation(member_client, emulator, settings, committed):
    settings.BANANA_RECONCILE_AFTER = 0
    _, generation = submit(member_client)
    assert generation.status == Generation.Status.PENDING

    with committed():
        call_command("reconcile")

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS
    assert generation.results.get().state == ResultImage.State.STORED


def test_upstream_400_fails_with_its_reason_and_nothing_is_lost(
    member, emulator, settings, committed
):
    settings.BANANA_MODELS = [{"id": "google/not-a-model", "label": "Nope", "sizes": []}]
    with committed():
        generation = services.create_generation(member, model="google/not-a-model", prompt="hi")

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "rejected" in generation.error_message
    assert "model" in generation.error_message
    assert generation.prompt == "hi"
    assert emulator.submit_count == 1


def test_upstream_401_is_a_clear_message_and_flags_the_key(member, emulator, settings, committed):
    settings.BANANA_API_KEY = "dk-wrongwrongwrong0"
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="hi")

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "administrator" in generation.error_message
    assert "dk-" not in generation.error_message
    assert UpstreamHealth.current().key_rejected_since is not None
    assert emulator.submit_count == 1


def test_upstream_500_is_retried_then_reported(member, emulator, settings, committed):
    settings.BANANA_API_MAX_RETRIES = 2
    emulator.config.error_500_rate = 1.0
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="hi")

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "unavailable" in generation.error_message
    assert emulator.submit_count == 3


def test_upstream_failure_shows_reason_and_retry_keeps_the_prompt(
    member_client, emulator, settings
):
    settings.BANANA_POLL_INTERVAL = 0
    emulator.config.failure_rate = 1.0
    upload = io.BytesIO(png_bytes())
    upload.name = "ref.png"
    _, generation = submit(member_client, reference_files=[upload])

    final = poll_until_final(member_client, generation)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.error_message
    assert generation.error_message in final.content.decode()
    assert "Retry" in final.text
    emulator.config.failure_rate = 0.0
    response = member_client.post(reverse("generation_retry", args=[generation.pk]))
    assert response.status_code == 302
    retry = Generation.objects.latest("created_at")
    assert retry.retry_of == generation
    assert retry.prompt == generation.prompt
    assert retry.references.count() == 1
    assert len(emulator.tasks[retry.upstream_task_id]["images"]) == 1


def test_text_result_is_a_failure_with_the_text_as_reason(member_client, emulator, settings):
    settings.BANANA_POLL_INTERVAL = 0
    emulator.config.text_result_rate = 1.0
    _, generation = submit(member_client)

    poll_until_final(member_client, generation)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.error_message


def test_brief_not_found_after_submit_is_tolerated(member_client, emulator, settings):
    settings.BANANA_POLL_INTERVAL = 0
    emulator.config.not_found_seconds = 0.3
    _, generation = submit(member_client)

    poll(member_client, generation)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.PENDING

    poll_until_final_after = wait_for(lambda: settled(poll(member_client, generation)))
    assert poll_until_final_after
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS


def test_uploaded_references_reach_the_upstream_as_data_uris_without_public_url(
    member_client, emulator
):
    upload = io.BytesIO(png_bytes("blue"))
    upload.name = "ref.png"
    _, generation = submit(member_client, reference_files=[upload])

    images = emulator.tasks[generation.upstream_task_id]["images"]
    assert len(images) == 1
    assert images[0].startswith("data:image/png;base64,")


@pytest.mark.django_db(transaction=True)
def test_uploaded_references_reach_the_upstream_as_signed_urls(
    member_client, emulator, live_server, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    upload = io.BytesIO(png_bytes("green"))
    upload.name = "ref.png"
    _, generation = submit(member_client, reference_files=[upload])

    (url,) = emulator.tasks[generation.upstream_task_id]["images"]
    assert url.startswith(live_server.url + "/r/")
    fetched = requests.get(url, timeout=5)
    assert fetched.status_code == 200
    assert Image.open(io.BytesIO(fetched.content)).size == (64, 48)
    tampered = url.rstrip("/")[:-3] + "abc/"
    assert requests.get(tampered, timeout=5).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_signed_reference_urls_expire(member_client, emulator, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    upload = io.BytesIO(png_bytes())
    upload.name = "ref.png"
    _, generation = submit(member_client, reference_files=[upload])
    (url,) = emulator.tasks[generation.upstream_task_id]["images"]

    settings.BANANA_REFERENCE_URL_TTL = -1
    assert requests.get(url, timeout=5).status_code == 404


def test_fifty_webhooks_cause_one_upstream_query_per_interval(
    member, emulator, settings, client, committed
):
    settings.PUBLIC_BASE_URL = "http://testserver"
    emulator.config.pending_seconds = 60
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    task_id = Generation.objects.get().upstream_task_id
    callback_url = emulator.tasks[task_id]["callback_url"]

    for _ in range(50):
        with committed():
            client.post(callback_url, {"task_id": task_id}, content_type="application/json")

    assert emulator.query_count(task_id) == 1
    generation.refresh_from_db()
    assert generation.status == Generation.Status.PENDING


def _run_queued_tasks():
    """What a worker would run now, once each, in order; the paths of what ran."""
    from django_tasks_db.models import DBTaskResult

    ran = []
    for result in DBTaskResult.objects.order_by("enqueued_at"):
        result.task.call(**result.args_kwargs["kwargs"])
        ran.append(result.task_path)
        result.delete()
    return ran


def test_a_webhook_announcing_success_stores_the_image_in_the_same_task(
    member, emulator, settings, client, committed
):
    """The announced image is fetched while the upstream confirms the success: no second
    task, no second wait, for the member."""
    settings.PUBLIC_BASE_URL = "http://testserver"
    emulator.config.pending_seconds = 60
    with committed():
        services.create_generation(member, model="google/gempix2", prompt="x")
    generation = Generation.objects.get()
    callback_url = emulator.tasks[generation.upstream_task_id]["callback_url"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    payload = emulator.finish(generation.upstream_task_id, "success")

    client.post(callback_url, payload, content_type="application/json")
    ran = _run_queued_tasks()

    assert ran == ["generations.tasks.refresh_after_webhook"]
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS
    assert generation.results.get().state == ResultImage.State.STORED


def test_an_announced_image_the_upstream_does_not_confirm_is_not_kept(
    member, emulator, settings, client, committed
):
    """A webhook body is a hint: an image it names is fetched (under the result policy),
    but kept only when the upstream's own answer names it."""
    settings.PUBLIC_BASE_URL = "http://testserver"
    emulator.config.pending_seconds = 60
    with committed():
        services.create_generation(member, model="google/gempix2", prompt="running")
        services.create_generation(member, model="google/gempix2", prompt="other")
    running, other = Generation.objects.order_by("prompt").reverse()
    elsewhere = emulator.finish(other.upstream_task_id, "success")  # a real image, not ours
    callback_url = emulator.tasks[running.upstream_task_id]["callback_url"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

    client.post(
        callback_url,
        {**elsewhere, "task_id": running.upstream_task_id},
        content_type="application/json",
    )
    _run_queued_tasks()

    running.refresh_from_db()
    assert running.status == Generation.Status.PENDING
    assert not running.results.exists()
    assert emulator.query_count(running.upstream_task_id) >= 1


def test_a_webhook_that_is_not_due_comes_back_when_it_is(
    member, emulator, settings, client, committed
):
    from django_tasks_db.models import DBTaskResult

    settings.PUBLIC_BASE_URL = "http://testserver"
    emulator.config.pending_seconds = 60
    with committed():
        services.create_generation(member, model="google/gempix2", prompt="x")
    generation = Generation.objects.get()
    callback_url = emulator.tasks[generation.upstream_task_id]["callback_url"]
    with committed():
        client.post(callback_url, {}, content_type="application/json")  # asks the upstream
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

    with committed():
        client.post(callback_url, {}, content_type="application/json")  # not due: later
    for result in DBTaskResult.objects.all():  # what a worker would run now
        result.task.call(**result.args_kwargs["kwargs"])
        result.delete()

    generation.refresh_from_db()
    later = DBTaskResult.objects.all()
    assert later.exists()
    for waiting in later:
        assert waiting.task_path == "generations.tasks.refresh_after_webhook"
        assert waiting.args_kwargs["kwargs"] == {
            "generation_id": str(generation.pk),
            "deferred": True,
        }
        assert waiting.run_after == services.next_check_at(generation.pk)
    assert emulator.query_count(generation.upstream_task_id) == 1
