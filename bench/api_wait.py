"""Waiting API calls do not starve the studio pages (issue 11).

The OpenAI-compatible image calls wait until their images are ready. They are served by
gunicorn's threaded worker (`--worker-class gthread`): a waiting call holds a thread that
blocks on a condition, without a database connection, while one watcher thread per process
looks at every waited-for generation once a second. Pages keep finding free threads as long
as waiting calls stay below `--threads` (BANANA_API_MAX_WAITING caps them).

The case: one gunicorn process with 64 threads, the emulator as upstream taking ~40 s per
image, 50 image calls waiting at once; the median latency of the studio and history pages is
compared with the same pages on the same server with nothing waiting (measured before and
after, as the machine's own load drifts).
"""

import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WAITERS = 50
THREADS = 64
PAGES = ("/", "/history/")
REPEAT = 30


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url(settings_dict):
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def _seed(user):
    """24 finished generations, as a member's studio shows them."""
    from django.utils import timezone

    from generations.models import Generation, ResultImage

    for i in range(24):
        generation = Generation.objects.create(
            owner=user,
            model="google/gempix2",
            prompt=f"A banana number {i} on a plate, studio light",
            status=Generation.Status.SUCCESS,
            finished_at=timezone.now(),
            webhook_secret_hash="x" * 64,
        )
        ResultImage.objects.create(
            generation=generation,
            position=0,
            state=ResultImage.State.STORED,
            file=f"results/{generation.pk}/0.png",
            thumbnail=f"results/{generation.pk}/0-thumb.webp",
            content_type="image/png",
            width=512,
            height=512,
            thumbnail_width=384,
            thumbnail_height=384,
        )


def _median_latency(session, base_url):
    samples = []
    for _ in range(REPEAT):
        for page in PAGES:
            start = time.perf_counter()
            response = session.get(base_url + page, timeout=30)
            samples.append(time.perf_counter() - start)
            assert response.status_code == 200, (page, response.status_code)
    return statistics.median(samples)


def _start_server(port, env):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            str(THREADS),
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",  # gunicorn's default socket path is one per user
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_until_up(base_url):
    import requests

    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(base_url + "/healthz", timeout=2).ok:
                return
        except (requests.ConnectionError, requests.Timeout):  # still starting, or busy doing so
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not start")
        time.sleep(0.2)


def bench_waiting_api_calls(results):
    import requests
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from emulator import Emulator, EmulatorConfig
    from generations import credits
    from generations.api import keys
    from generations.models import CreditAccount, Generation

    user = get_user_model().objects.create_user("waiting-bench", password="pw")
    credits.grant(user, 1000, reason="bench")
    CreditAccount.objects.filter(user=user).update(max_in_flight=0, max_per_minute=0)
    _seed(user)
    secret = keys.create_key(user, "bench").secret
    browser = Client()
    browser.force_login(user)
    session_cookie = browser.cookies["sessionid"].value

    config = EmulatorConfig(
        api_key="dk-benchemulator00",
        pending_seconds=2,
        submitted_seconds=2,
        in_progress_seconds=36,
        callback_mode="none",
        seed=1,
    )
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    logging.getLogger("emulator").setLevel(logging.WARNING)
    with Emulator(config, host="127.0.0.1", port=0) as emulator:
        env = {
            **os.environ,
            "DEBUG": "true",
            "DATABASE_URL": _database_url(connection.settings_dict),
            "BANANA_API_BASE_URL": emulator.base_url,
            "BANANA_API_KEY": config.api_key,
            "PUBLIC_BASE_URL": "",
            "TASKS_BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
            "CACHE_URL": "locmemcache://",
            "BANANA_API_WAIT_SECONDS": "90",
            "BANANA_API_WAIT_INTERVAL": "1",
            "BANANA_API_MAX_WAITING": str(WAITERS),
            "LOG_LEVEL": "WARNING",
        }
        connection.close()  # the server writes to this database from here on
        server = _start_server(port, env)
        try:
            _wait_until_up(base_url)
            pages = requests.Session()
            pages.cookies.set("sessionid", session_cookie)
            for _ in range(3):  # warm up: threads, their database connections, caches
                _median_latency(pages, base_url)
            before = _median_latency(pages, base_url)

            answers = []

            def wait_for_images(i):
                try:
                    response = requests.post(
                        base_url + "/v1/images/generations",
                        json={"model": "google/gempix2", "prompt": f"banana {i}"},
                        headers={"Authorization": f"Bearer {secret}"},
                        timeout=120,
                    )
                except requests.RequestException as exc:
                    answers.append((type(exc).__name__, 0))
                    return
                if response.headers.get("Content-Type") != "application/json":
                    answers.append((response.status_code, response.text[:300]))
                    return
                answers.append((response.status_code, len(response.json().get("data", []))))

            waiters = [threading.Thread(target=wait_for_images, args=(i,)) for i in range(WAITERS)]
            for waiter in waiters:
                waiter.start()
            made = Generation.objects.filter(owner=user, api_task__isnull=False)
            deadline = time.monotonic() + 60
            while made.count() < WAITERS:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {made.count()} image calls started: {answers}")
                time.sleep(0.2)
            connection.close()
            loaded = _median_latency(pages, base_url)
            still_waiting = sum(w.is_alive() for w in waiters)
            for waiter in waiters:
                waiter.join(120)
            after = _median_latency(pages, base_url)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    assert still_waiting == WAITERS, f"only {still_waiting} calls were waiting while measured"
    assert answers == [(200, 1)] * WAITERS, answers
    unloaded = (before + after) / 2
    print(
        f"     studio pages: {unloaded * 1000:.1f} ms alone, {loaded * 1000:.1f} ms "
        f"with {WAITERS} image calls waiting (gunicorn gthread, 1 process, {THREADS} threads)"
    )
    results.append((f"pages with {WAITERS} waiting image calls / without", loaded / unloaded, 1.5))
