"""Style presets and library assets from the APIs (issue 20), by id or name: real HTTP
against a live server, with the emulator as our upstream."""

import pytest
import requests

from generations import library, presets
from generations.models import CreditAccount, Generation

from .api_helpers import bearer, data_uri, make_key, png_bytes
from .conftest import make_user
from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(member, admin_user):
    teammate = make_user("tae")
    logo = library.upload_asset(teammate, png_bytes("green"), name="Logo", tags="brand")
    secret_asset = library.upload_asset(
        teammate, png_bytes("blue"), name="Secret", visibility="private"
    )
    preset = presets.save(
        admin_user,
        name="House style",
        template="{prompt}, studio photo",
        scope="team",
        aspect_ratio="3:2",
        count=2,
        model="google/gempix2",
    )
    return {"logo": logo, "secret": secret_asset, "preset": preset}


def provider_submit(live_server, secret, body):
    return requests.post(
        live_server.url + "/api/image/gen", json=body, headers=bearer(secret), timeout=30
    )


def test_provider_api_takes_a_preset_by_name_and_an_asset_by_id(
    live_server, emulator, member, team
):
    _, secret = make_key(member)
    answer = provider_submit(
        live_server,
        secret,
        {
            "prompt": "a mug",
            "model": "google/gempix2",
            "preset": "House style",
            "library_assets": [team["logo"].pk],
        },
    )
    assert answer.status_code == 200, answer.text
    generation = Generation.objects.get(pk=answer.json()["data"]["task_id"])
    assert generation.prompt == "a mug, studio photo"
    assert generation.member_prompt == "a mug"
    assert generation.preset_name == "House style"
    assert generation.aspect_ratio == "3:2"  # the preset's default, not sent
    sent = emulator.tasks[generation.upstream_task_id]
    assert sent["prompt"] == "a mug, studio photo"
    assert len(sent["images"]) == 1
    assert generation.references.get().file.name == team["logo"].file.name


def test_provider_api_refuses_an_unknown_preset_and_anothers_private_asset(
    live_server, emulator, member, team
):
    _, secret = make_key(member)
    balance = CreditAccount.objects.get(user=member).balance
    for body, status in [
        ({"preset": "Nope"}, 404),
        ({"library_assets": [team["secret"].pk]}, 404),
        ({"library_assets": ["Secret"]}, 404),
        ({"library_assets": [1, 2, 3, 4, 5]}, 400),
        ({"library_assets": ["Logo"], "images": [data_uri()] * 4}, 400),
    ]:
        answer = provider_submit(
            live_server, secret, {"prompt": "a mug", "model": "google/gempix2", **body}
        )
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["code"] != 0
    assert not Generation.objects.exists()
    assert CreditAccount.objects.get(user=member).balance == balance
    assert emulator.submit_count == 0


def test_openai_generations_take_a_preset_whose_defaults_fill_what_was_not_sent(
    live_server, emulator, member, team
):
    _, secret = make_key(member)
    answer = requests.post(
        live_server.url + "/v1/images/generations",
        headers=bearer(secret),
        json={"prompt": "a mug", "preset": team["preset"].pk, "library_assets": ["Logo"]},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"]) == 2  # the preset's count
    generations = Generation.objects.filter(owner=member)
    assert {g.prompt for g in generations} == {"a mug, studio photo"}
    assert {g.preset_id for g in generations} == {team["preset"].pk}
    assert {g.aspect_ratio for g in generations} == {"3:2"}
    for generation in generations:
        assert len(emulator.tasks[generation.upstream_task_id]["images"]) == 1
    team["logo"].refresh_from_db()
    assert team["logo"].use_count == 1


def test_openai_edits_take_library_assets_beside_uploads(live_server, emulator, member, team):
    _, secret = make_key(member)
    answer = requests.post(
        live_server.url + "/v1/images/edits",
        headers=bearer(secret),
        data={"prompt": "Put the logo on it", "model": "google/gempix2", "library_assets": "Logo"},
        files={"image": ("a.png", png_bytes(), "image/png")},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    generation = Generation.objects.get(owner=member)
    assert [r.library_asset_id for r in generation.references.all()] == [team["logo"].pk, None]
    assert len(emulator.tasks[generation.upstream_task_id]["images"]) == 2


def test_openai_answers_404_for_a_preset_not_the_members(live_server, emulator, member, team):
    own = presets.save(make_user("other"), name="Theirs", template="x", scope="personal")
    _, secret = make_key(member)
    answer = requests.post(
        live_server.url + "/v1/images/generations",
        headers=bearer(secret),
        json={"prompt": "a mug", "preset": own.pk},
        timeout=30,
    )
    assert answer.status_code == 404
    assert answer.json()["error"]["param"] == "preset"
    assert not Generation.objects.exists()


def test_the_openapi_document_names_the_fields(live_server):
    document = requests.get(live_server.url + "/api/openapi.json", timeout=10).json()
    schemas = document["components"]["schemas"]
    for name in ("ProviderSubmitRequest", "OpenAIImagesRequest"):
        assert {"preset", "library_assets"} <= set(schemas[name]["properties"])


def test_an_edit_by_id_takes_a_preset_and_a_library_asset(live_server, emulator, member, team):
    image = make_generation(member)
    _, secret = make_key(member)
    answer = provider_submit(
        live_server,
        secret,
        {
            "prompt": "now on a desk",
            "model": "google/gempix2",
            "edit_of": str(image.pk),
            "preset": "House style",
            "library_assets": ["Logo"],
        },
    )
    assert answer.status_code == 200, answer.text
    edit = Generation.objects.get(pk=answer.json()["data"]["task_id"])
    assert edit.parent == image
    assert edit.prompt == "now on a desk, studio photo"
    assert edit.member_prompt == "now on a desk"
    # The edited image first, then the library's.
    assert [r.library_asset_id for r in edit.references.all()] == [None, team["logo"].pk]
    assert len(emulator.tasks[edit.upstream_task_id]["images"]) == 2
