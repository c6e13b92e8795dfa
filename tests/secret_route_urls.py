"""A URLconf with one route the project does not have, whose path carries a secret:
tests/test_secrets_in_logs.py shows its redaction follows the routes."""

from django.http import HttpResponse
from django.urls import path

from generations import converters  # noqa: F401  (registers <token:>)

urlpatterns = [
    path("brand-new/<token:secret>/x/", lambda request, secret: HttpResponse(), name="new"),
]
