"""The generation flow where things go wrong: crashes, deletes, races, missing files."""

import base64
import json
import threading
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import requests
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from generations import services, upstream
from generations.models import Generation, ResultImage

from .conftest import TEST_KEY, refresh_now
from .polling import poll, poll_until_settled, settled
from .sharing_builders import png_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("client_requests_commit")]


def crashed_before_sending(owner, minutes_ago=10):
    """A row whose creating process died between commit and send."""
    generation = Generation.objects.create(owner=owner, model="google/gempix2", prompt="orphan")
    Generation.objects.filter(pk=generation.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return generation


def secret_in(callback_url):
    return urlsplit(callback_url).path.rstrip("/").rsplit("/", 1)[-1]


class QuietHandler(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def answer(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serving(handler_class):
    """`handler_class` on a free loopback port, in its own threads; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def image_server(before_answering):
    """A server that answers every GET with a PNG, once `before_answering()` has run in the
    server's thread (on that thread's own database connection)."""

    class Handler(QuietHandler):
        def do_GET(self):
            try:
                before_answering()
            finally:
                connection.close()
            self.answer(200, png_bytes(), content_type="image/png")

    return serving(Handler)


def upstream_that_calls_back_then_fails(task_id, callback_answers):
    """A fake upstream: a submit first calls the callback URL back naming `task_id`, then fails
    with HTTP 500; a query is answered "task not found" (it may be, right after a submit)."""

    class Handler(QuietHandler):
        def do_POST(self):
            submitted = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            callback = {"task_id": task_id, "status": "in_progress"}
            answer = requests.post(submitted["callback_url"], json=callback, timeout=10)
            callback_answers.append(answer.status_code)
            self.answer(500, json.dumps({"code": 1, "message": "internal error"}).encode())

        def do_GET(self):
            self.answer(404, json.dumps({"code": 1, "message": "task not found"}).encode())

    return serving(Handler)


def test_reconciler_sends_an_orphaned_row_with_a_secret_that_matches_its_hash(
    member, emulator, settings
):
    settings.PUBLIC_BASE_URL = "http://testserver"
    generation = crashed_before_sending(member)

    counts = services.reconcile()

    generation.refresh_from_db()
    assert counts["resent"] == 1
    assert generation.status == Generation.Status.PENDING
    task = emulator.tasks[generation.upstream_task_id]
    assert generation.webhook_secret_matches(secret_in(task["callback_url"]))
    assert services.reconcile()["resent"] == 0


def test_reconciler_does_not_send_a_deleted_orphan(member, emulator, committed):
    generation = crashed_before_sending(member)
    with committed():
        services.delete_generation(generation)

    services.reconcile()

    assert emulator.submit_count == 0


def test_generation_deleted_while_running_settles_credits_but_fetches_no_image(
    member, emulator, committed
):
    emulator.config.pending_seconds = 60
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    generation.refresh_from_db()
    with committed():
        services.delete_generation(generation)
    emulator.finish(generation.upstream_task_id, status="success")

    with committed():
        refresh_now(generation.pk)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS
    assert generation.credit_state == Generation.CreditState.SETTLED
    assert not generation.results.exists()


@pytest.mark.django_db(transaction=True)  # the delete comes from the server thread's connection
def test_a_result_fetched_while_its_generation_was_deleted_leaves_no_file(member, settings):
    generation = Generation.objects.create(
        owner=member,
        model="google/gempix2",
        prompt="x",
        status=Generation.Status.SUCCESS,
        finished_at=timezone.now(),
        webhook_secret_hash="x" * 64,
    )

    def delete_the_generation():
        Generation.objects.filter(pk=generation.pk).update(deleted_at=timezone.now())

    # The delete lands while the image downloads, so between the download and the write.
    with image_server(before_answering=delete_the_generation) as base_url:
        result = ResultImage.objects.create(
            generation=generation, position=0, source=base_url + "/result.png"
        )
        again = services.store_results(generation.pk)

    assert again is False
    generation.refresh_from_db()
    assert generation.deleted_at is not None
    result.refresh_from_db()
    assert result.state == ResultImage.State.WAITING
    assert (result.attempts, result.error_message) == (0, "")  # fetched fine, then not kept
    assert not result.file
    assert not any(p.is_file() for p in settings.MEDIA_ROOT.rglob("*"))


def test_reconciler_stores_each_generations_results_once_per_run(member, settings):
    generation = Generation.objects.create(
        owner=member,
        model="google/gempix2",
        prompt="two images",
        status=Generation.Status.SUCCESS,
        finished_at=timezone.now(),
        webhook_secret_hash="x" * 64,
    )
    data_uri = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
    for position in range(2):
        ResultImage.objects.create(generation=generation, position=position, source=data_uri)

    counts = services.reconcile()

    assert counts["stored"] == 1
    assert generation.results.filter(state=ResultImage.State.STORED).count() == 2
    assert all(r.attempts == 1 for r in generation.results.all())


def test_a_missing_reference_file_fails_the_generation_and_releases_the_hold(
    member, emulator, django_capture_on_commit_callbacks
):
    from generations.services import ReferenceInput

    with django_capture_on_commit_callbacks() as at_commit:
        generation = services.create_generation(
            member,
            model="google/gempix2",
            prompt="x",
            references=[ReferenceInput(content=png_bytes(), extension="png")],
        )
    # The files go missing between the commit and the send it triggers.
    for ref in generation.references.all():
        ref.file.delete(save=False)
    for callback in at_commit:
        callback()

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "reference image could not be read" in generation.error_message
    assert generation.credit_state == Generation.CreditState.RELEASED
    assert emulator.submit_count == 0


@pytest.mark.django_db(transaction=True)  # the early callback reaches the app over the live server
def test_a_late_upstream_failure_does_not_fail_a_row_an_early_callback_bound(
    member, live_server, settings
):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.BANANA_API_KEY = TEST_KEY
    settings.BANANA_API_MAX_RETRIES = 0
    callback_answers = []

    with upstream_that_calls_back_then_fails("ta-early", callback_answers) as upstream_url:
        settings.BANANA_API_BASE_URL = upstream_url
        generation = services.create_generation(member, model="google/gempix2", prompt="x")

    assert callback_answers == [200]
    generation.refresh_from_db()
    assert generation.upstream_task_id == "ta-early"
    # The upstream has the task after all: the row counts as sent, its hold stays.
    assert generation.status == Generation.Status.PENDING
    assert generation.error_message == ""
    assert generation.credit_state == Generation.CreditState.HELD


def test_final_poll_from_the_detail_page_asks_htmx_to_reload_it(
    member, member_client, emulator, settings, committed
):
    settings.BANANA_POLL_INTERVAL = 0
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    detail = reverse("generation_detail", args=[generation.pk])
    response = poll_until_settled(
        member_client,
        generation,
        attempts=20,
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver" + detail},
    )
    assert response["HX-Refresh"] == "true"

    from_home = poll(
        member_client,
        generation,
        headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/"},
    )
    assert settled(from_home)
    assert "HX-Refresh" not in from_home


def test_overlong_task_ids_are_not_bound(member):
    generation = Generation.objects.create(
        owner=member, model="m", prompt="p", webhook_secret_hash="x" * 64
    )

    assert not services.bind_task_id(generation.pk, "t" * 500)
    generation.refresh_from_db()
    assert generation.upstream_task_id is None


def test_unknown_upstream_status_keeps_polling(member, emulator, settings, committed):
    emulator.config.pending_seconds = 60
    emulator.config.unknown_status_rate = 1.0
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")

    refresh_now(generation.pk)

    generation.refresh_from_db()
    assert not generation.is_final
    assert generation.upstream_status not in upstream.FINAL_STATUSES


def test_a_task_the_upstream_keeps_denying_fails_and_releases_the_hold(
    member, emulator, settings, committed
):
    settings.BANANA_NOT_FOUND_GRACE = 0
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="x")
    emulator.config.not_found_seconds = 3600

    refresh_now(generation.pk)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "no record" in generation.error_message
    assert generation.credit_state == Generation.CreditState.RELEASED
