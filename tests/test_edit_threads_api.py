"""The APIs edit an image of ours by id: the provider-shaped `/api/image/gen` (`edit_of`)
and the OpenAI-compatible edits (`image_id`), over real HTTP against a live server and the
emulator. The new generation joins the image's thread; images the key's member may not
see or edit are refused as not found."""

import pytest
import requests

from generations.models import Generation

from .api_helpers import bearer, data_uri, make_key, png_bytes
from .conftest import make_user
from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db(transaction=True)


def provider_submit(live_server, secret, **body):
    return requests.post(
        live_server.url + "/api/image/gen",
        headers=bearer(secret),
        json={"prompt": "now in winter", "model": "google/gempix2", **body},
        timeout=30,
    )


def test_the_provider_api_edits_an_image_by_id_and_joins_its_thread(live_server, emulator, member):
    image = make_generation(member, prompt="a cabin")
    _, secret = make_key(member)

    answer = provider_submit(live_server, secret, edit_of=str(image.pk), images=[data_uri()])

    assert answer.status_code == 200, answer.text
    made = Generation.objects.get(pk=answer.json()["data"]["task_id"])
    assert made.parent_id == image.pk and made.thread_id == image.pk
    assert made.api_task is not None
    assert len(emulator.tasks[made.upstream_task_id]["images"]) == 2
    image.refresh_from_db()
    assert image.thread_id == image.pk


def test_the_openai_edits_take_an_image_id_without_files(live_server, emulator, member):
    image = make_generation(member, prompt="a cabin")
    _, secret = make_key(member)

    answer = requests.post(
        live_server.url + "/v1/images/edits",
        headers=bearer(secret),
        data={"prompt": "add snow", "model": "google/gempix2", "image_id": str(image.pk)},
        timeout=60,
    )

    assert answer.status_code == 200, answer.text
    made = Generation.objects.get(parent=image)
    assert made.thread_id == image.pk and made.status == "success"
    assert made.references.count() == 1


def test_a_teammates_team_image_may_be_edited_and_the_version_is_the_editors(
    live_server, emulator, member
):
    image = make_generation(make_user("owner"), prompt="team logo", visibility="team")
    _, secret = make_key(member)

    answer = provider_submit(live_server, secret, edit_of=str(image.pk))

    assert answer.status_code == 200, answer.text
    assert Generation.objects.get(parent=image).owner == member


def test_images_the_key_may_not_edit_are_not_found_and_cost_nothing(live_server, emulator, member):
    other = make_user("other")
    private = make_generation(other, visibility="private")
    running = make_generation(member, status="in_progress")
    deleted = make_generation(member)
    Generation.objects.filter(pk=deleted.pk).update(deleted_at=deleted.created_at)
    missing = "00000000-0000-0000-0000-000000000000"
    _, secret = make_key(member)

    for target in (private.pk, running.pk, deleted.pk, missing):
        answer = provider_submit(live_server, secret, edit_of=str(target))
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == "no finished image of ours with this id that you may edit"
        openai_answer = requests.post(
            live_server.url + "/v1/images/edits",
            headers=bearer(secret),
            data={"prompt": "x", "model": "google/gempix2", "image_id": str(target)},
            timeout=30,
        )
        assert openai_answer.status_code == 404
        assert openai_answer.json()["error"]["param"] == "image_id"
    assert emulator.submit_count == 0
    assert not Generation.objects.filter(parent__isnull=False).exists()


def test_the_edited_image_counts_as_one_of_the_four_references(live_server, emulator, member):
    image = make_generation(member)
    _, secret = make_key(member)

    provider = provider_submit(
        live_server, secret, edit_of=str(image.pk), images=[data_uri() for _ in range(4)]
    )
    openai_answer = requests.post(
        live_server.url + "/v1/images/edits",
        headers=bearer(secret),
        data={"prompt": "x", "model": "google/gempix2", "image_id": str(image.pk)},
        files=[("image[]", (f"{i}.png", png_bytes(), "image/png")) for i in range(4)],
        timeout=30,
    )

    assert provider.status_code == 400
    assert "the edited image included" in provider.json()["detail"]
    assert openai_answer.status_code == 400
    assert emulator.submit_count == 0


def test_edits_without_an_image_or_an_id_are_refused(live_server, emulator, member):
    _, secret = make_key(member)

    answer = requests.post(
        live_server.url + "/v1/images/edits",
        headers=bearer(secret),
        data={"prompt": "x", "model": "google/gempix2"},
        timeout=30,
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "image"
