"""Members change their password, and reset a forgotten one by a link sent over real SMTP."""

import json
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from generations.accounts import passwords

from .conftest import make_user
from .mail_helpers import free_port

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-Long-new-passw0rd"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fast_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def mina(db):
    return make_user("mina")


def request_reset(client, address="mina@example.com"):
    response = client.post(reverse("password_reset"), {"email": address})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    return response


def reset_link(inbox):
    (_sender, _recipients, message) = inbox.messages[-1]
    body = message.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+/password/reset/\S+/", body).group(0)


def log_in(client, password, username="mina"):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_forgotten_password_reset_by_mail_then_login_with_the_new_one(client, mina, smtp_inbox):
    request_reset(client)

    assert len(smtp_inbox.messages) == 1
    sender, recipients, message = smtp_inbox.messages[0]
    assert (sender, recipients) == ("studio@example.com", ["mina@example.com"])
    assert "Banana Studio" in message["Subject"]
    link = reset_link(smtp_inbox)
    assert link.startswith("http://testserver/password/reset/")

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert 'name="new_password1"' in form_page.text
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done.status_code == 302
    assert done["Location"] == reverse("password_reset_complete")

    assert log_in(client, "pw").status_code == 200  # the old one no longer works
    assert log_in(client, NEW_PASSWORD).status_code == 302


def test_the_reset_link_works_once(client, mina, smtp_inbox):
    request_reset(client)
    link = reset_link(smtp_inbox)
    form_page = client.get(link, follow=True)
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    again = client.get(link, follow=True)

    assert 'name="new_password1"' not in again.text
    assert "already been used" in again.text
    other = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "Another-passw0rd-9", "new_password2": "Another-passw0rd-9"},
    )
    assert 'name="new_password1"' not in other.text
    mina.refresh_from_db()
    assert mina.check_password(NEW_PASSWORD)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, mina, smtp_inbox):
    request_reset(client, "nobody@example.com")

    assert smtp_inbox.messages == []


def test_the_link_is_built_on_the_public_address_not_the_host_header(
    client, mina, smtp_inbox, settings
):
    settings.PUBLIC_BASE_URL = "https://studio.example.com"
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]

    client.post(reverse("password_reset"), {"email": "mina@example.com"}, HTTP_HOST="evil.example")

    assert reset_link(smtp_inbox).startswith("https://studio.example.com/password/reset/")


def test_a_reset_lifts_the_members_lockout(client, mina, smtp_inbox, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for n in range(3):
        log_in(client, f"wrong-{n}")
    assert log_in(client, "pw").status_code == 429

    request_reset(client)
    form_page = client.get(reset_link(smtp_inbox), follow=True)
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert log_in(client, NEW_PASSWORD).status_code == 302


def test_the_reset_pages_are_open_to_visitors(client):
    for name in ("password_reset", "password_reset_done", "password_reset_complete"):
        assert client.get(reverse(name)).status_code == 200, name
    login_page = client.get(reverse("login"))
    assert reverse("password_reset") in login_page.text


def test_a_member_changes_their_password(client, mina):
    client.force_login(mina)
    page = client.get(reverse("home"))
    assert reverse("account_settings") in page.text  # the header links to the settings page
    assert reverse("password_change") in client.get(reverse("account_settings")).text

    wrong = client.post(
        reverse("password_change"),
        {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert wrong.status_code == 200
    assert "incorrect" in wrong.text

    response = client.post(
        reverse("password_change"),
        {"old_password": "pw", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response["Location"] == reverse("password_change_done")
    assert client.get(reverse("password_change_done")).status_code == 200  # still signed in
    mina.refresh_from_db()
    assert mina.check_password(NEW_PASSWORD)


def test_password_change_needs_login(client):
    response = client.get(reverse("password_change"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def settings_in_a_fresh_process(**variables):
    """The settings module as a new process with these environment variables reads it."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "banana_site.settings", **variables}
    for name in ("EMAIL_URL", "DEFAULT_FROM_EMAIL", "EMAIL_TIMEOUT"):
        if name not in variables:
            env.pop(name, None)
    code = (
        "import json; from django.conf import settings as s; "
        "print(json.dumps([s.MAILERS, s.DEFAULT_FROM_EMAIL]))"
    )
    out = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


@pytest.mark.subprocess
def test_mail_settings_come_from_the_environment():
    mailers, sender = settings_in_a_fresh_process(
        EMAIL_URL="smtp+tls://robot:s%40cret@mail.example.com:587",
        DEFAULT_FROM_EMAIL="Studio <studio@example.com>",
    )

    assert mailers == {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "mail.example.com",
                "port": 587,
                "username": "robot",
                "password": "s@cret",
                "use_tls": True,
                "timeout": 10,
            },
        }
    }
    assert sender == "Studio <studio@example.com>"


@pytest.mark.subprocess
def test_mail_goes_to_the_console_in_development_and_the_local_relay_in_production():
    development, _ = settings_in_a_fresh_process(DEBUG="true")
    assert development["default"]["BACKEND"] == "django.core.mail.backends.console.EmailBackend"

    production, _ = settings_in_a_fresh_process(
        DEBUG="false",
        SECRET_KEY="k" * 25 + "ey" * 20,
        ALLOWED_HOSTS="example.com",
        BANANA_API_KEY="dk-x",
    )
    assert production["default"] == {
        "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "OPTIONS": {"host": "localhost", "port": 25, "timeout": 10},
    }


# --- Issue 21, finding 9: the reset told which addresses exist, and was not limited --------
# Before: 264 ms with a mail, 6 ms without (the SMTP conversation was in the request), and
# any number of requests per address or client.

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


def run_worker():
    call_command("db_worker", batch=True, startup_delay=False, reload=False, interval=0)


@pytest.fixture
def queued_mail(settings):
    """Tasks wait for a worker, as in production."""
    settings.TASKS = DB_TASKS


@pytest.mark.django_db(transaction=True)  # the worker closes its connection when done
def test_the_request_does_the_same_work_whether_or_not_the_address_has_an_account(
    client, mina, smtp_inbox, queued_mail
):
    answers, statements = [], []
    for address in ("mina@example.com", "nobody@example.com"):
        with CaptureQueriesContext(connection) as queries:
            answers.append(client.post(reverse("password_reset"), {"email": address}))
        statements.append([re.sub(r"'[^']*'|\d+", "?", q["sql"]) for q in queries])

    assert answers[0]["Location"] == answers[1]["Location"] == reverse("password_reset_done")
    assert statements[0] == statements[1]  # no lookup of the address, no mail: the same
    assert smtp_inbox.messages == []
    assert sorted(r.args_kwargs["kwargs"]["address"] for r in DBTaskResult.objects.all()) == [
        "mina@example.com",
        "nobody@example.com",
    ]

    run_worker()

    assert [recipients for _s, recipients, _m in smtp_inbox.messages] == [["mina@example.com"]]
    assert reset_link(smtp_inbox).startswith("http://testserver/password/reset/")


@pytest.mark.django_db(transaction=True)
def test_a_mail_server_that_is_down_does_not_hold_up_or_fail_the_request(
    client, mina, settings, queued_mail
):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 1},
        }
    }

    assert request_reset(client).status_code == 302
    run_worker()  # the worker's attempt fails and is logged; nothing reaches the visitor


def test_requests_for_one_address_are_limited_whatever_its_spelling(
    client, mina, smtp_inbox, settings
):
    settings.PASSWORD_RESETS_PER_ADDRESS = 2
    for address in ("mina@example.com", "MINA@example.com"):
        request_reset(client, address)

    refused = client.post(reverse("password_reset"), {"email": "Mina@Example.com"})

    assert refused.status_code == 429
    assert "Too many reset requests" in refused.text
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert len(smtp_inbox.messages) == 2
    assert request_reset(client, "tae@example.com").status_code == 302  # another address


def test_an_unknown_address_is_limited_the_same_way(client, settings):
    settings.PASSWORD_RESETS_PER_ADDRESS = 2
    statuses = [
        client.post(reverse("password_reset"), {"email": "nobody@example.com"}).status_code
        for _ in range(3)
    ]
    assert statuses == [302, 302, 429]


def test_requests_from_one_client_network_are_limited_across_addresses(client, mina, settings):
    settings.PASSWORD_RESETS_PER_CLIENT = 3
    for n in range(3):
        request_reset(client, f"someone-{n}@example.com")

    refused = client.post(reverse("password_reset"), {"email": "mina@example.com"})
    elsewhere = client.post(
        reverse("password_reset"), {"email": "mina@example.com"}, REMOTE_ADDR="198.51.100.4"
    )

    assert refused.status_code == 429
    assert elsewhere.status_code == 302


def test_the_limits_last_an_hour(client, mina, smtp_inbox, settings):
    settings.PASSWORD_RESETS_PER_ADDRESS = 1
    start = timezone.now().replace(minute=0, second=1)
    with time_machine.travel(start, tick=False):
        request_reset(client)
        assert (
            client.post(reverse("password_reset"), {"email": "mina@example.com"}).status_code == 429
        )
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        request_reset(client)
    assert len(smtp_inbox.messages) == 2


def test_accounts_are_found_by_the_exact_address_not_a_look_alike():
    alice = make_user("alice")  # alice@example.com

    # (The form refuses addresses like these; the task looks them up all the same.)
    assert passwords.ResetRequestForm().get_users("al\u0131ce@example.com") == []  # dotless i
    assert passwords.ResetRequestForm().get_users("ALICE@example.com") == [alice]
