"""The Procfile, run as a platform would run it (honcho, a Foreman clone): the release
step migrates, web and worker start, the web answers /healthz and /readyz (ready only
once the worker's heartbeat is in: the worker runs), /metrics adds up every gunicorn
worker, and stopping honcho leaves no process behind."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from .conftest import wait_for
from .test_dev_runner import ROOT, alive, children_of, free_port

TOKEN = "metrics-" + "p" * 24
BIN = Path(sys.executable).parent
HONCHO = shutil.which("honcho", path=str(BIN)) or shutil.which("honcho")

pytestmark = [
    pytest.mark.skipif(not Path("/proc").exists(), reason="walks /proc to find processes"),
    pytest.mark.skipif(HONCHO is None, reason="honcho is in the dev group of uv.lock"),
]


def test_procfile_lines():
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    assert set(lines) == {"web", "worker", "release"}
    assert lines["web"].split()[:3] == ["gunicorn", "-c", "gunicorn.conf.py"]
    assert lines["worker"].split() == ["python", "manage.py", "worker"]
    assert lines["release"].split() == ["python", "manage.py", "migrate", "--noinput"]


def requests_answered(base, method="GET", status="2xx"):
    text = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "banana_http_requests_total" and sample.labels == {
                "method": method,
                "status": status,
            }:
                return sample.value
    return 0


@pytest.mark.subprocess
def test_release_web_and_worker_run_under_honcho_and_stop_together(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DEBUG": "true",  # development defaults: no production secrets needed here
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "METRICS_TOKEN": TOKEN,
        "WEB_CONCURRENCY": "2",  # gunicorn's workers
        "BANANA_WORKER_HEARTBEAT_EVERY": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    honcho = [HONCHO, "--procfile", str(ROOT / "Procfile"), "--app-root", str(ROOT)]

    release = subprocess.run(
        [*honcho, "start", "release"], env=env, capture_output=True, text=True, timeout=120
    )
    assert release.returncode == 0, release.stdout
    assert "Applying operations.0001_initial... OK" in release.stdout

    log = (tmp_path / "honcho.log").open("w")
    runner = subprocess.Popen(
        [*honcho, "start", "--port", str(port), "web", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def answers(path):
            assert runner.poll() is None, (tmp_path / "honcho.log").read_text()
            try:
                return requests.get(f"{base}{path}", timeout=5)
            except requests.RequestException:  # not up yet, or busy starting
                return None

        health = wait_for(lambda: answers("/healthz"), timeout=60)
        assert (health.status_code, health.text) == (200, "ok")
        ready = wait_for(lambda: (r := answers("/readyz")) is not None and r.ok and r, 60)
        assert ready.json()["checks"]["worker"]["ok"] is True

        # Every gunicorn worker's requests are counted, whichever worker is scraped.
        before = requests_answered(base)
        for _ in range(40):
            assert requests.get(f"{base}/healthz", timeout=5).ok
        assert requests_answered(base) == before + 1 + 40  # the first scrape counts too

        spawned = children_of(runner.pid)
        assert len(spawned) >= 4  # gunicorn's master and two workers, and the worker
    finally:
        runner.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            runner.wait(timeout=30)
        finally:
            if runner.poll() is None:
                runner.kill()
            log.close()
    wait_for(lambda: not any(alive(pid) for pid in spawned), timeout=30)
