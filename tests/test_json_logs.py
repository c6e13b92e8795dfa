"""LOG_FORMAT=json: every line a web or management process writes is one JSON object,
and secrets in URL paths stay redacted in both formats, tracebacks included."""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from .conftest import wait_for
from .test_secrets_in_logs import SECRET, database_url, free_port

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK = f"/hooks/upstream/{uuid.uuid4()}/{SECRET}/"

LOG_AN_ERROR = f"""
import logging
try:
    raise ValueError("could not fetch {WEBHOOK}")
except ValueError:
    logging.getLogger("generations.services").exception("Webhook %s failed", "{WEBHOOK}")
"""


def run_manage(*args, **env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.mark.subprocess
def test_a_logged_exception_is_one_json_line_with_its_secrets_redacted():
    result = run_manage("shell", "--no-imports", "-c", LOG_AN_ERROR, LOG_FORMAT="json")
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "generations.services"
    assert entry["message"].startswith("Webhook /hooks/upstream/")
    assert entry["message"].endswith("/[redacted]/ failed")
    assert "Traceback" in entry["exception"] and "ValueError" in entry["exception"]
    assert "/[redacted]/" in entry["exception"]
    assert entry["time"].endswith("Z")
    assert SECRET not in result.stderr


@pytest.mark.subprocess
def test_the_plain_format_redacts_the_message_and_the_traceback_too():
    result = run_manage("shell", "--no-imports", "-c", LOG_AN_ERROR)
    assert "ERROR generations.services Webhook /hooks/upstream/" in result.stderr
    assert "Traceback" in result.stderr and "[redacted]" in result.stderr
    assert SECRET not in result.stderr
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stderr.splitlines()[0])


@pytest.mark.subprocess
@pytest.mark.django_db(transaction=True)
def test_gunicorn_and_django_write_json_lines_with_secrets_redacted(tmp_path):
    port = free_port()
    output = tmp_path / "web.log"
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(),
        "LOG_FORMAT": "json",
    }
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
        assert requests.post(f"{base}{WEBHOOK}", json={}, timeout=5).status_code == 404
        assert requests.get(f"{base}/s/{SECRET}/", timeout=5).status_code == 404

        def logged():
            # Both requests' lines (probes while booting log /healthz lines of their own).
            entries = [json.loads(line) for line in output.read_text().splitlines() if line]
            paths = {e["http"]["path"] for e in entries if e["logger"] == "gunicorn.access"}
            return {WEBHOOK.replace(SECRET, "[redacted]"), "/s/[redacted]/"} <= paths and entries

        entries = wait_for(logged)
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = output.read_text()
    assert SECRET not in text
    for line in text.splitlines():
        json.loads(line)  # every line, gunicorn's shutdown included
    access = {e["http"]["path"]: e for e in entries if e["logger"] == "gunicorn.access"}
    hook = access[WEBHOOK.replace(SECRET, "[redacted]")]
    assert hook["http"]["method"] == "POST" and hook["http"]["status"] == "404"
    assert "/s/[redacted]/" in access
    booted = [e for e in entries if e["logger"] == "gunicorn.error" and "Booting" in e["message"]]
    assert booted
    not_found = [e for e in entries if e["logger"] == "django.request"]
    assert {e["message"] for e in not_found} >= {"Not Found: /s/[redacted]/"}
