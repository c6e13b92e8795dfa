"""Every page but login, the webhook, public shares and static needs a logged-in member."""

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
    "healthz",
    # Joining: the single-use link mailed to the invited address is the permission
    # (tests/test_invitations.py).
    "invitation",
    # Sign-in with the identity provider: visitors start it here and come back from the
    # provider signed out (tests/test_provider_sign_in.py).
    "oidc_authentication_init",
    "oidc_authentication_callback",
}
SAMPLE_KWARGS = {
    "generation_id": uuid.UUID(int=7),
    "position": 0,
    "collection_id": uuid.UUID(int=8),
    "link_id": uuid.UUID(int=9),
    "session_id": 1,
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
    assert {"home", "generate", "generation_detail", "generation_status", "history"} <= names


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "args"), [r for r in ROUTES if r[0] not in PUBLIC])
def test_anonymous_visitors_are_sent_to_log_in(client, name, args):
    url = reverse(name, kwargs={arg: SAMPLE_KWARGS[arg] for arg in args})

    for method in (client.get, client.post):
        response = method(url)
        assert response.status_code == 302, (name, response.status_code)
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_private_generation_views_answer_404_to_another_member(client, member, teammate):
    generation = make_generation(member, visibility="private")
    client.force_login(teammate)
    for name, kwargs in [
        ("generation_detail", {}),
        ("generation_status", {}),
        ("result_image", {"position": 0}),
        ("result_thumbnail", {"position": 0}),
        ("generation_remix", {}),
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
        ("generation_status", {}),
        ("result_image", {"position": 0}),
        ("result_thumbnail", {"position": 0}),
    ]:
        url = reverse(name, kwargs={"generation_id": generation.pk, **kwargs})
        assert client.get(url).status_code in (200, 286), name
