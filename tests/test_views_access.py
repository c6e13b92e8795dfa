"""Every page but login, the webhook, public shares, the probes, metrics (its own token) and
static needs a logged-in member."""

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from .sharing_builders import make_generation

PUBLIC = {
    "login",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "upstream_webhook",
    "reference_public",
    "share_page",
    "share_image",
    "share_thumbnail",
    "share_display",
    "signed_media",
    "healthz",
    "readyz",  # probes: tests/test_operations_probes.py
    "metrics",  # its own bearer token: tests/test_metrics.py
    # A result image an API answer or callback links to: signed and expiring, fetched by
    # scripts and chat tools without a session.
    "api_result_image",
    # The APIs' OpenAPI document: public, like any API description.
    "api_openapi",
    # Joining: the single-use link mailed to the invited address is the permission
    # (tests/test_invitations.py).
    "invitation",
    # Sign-in with the identity provider: visitors start it here and come back from the
    # provider signed out (tests/test_provider_sign_in.py).
    "oidc_authentication_init",
    "oidc_authentication_callback",
    # The language switcher and studio.js's words: the login and share pages have them too
    # (tests/test_i18n_language_choice.py).
    "set_language",
    "javascript_catalog",
}
# The APIs authenticate by a personal key (Authorization: Bearer), never by a session: a
# visitor without one gets the 401 of the API it called (the provider's shape, with code 1
# on submit and 401 on query, or OpenAI's), never a redirect to a login page.
BEARER_KEY = {
    "api_image_gen": ("post", {"code": 1, "message": "Invalid API key"}),
    "api_task_query": ("get", {"code": 401, "message": "Invalid API key"}),
    "api_balance": ("get", {"code": 401, "message": "Invalid API key"}),
    "openai_images_generations": ("post", "invalid_api_key"),
    "openai_images_edits": ("post", "invalid_api_key"),
    "openai_models": ("get", "invalid_api_key"),
}
SAMPLE_KWARGS = {
    "generation_id": uuid.UUID(int=7),
    "position": 0,
    "collection_id": uuid.UUID(int=8),
    "link_id": uuid.UUID(int=9),
    "key_id": uuid.UUID(int=10),
    "session_id": 1,
    "asset_id": 11,
    "preset_id": 12,
    "token": "t" * 43,
    "secret": "s" * 43,
}


def app_routes(resolver=None, namespace=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue
            yield from app_routes(entry, namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield entry.name, list(entry.pattern.converters)


ROUTES = sorted({(name, tuple(args)) for name, args in app_routes()})


def test_the_route_list_is_not_empty():
    names = {name for name, _ in ROUTES}
    assert {"home", "generate", "generation_detail", "generation_statuses", "history"} <= names


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "args"), [r for r in ROUTES if r[0] not in PUBLIC and r[0] not in BEARER_KEY]
)
def test_anonymous_visitors_are_sent_to_log_in(client, name, args):
    url = reverse(name, kwargs={arg: SAMPLE_KWARGS[arg] for arg in args})

    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code == 302, (name, response.status_code)
        assert response["Location"].startswith(reverse("login"))


def test_every_bearer_key_route_exists():
    assert set(BEARER_KEY) <= {name for name, _ in ROUTES}


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(BEARER_KEY))
def test_api_routes_answer_visitors_without_a_key_401_in_their_own_shape(client, name):
    method, expected = BEARER_KEY[name]

    response = getattr(client, method)(reverse(name))

    assert response.status_code == 401
    if isinstance(expected, dict):
        assert response.json() == expected
    else:
        assert response.json()["error"]["code"] == expected


@pytest.mark.django_db
def test_private_generation_views_answer_404_to_another_member(client, member, teammate):
    generation = make_generation(member, visibility="private")
    client.force_login(teammate)
    for name, kwargs in [
        ("generation_detail", {}),
        ("result_image", {"position": 0}),
        ("result_thumbnail", {"position": 0}),
        ("generation_remix", {}),
        ("generation_reuse", {}),
    ]:
        url = reverse(name, kwargs={"generation_id": generation.pk, **kwargs})
        assert client.get(url).status_code == 404, name
    retry = reverse("generation_retry", args=[generation.pk])
    assert client.post(retry).status_code == 404


@pytest.mark.django_db
def test_owner_reaches_their_private_generation(client, member):
    generation = make_generation(member, visibility="private")
    client.force_login(member)
    for name, kwargs in [
        ("generation_detail", {}),
        ("result_image", {"position": 0}),
        ("result_thumbnail", {"position": 0}),
    ]:
        url = reverse(name, kwargs={"generation_id": generation.pk, **kwargs})
        assert client.get(url).status_code in (200, 286), name
