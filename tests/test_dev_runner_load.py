"""`make run` serves with gunicorn: a burst of 50 submits at once, from a logged-in member
against the emulator, gets 50 answers and no refused connection; pages come gzipped and
static files are served (WhiteNoise, DEBUG)."""

import os
import signal
import subprocess
import sys
import threading

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from .conftest import wait_for
from .test_dev_runner import ROOT, alive, children_of, free_port, wait_until_up

BURST = 50
TOKEN = "metrics-" + "d" * 24

# A member with credits, logged in the way Django's test client does it: the session's
# key is all the burst needs (the log-in page is not what this test is about).
LOGGED_IN_MEMBER = """
from django.contrib.auth import get_user_model
from django.test import Client
from generations import credits

member = get_user_model().objects.create_user("racer", "racer@example.com", "pw")
credits.grant(member, 100, reason="burst test")
client = Client()
client.force_login(member)
print(client.cookies["sessionid"].value)
"""


@pytest.mark.subprocess
@pytest.mark.skipif(not os.path.exists("/proc"), reason="walks /proc to find child processes")
def test_rundev_answers_a_burst_of_fifty_submits_without_dropping_one(tmp_path):
    web, api = free_port(), free_port()
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "BANANA_API_BASE_URL": f"http://127.0.0.1:{api}",
        # Only the burst's answers are under test, not the per-member limits.
        "BANANA_DEFAULT_MAX_IN_FLIGHT": "0",
        "BANANA_DEFAULT_MAX_PER_MINUTE": "0",
        "METRICS_TOKEN": TOKEN,
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    session_key = subprocess.run(
        [*manage, "shell", "--no-imports", "-c", LOGGED_IN_MEMBER],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    runner = subprocess.Popen(
        [*manage, "rundev", "--addr", f"127.0.0.1:{web}"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{web}"
    try:
        wait_until_up(f"{base}/login/", runner)
        wait_until_up(f"http://127.0.0.1:{api}/api/task/query?task_id=x", runner)
        home = requests.get(f"{base}/", cookies={"sessionid": session_key}, timeout=10)
        assert home.status_code == 200 and not home.history  # logged in: no login redirect
        assert home.headers["Content-Encoding"] == "gzip"  # requests decompressed it
        csrf = home.cookies["csrftoken"]
        css = requests.get(f"{base}/static/css/studio.css", timeout=10)
        assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")

        barrier = threading.Barrier(BURST)
        answers, errors = [None] * BURST, []

        def submit(i):
            barrier.wait()
            try:
                answers[i] = requests.post(
                    f"{base}/generate/",
                    data={"prompt": f"banana {i}", "model": "google/gempix2"},
                    cookies={"sessionid": session_key, "csrftoken": csrf},
                    headers={"X-CSRFToken": csrf, "HX-Request": "true"},
                    timeout=60,
                )
            except requests.RequestException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(BURST)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)

        assert errors == []
        assert [answer.status_code for answer in answers] == [200] * BURST
        assert all("banana" in answer.text for answer in answers)

        def generations():
            text = requests.get(
                f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
            ).text
            for family in text_string_to_metric_families(text):
                if family.name == "banana_generations":
                    return sum(sample.value for sample in family.samples)
            return None

        assert generations() == BURST  # each answer is a generation recorded

        spawned = children_of(runner.pid)
        runner.send_signal(signal.SIGINT)
        assert runner.wait(timeout=30) is not None
        wait_for(lambda: not any(alive(pid) for pid in spawned))
    finally:
        if runner.poll() is None:
            runner.kill()
