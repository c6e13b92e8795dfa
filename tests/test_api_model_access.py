"""The model access rules hold for API keys as for the studio: the key's lookup reads the
member's rules in its own query, and the submit judges them as create_job always does.
A refusal has the API's shape (the provider's 400, OpenAI's model_not_found)."""

import pytest
from django.urls import reverse

from generations import credits
from generations.accounts import members
from generations.models import Generation, ModelAccess

from .api_helpers import bearer, make_key
from .conftest import make_user

pytestmark = pytest.mark.django_db

PRO = "google/nano-banana-pro"


@pytest.fixture(autouse=True)
def worker_elsewhere(settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}


def person(name, role="member"):
    user = make_user(name)
    members.set_role(user, role)
    credits.grant(user, 100, reason="test budget")
    return user


def submit(client, user, **body):
    _key, secret = make_key(user)
    return client.post(
        reverse("api_image_gen"),
        {"prompt": "A banana", **body},
        content_type="application/json",
        headers=bearer(secret),
    )


def test_a_size_reserved_for_admins_and_named_members_is_refused_to_the_others(client):
    rule = ModelAccess.objects.create(model=PRO, image_size="4k")
    member, named = person("mina"), person("nadia")
    auditor, admin = person("audra", "auditor"), person("ada", "admin")
    rule.users.add(named)

    refused = [submit(client, u, model=PRO, image_size="4k") for u in (member, auditor)]
    allowed = [submit(client, u, model=PRO, image_size="4k") for u in (named, admin)]
    other_size = submit(client, member, model=PRO, image_size="2k")

    assert [r.status_code for r in refused] == [400, 400]
    assert "You may not use Nano Banana Pro at 4K" in refused[0].json()["detail"]
    assert [r.status_code for r in [*allowed, other_size]] == [200, 200, 200]
    assert {g.owner for g in Generation.objects.all()} == {named, admin, member}


def test_a_model_reserved_for_auditors_is_refused_to_a_member_and_open_to_an_auditor(client):
    ModelAccess.objects.create(model="google/gempix2", auditors=True, admins=False)
    member, auditor = person("mina"), person("audra", "auditor")

    refused = submit(client, member, model="google/gempix2")
    allowed = submit(client, auditor, model="google/gempix2")

    assert refused.status_code == 400
    assert "is not one of the models you may use" in refused.json()["detail"]
    assert allowed.status_code == 200
    assert Generation.objects.get().owner == auditor
    assert credits.account_for(member).held == 0


def test_openai_answers_a_model_the_member_may_not_use_with_model_not_found(client, settings):
    settings.BANANA_API_WAIT_SECONDS = 0
    ModelAccess.objects.create(model="google/gempix2", auditors=True, admins=False)
    _key, secret = make_key(person("mina"))

    response = client.post(
        reverse("openai_images_generations"),
        {"prompt": "A banana", "model": "google/gempix2"},
        content_type="application/json",
        headers=bearer(secret),
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "model_not_found"
    assert response.json()["error"]["param"] == "model"
    assert not Generation.objects.exists()


def test_the_models_list_leaves_out_a_model_the_member_may_not_use(client):
    ModelAccess.objects.create(model=PRO, admins=True)
    member, admin = person("mina"), person("ada", "admin")

    def listed(user):
        _key, secret = make_key(user)
        response = client.get(reverse("openai_models"), headers=bearer(secret))
        return {m["id"] for m in response.json()["data"]}

    assert PRO not in listed(member)
    assert PRO in listed(admin)
    assert listed(member)
