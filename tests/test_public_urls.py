"""Public URLs carry secrets in their paths: a malformed one names nothing and answers 404
before any view or database query sees it (a NUL byte was a 500 on PostgreSQL)."""

import uuid

import pytest
from django.urls import reverse

from generations.models import ShareLink

from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db

MALFORMED = ["%00", "abc%00def", "x" * 15, "x" * 65, "a%2Fb" * 5, "tok en" * 4, "%C3%A9" * 10]


@pytest.mark.parametrize("token", MALFORMED)
def test_share_page_answers_404_to_a_malformed_token(client, token, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get(f"/s/{token}/")
    assert response.status_code == 404


@pytest.mark.parametrize("token", MALFORMED)
def test_shared_image_answers_404_to_a_malformed_token(client, token):
    response = client.get(f"/s/{token}/images/{uuid.uuid4()}/0/thumbnail/")
    assert response.status_code == 404


@pytest.mark.parametrize("token", ["%00", "a%00b", "x" * 201, "a/b"])
def test_signed_reference_url_answers_404_to_a_malformed_token(client, token):
    assert client.get(f"/r/{token}/").status_code == 404


@pytest.mark.parametrize("secret", ["%00", "x" * 15, "s%00" * 8])
def test_webhook_answers_404_to_a_malformed_secret(client, secret):
    response = client.post(f"/hooks/upstream/{uuid.uuid4()}/{secret}/", b"{}", "application/json")
    assert response.status_code == 404


def test_malformed_tokens_do_not_count_as_guesses(client, member, settings):
    settings.BANANA_SHARE_MISSES_PER_MINUTE = 2
    link = ShareLink.objects.create(owner=member, generation=make_generation(member))
    for _ in range(5):
        client.get("/s/%00/")
    assert client.get(reverse("share_page", args=[link.token])).status_code == 200
