"""Secrets that travel in URL paths never reach a log line: gunicorn's access log and
Django's own loggers both write them redacted.

Issue 21, finding 6: `/api/results/<signed token>` and `/password/reset/<uid>/<token>/` were
logged verbatim, because the redaction was a hand-written list of prefixes. Which segments
are secret is now derived from the routes (their converters), and the walk below fails for
any route with a parameter that is neither declared public here nor redacted.
"""

import logging
import os
import secrets
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from django.db import connection
from django.test import override_settings
from django.urls import URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter, PathConverter, StringConverter, UUIDConverter
from django.urls.resolvers import RoutePattern

from generations.converters import (
    SecretSegmentConverter,
    SignedTokenConverter,
    UrlSafeTokenConverter,
)
from operations.logs import JsonFormatter, RedactingFormatter
from operations.redaction import RedactSecretsFilter, redact_secrets

from .conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent
SECRET = "S3cr3t-" + "q" * 36


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url():
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_and_error_logs_never_show_a_webhook_secret_or_share_token(tmp_path):
    port = free_port()
    output = tmp_path / "gunicorn.log"
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": database_url()}
    with output.open("w") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"

        def up():
            try:
                return requests.get(f"{base}/healthz", timeout=10).ok
            except requests.RequestException:  # not up yet, or busy starting
                return False

        wait_for(up, timeout=30)
        hook = requests.post(f"{base}/hooks/upstream/{uuid.uuid4()}/{SECRET}/", json={}, timeout=5)
        share = requests.get(f"{base}/s/{SECRET}/", timeout=5)
        result = requests.get(f"{base}/api/results/1a:{SECRET}", timeout=5)
        reset = requests.get(
            f"{base}/password/reset/MQ/{SECRET}/",
            headers={"Referer": f"{base}/s/{SECRET}/"},
            timeout=5,
        )
        assert (hook.status_code, share.status_code, result.status_code) == (404, 404, 404)
        assert reset.status_code == 200  # the link's page (an invalid link, said so)
        wait_for(lambda: output.read_text().count("[redacted]") >= 5)
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = output.read_text()
    assert SECRET not in text
    assert "POST /hooks/upstream/" in text  # the requests were logged, redacted
    assert "GET /api/results/[redacted]" in text
    assert "GET /password/reset/MQ/[redacted]/" in text


def test_django_log_records_are_redacted_before_any_handler_writes_them():
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/s/{SECRET}/",), None
    )
    RedactSecretsFilter().filter(record)
    assert SECRET not in record.getMessage()
    assert record.getMessage() == "Not Found: /s/[redacted]/"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/r/1:abc:{SECRET}/", "/r/[redacted]/"),
        (f"/s/{SECRET}/images/x/0/", "/s/[redacted]/images/x/0/"),
        ("/gallery/?q=s/x", "/gallery/?q=s/x"),
        ("/history/", "/history/"),
    ],
)
def test_only_secret_path_segments_are_redacted(path, expected):
    assert redact_secrets(path) == expected


# --- Every route, walked -----------------------------------------------------------------

# Parameters that are not secrets, by the route's name (or its namespace). Any other
# parameter of a type other than int or uuid is taken for a secret and must be redacted: a
# new route with a token in its path fails here until it uses a secret converter (or is
# listed here, with a reason).
PUBLIC_PARAMETERS = {
    # Django's admin: object ids, app labels, its catch-all.
    "admin": {"object_id", "content_type_id", "id", "app_label", "url"},
    "javascript_catalog": {"language", "version"},  # a language code, a content hash
    "signed_media": {"name"},  # a content-addressed file name; its signature is secret
    "password_reset_confirm": {"uidb64"},  # the member's id; the token is secret
}
SECRET_CONVERTERS = (UrlSafeTokenConverter, SignedTokenConverter, SecretSegmentConverter)


def routes(patterns=None, namespace=(), prefix=()):
    """(name, namespace, {parameter: converter}) for every route of the URLconf."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            inner = (*namespace, entry.namespace) if entry.namespace else namespace
            yield from routes(entry.url_patterns, inner, (*prefix, entry.pattern))
            continue
        parameters = {}
        for pattern in (*prefix, entry.pattern):
            if isinstance(pattern, RoutePattern):
                parameters |= pattern.converters
            else:
                parameters |= dict.fromkeys(pattern.regex.groupindex)
        yield entry.name, namespace, parameters


def is_public(name, namespace, parameter, converter):
    if isinstance(converter, IntConverter | UUIDConverter):
        return True
    listed = PUBLIC_PARAMETERS.get(name, set()) | set().union(
        *(PUBLIC_PARAMETERS.get(space, set()) for space in namespace)
    )
    return parameter in listed


SECRET_BEARING = sorted(
    (name, namespace, parameters)
    for name, namespace, parameters in routes()
    if any(not is_public(name, namespace, p, c) for p, c in parameters.items())
)


def sample(converter, secret):
    """A value `converter` matches: `secret` in it when the parameter is a secret."""
    if isinstance(converter, IntConverter):
        return 7
    if isinstance(converter, UUIDConverter):
        return uuid.UUID(int=7)
    if isinstance(converter, SignedTokenConverter):
        return f"1a2b:{secret}"
    if isinstance(converter, PathConverter):
        return f"ab/{secret}.png"
    if isinstance(converter, StringConverter | UrlSafeTokenConverter):
        return secret
    raise AssertionError(f"no sample value for {type(converter).__name__}: add one here")


def url_of(name, namespace, parameters):
    """The route's path with a fresh secret in each secret parameter, and those secrets."""
    assert name, f"a route with a secret in its path needs a name: {parameters}"
    kwargs, hidden = {}, []
    for parameter, converter in parameters.items():
        secret = "Sec" + secrets.token_hex(12)
        kwargs[parameter] = sample(converter, secret)
        if not is_public(name, namespace, parameter, converter):
            hidden.append(secret)
    return reverse(":".join((*namespace, name)), kwargs=kwargs), hidden


def lines_showing(path):
    """Where a request path ends up in a log line."""
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (path,), None
    )
    RedactSecretsFilter().filter(record)
    try:
        raise ValueError(f"could not fetch https://studio.example.com{path}")
    except ValueError:
        failure = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    return [
        redact_secrets(f'"GET {path} HTTP/1.1" 404 179'),  # django.server, gunicorn's %(r)s
        redact_secrets(path),  # gunicorn's %(U)s
        redact_secrets(f"{path}?page=2&code=abc"),
        redact_secrets(path.removesuffix("/")),  # before APPEND_SLASH's redirect
        redact_secrets(f"{path}junk/more"),  # a 404 after the secret
        redact_secrets(f"https://studio.example.com/studio{path}"),  # a Referer, a prefix
        record.getMessage(),
        RedactingFormatter("%(message)s").format(failure),
        JsonFormatter().format(failure),
    ]


def test_the_walk_finds_every_route_known_to_carry_a_secret():
    found = {name for name, _namespace, _parameters in SECRET_BEARING}
    assert {
        "api_result_image",
        "password_reset_confirm",
        "invitation",
        "share_page",
        "share_image",
        "share_thumbnail",
        "signed_media",
        "reference_public",
        "upstream_webhook",
    } <= found


@pytest.mark.parametrize(
    ("name", "namespace", "parameters"),
    SECRET_BEARING,
    ids=[":".join((*ns, name or "?")) for name, ns, _p in SECRET_BEARING],
)
def test_every_secret_in_a_route_is_redacted_wherever_its_path_is_logged(
    name, namespace, parameters
):
    path, hidden = url_of(name, namespace, parameters)
    for parameter, converter in parameters.items():
        if not is_public(name, namespace, parameter, converter):
            assert isinstance(converter, SECRET_CONVERTERS), (
                f"{name}: <{parameter}> looks like a secret; match it with a secret converter "
                "(generations/converters.py) or list it in PUBLIC_PARAMETERS with a reason"
            )

    for line in lines_showing(path):
        for secret in hidden:
            assert secret not in line, line
        assert "[redacted]" in line


def test_only_the_secret_segments_go_the_rest_of_the_path_stays_readable():
    generation = uuid.uuid4()
    path = reverse("share_image", args=[SECRET, generation, 2])

    assert redact_secrets(path) == f"/s/[redacted]/images/{generation}/2/"
    assert redact_secrets(f"/password/reset/MQ/{SECRET}/") == "/password/reset/MQ/[redacted]/"
    assert redact_secrets("/password/reset/sent/") == "/password/reset/sent/"


def test_a_route_added_later_is_redacted_with_no_change_to_the_redaction():
    """The rules follow the URLconf: nothing in operations/ names the routes."""
    assert redact_secrets(f"/brand-new/{SECRET}/x/") == f"/brand-new/{SECRET}/x/"

    with override_settings(ROOT_URLCONF="tests.secret_route_urls"):
        assert redact_secrets(f"/brand-new/{SECRET}/x/") == "/brand-new/[redacted]/x/"
        assert redact_secrets(f"/s/{SECRET}/") == f"/s/{SECRET}/"  # not a route there

    assert redact_secrets(f"/s/{SECRET}/") == "/s/[redacted]/"
