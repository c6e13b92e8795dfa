"""Headers every response carries, and the CSRF token that no script needs to read."""

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_every_page_refuses_powerful_browser_features(member_client):
    response = member_client.get(reverse("home"))
    policy = response["Permissions-Policy"]
    for feature in ("camera=()", "microphone=()", "geolocation=()", "payment=()"):
        assert feature in policy


def test_the_csrf_cookie_is_http_only_and_htmx_sends_the_token_from_the_page(member_client):
    assert settings.CSRF_COOKIE_HTTPONLY
    response = member_client.get(reverse("home"))
    assert "X-CSRFToken" in response.text  # hx-headers on <body>
