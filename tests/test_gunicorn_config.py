"""gunicorn as production runs it (gunicorn.conf.py): the cap on waiting image calls
follows its real threads, a cap that leaves pages no thread refuses to start, no
control socket is shared with every other gunicorn of the machine's user, and a tab's
kept-alive connection outlives the pause between its polls."""

import contextlib
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from emulator import Emulator, EmulatorConfig

from .conftest import TEST_KEY, wait_for
from .test_dev_runner import ROOT, free_port

pytestmark = pytest.mark.skipif(not Path("/proc").exists(), reason="runs gunicorn (Linux)")

MEMBER_WITH_A_KEY = """
from django.contrib.auth import get_user_model
from generations import credits
from generations.api import keys

member = get_user_model().objects.create_user("waiter", "waiter@example.com", "pw")
credits.grant(member, 100, reason="waiting calls")
print(keys.create_key(member, "script").secret)
"""


def environment(tmp_path, **extra):
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "HOME": str(tmp_path / "home"),
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    for name in ("PROMETHEUS_MULTIPROC_DIR", "GUNICORN_CONTROL_SOCKET", "BANANA_API_MAX_WAITING"):
        if name not in extra:
            env.pop(name, None)
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "run").mkdir(exist_ok=True)
    return env


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """One migrated database for the module; each test gets a copy (migrating is slow)."""
    path = tmp_path_factory.mktemp("migrated") / "db.sqlite3"
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": f"sqlite:///{path}"}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=ROOT, check=True)
    return path


@pytest.fixture
def migrate(migrated, tmp_path):
    def copy(env):
        shutil.copyfile(migrated, tmp_path / "db.sqlite3")

    return copy


@contextmanager
def gunicorn(env, *, threads=4, workers=1):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--graceful-timeout",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        yield process, base
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def worker(env):
    """The task worker, which sends what the calls submit."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "worker", "--no-reload"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def answers(base, process, timeout=60):
    """The health probe's answer, once gunicorn serves (None if it stopped instead)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        try:
            return requests.get(f"{base}/healthz", timeout=5)
        except requests.RequestException:  # still starting
            time.sleep(0.2)
    raise AssertionError("gunicorn neither served nor stopped")


def test_gunicorn_refuses_a_wait_cap_that_leaves_pages_no_thread(tmp_path, migrate):
    env = environment(tmp_path, BANANA_API_MAX_WAITING="8")
    migrate(env)
    with gunicorn(env, threads=8) as (process, base):
        assert answers(base, process) is None
        output = process.stdout.read()
    assert process.returncode != 0
    assert "BANANA_API_MAX_WAITING=8 leaves pages too few" in output
    assert "set it to at most 7" in output


def test_waiting_image_calls_are_capped_by_gunicorns_threads(tmp_path, migrate):
    """Four threads: two calls may wait, a third is refused at once, and pages still
    answer while two wait."""
    config = EmulatorConfig(api_key=TEST_KEY, pending_seconds=600, callback_mode="none")
    with Emulator(config, host="127.0.0.1", port=0) as upstream:
        env = environment(
            tmp_path,
            BANANA_API_BASE_URL=upstream.base_url,
            BANANA_API_KEY=TEST_KEY,
            BANANA_API_WAIT_SECONDS="30",
            BANANA_DEFAULT_MAX_IN_FLIGHT="0",
        )
        migrate(env)
        secret = subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "shell",
                "--no-imports",
                "-c",
                MEMBER_WITH_A_KEY,
            ],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        with gunicorn(env, threads=4) as (process, base), worker(env):
            assert answers(base, process).status_code == 200

            def image_call():
                return requests.post(
                    f"{base}/v1/images/generations",
                    json={"model": "google/gempix2", "prompt": "a slow banana"},
                    headers={"Authorization": f"Bearer {secret}"},
                    timeout=60,
                )

            def wait_until_stopped():
                with contextlib.suppress(requests.RequestException):  # the server stops first
                    image_call()

            waiting = [threading.Thread(target=wait_until_stopped) for _ in range(2)]
            for thread in waiting:
                thread.start()
            wait_for(lambda: upstream.submit_count == 2, timeout=30)

            third = image_call()
            page = requests.get(f"{base}/login/", timeout=10)

            assert third.status_code == 429
            assert third.json()["error"]["code"] == "server_busy"
            assert page.status_code == 200
            assert upstream.submit_count == 2  # nothing spent for the refused call
            process.send_signal(signal.SIGTERM)
            for thread in waiting:
                thread.join(60)


def test_gunicorn_shares_no_control_socket_with_the_users_other_gunicorns(tmp_path, migrate):
    env = environment(tmp_path)
    migrate(env)
    with gunicorn(env) as (process, base):
        assert answers(base, process).status_code == 200
        assert list((tmp_path / "run").iterdir()) == []
        assert not (tmp_path / "home" / ".gunicorn").exists()


def test_an_instance_may_have_a_control_socket_of_its_own(tmp_path, migrate):
    own = tmp_path / "banana.ctl"
    env = environment(tmp_path, GUNICORN_CONTROL_SOCKET=str(own))
    migrate(env)
    with gunicorn(env) as (process, base):
        assert answers(base, process).status_code == 200
        assert own.is_socket()
        assert list((tmp_path / "run").iterdir()) == []


def test_a_tabs_connection_outlives_the_pause_between_its_polls(tmp_path, migrate):
    """A page polls every 2 s on one kept-alive connection; had gunicorn closed it after
    2 s idle (its default), the next poll would meet the close and fail with a reset."""
    base_html = (ROOT / "templates" / "base.html").read_text()
    every = float(re.search(r'id="poller"[^>]*hx-trigger="every (\d+)s"', base_html)[1])
    env = environment(tmp_path)
    migrate(env)
    with gunicorn(env) as (process, base):
        assert answers(base, process).status_code == 200
        tab = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
        tab.request("GET", "/healthz")
        assert tab.getresponse().read()
        time.sleep(every + 0.5)  # a tab's pause between polls, and then some

        tab.request("GET", "/healthz")
        answer = tab.getresponse()

        assert answer.status == 200
        tab.close()
