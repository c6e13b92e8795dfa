"""Error reports reach Sentry (here: a loopback server standing in for it, speaking HTTP as
Sentry's ingest does) without the upstream key or any secret from a URL."""

import gzip
import json
import os
import subprocess
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from .conftest import wait_for
from .test_dev_runner import free_port

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "dk-" + "k" * 29
SECRET = "S3cr3t-" + "w" * 36
WEBHOOK = f"/hooks/upstream/{uuid.uuid4()}/{SECRET}/"


class SentryReceiver:
    """Keeps every envelope POSTed to it, decompressed, and answers 200 as Sentry does."""

    def __init__(self):
        self.envelopes = []
        self.paths = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "br":  # Sentry's client prefers it when Brotli is installed
                    import brotli

                    body = brotli.decompress(body)
                receiver.paths.append(self.path)
                receiver.envelopes.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://public@127.0.0.1:{self.server.server_address[1]}/1"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def events(self):
        """The error events among the envelopes' items."""
        events = []
        for envelope in self.envelopes:
            lines = [line for line in envelope.split(b"\n") if line.strip()]
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    events.append(json.loads(payload))
        return events

    def everything(self):
        return b"\n".join(self.envelopes).decode()


@pytest.fixture
def sentry():
    receiver = SentryReceiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def environment(sentry, **extra):
    return {
        **os.environ,
        "DEBUG": "true",
        "SENTRY_DSN": sentry.dsn,
        "BANANA_API_KEY": API_KEY,
        **extra,
    }


LOG_AN_UPSTREAM_ERROR = f"""
import logging
from django.conf import settings


def call_upstream(value, url):
    headers = {{"Authorization": "Bearer " + value}}
    raise RuntimeError("the upstream refused " + value + " for " + url)


try:
    call_upstream(settings.BANANA_API_KEY, "{WEBHOOK}")
except RuntimeError:
    logging.getLogger("generations.upstream").exception(
        "Call with %s for %s failed", settings.BANANA_API_KEY, "{WEBHOOK}"
    )
"""


@pytest.mark.subprocess
def test_an_error_event_arrives_without_the_api_key_or_the_webhook_secret(sentry):
    subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", LOG_AN_UPSTREAM_ERROR],
        cwd=ROOT,
        env=environment(sentry),
        capture_output=True,
        check=True,
        timeout=60,
    )  # Sentry's client sends what is queued before the process exits.

    [event] = sentry.events()
    assert sentry.paths == ["/api/1/envelope/"]
    assert event["logger"] == "generations.upstream"
    assert event["level"] == "error"
    assert event["environment"] == "development"
    [exception] = event["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    redacted_webhook = WEBHOOK.replace(SECRET, "[redacted]")
    assert exception["value"] == f"the upstream refused [redacted] for {redacted_webhook}"
    # The frame's local variables are sent (that is what makes a report useful)...
    frame = exception["stacktrace"]["frames"][-1]
    assert frame["function"] == "call_upstream"
    assert frame["vars"]["url"].strip("'") == redacted_webhook
    assert frame["vars"]["value"].strip("'") == "[redacted]"
    assert frame["vars"]["headers"] == {"Authorization": "[redacted]"}
    # ...and the key and the secret are in none of them, nor anywhere else.
    everything = sentry.everything()
    assert API_KEY not in everything
    assert SECRET not in everything
    assert "user" not in event  # no personal data


@pytest.mark.subprocess
@pytest.mark.skipif(not Path("/proc").exists(), reason="Linux process model")
def test_a_server_error_in_a_web_request_arrives_with_its_url_redacted(sentry, tmp_path):
    """A real 500: the web process's database is down when the upstream's webhook comes."""
    port, closed = free_port(), free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=environment(sentry, DATABASE_URL=f"postgres://banana@127.0.0.1:{closed}/banana"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def up():
            try:
                return requests.get(f"{base}/healthz", timeout=10).ok
            except requests.RequestException:  # not up yet, or busy starting
                return False

        wait_for(up, timeout=30)
        body = {"task_id": "ta-1", "note": "a private prompt"}
        response = requests.post(f"{base}{WEBHOOK}", json=body, timeout=10)
        assert response.status_code == 500
        [event] = wait_for(sentry.events, timeout=15)
    finally:
        server.terminate()
        server.wait(timeout=10)

    assert event["request"]["url"] == f"{base}{WEBHOOK.replace(SECRET, '[redacted]')}"
    assert event["request"]["method"] == "POST"
    assert not event["request"].get("data")  # request bodies stay here
    assert event["exception"]["values"][-1]["type"] == "OperationalError"
    everything = sentry.everything()
    assert SECRET not in everything
    assert API_KEY not in everything
    assert "a private prompt" not in everything
