"""Secrets that travel in URL paths never reach a log line: gunicorn's access log and
Django's own loggers both write them redacted."""

import logging
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from django.db import connection

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
        assert (hook.status_code, share.status_code) == (404, 404)
        wait_for(lambda: output.read_text().count("[redacted]") >= 2)
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = output.read_text()
    assert SECRET not in text
    assert "POST /hooks/upstream/" in text  # the requests were logged, redacted


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
