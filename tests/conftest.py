import time
from functools import partial

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import override_settings

from emulator import Emulator, EmulatorConfig

from .browser import browser, page  # noqa: F401 (fixtures, defined once for the session)
from .identity_provider import _provider_for_test_client, provider  # noqa: F401 (fixtures)
from .mail_helpers import smtp_inbox  # noqa: F401 (fixture: a real SMTP server on loopback)

TEST_KEY = "dk-test0000000000"


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher(django_test_environment):
    """Users cost about a second each with the production hasher; tests use MD5.

    Session-wide, before any fixture of any scope creates a user, and for the live server's
    threads too (they read the same settings). Production settings are untouched.
    """
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture(autouse=True)
def _isolated_settings(settings, tmp_path):
    """Tasks run inline, media goes to a temporary folder, retries don't sleep."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.BANANA_API_BACKOFF = 0.001
    settings.BANANA_FETCH_ALLOW_PRIVATE = True
    settings.BANANA_FETCH_REQUIRE_HTTPS = False
    settings.PUBLIC_BASE_URL = ""
    settings.SECURE_SSL_REDIRECT = False
    # Production's cache is a database table, which test flushes would not empty; tests get
    # a fresh in-memory one instead (rate-limit counters must not leak between tests).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()


@pytest.fixture
def emulator(settings):
    """The fake upstream on a free port, fast: tasks finish as soon as they are asked about."""
    config = EmulatorConfig(
        api_key=TEST_KEY,
        pending_seconds=0,
        submitted_seconds=0,
        in_progress_seconds=0,
        not_found_seconds=0,
        callback_mode="none",
        seed=1,
    )
    with Emulator(config, host="127.0.0.1", port=0) as emu:
        settings.BANANA_API_BASE_URL = emu.base_url
        settings.BANANA_API_KEY = TEST_KEY
        yield emu


@pytest.fixture
def with_webhooks(settings, live_server, emulator):
    """Callbacks on: the emulator POSTs them to this app, served by a live server."""
    settings.PUBLIC_BASE_URL = live_server.url
    emulator.config.callback_mode = "normal"
    return emulator


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): ...` ends the block as a commit would: the on-commit callbacks it
    registered run at its end, and so do the callbacks those register in turn.

    A test without transaction=True runs inside one transaction that is never committed, so
    without this nothing waiting for a commit (the send to the upstream, enqueued tasks, file
    clean-up) would ever run. Wrap each action whose on-commit work the test relies on.
    """
    return partial(django_capture_on_commit_callbacks, execute=True)


@pytest.fixture
def client_requests_commit(client, committed):
    """Every request of the test client ends with its on-commit work done, as a real one does.

    Once the view has returned, though, not at the commit inside it: the response shows the
    state from before that work (a submit's card before the send; a final poll before its
    images are stored, as when a worker runs the task), and the next request sees the effects.
    """
    request = client.request

    def request_then_commit(**kwargs):
        with committed():
            return request(**kwargs)

    client.request = request_then_commit
    return client


def make_user(username, **extra):
    return get_user_model().objects.create_user(username, f"{username}@example.com", "pw", **extra)


@pytest.fixture
def member(db):
    from generations import credits

    user = make_user("mina")
    credits.grant(user, 1000, reason="test budget")
    return user


@pytest.fixture
def teammate(db):
    return make_user("tae")


@pytest.fixture
def admin_user(db):
    return make_user("boss", is_staff=True, is_superuser=True)


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


def wait_for(predicate, timeout=10.0, interval=0.05):
    """Wait for something another thread (the emulator, the live server) makes true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def refresh_now(generation_id):
    """Ask the upstream about a generation at once, as if the coalescing interval had
    passed since anyone last asked."""
    from generations import services
    from generations.models import Generation

    Generation.objects.filter(pk=generation_id).update(last_checked_at=None)
    return services.refresh_from_upstream(generation_id)
