"""PostgreSQL's connections cannot run out: a gunicorn worker opens at most its pool's size
whatever its threads, and a gunicorn or a task worker that could open more than the server
has room for refuses to start, saying why. (PostgreSQL only: SQLite has no connection
limit.)"""

import os
import signal
import subprocess
import sys
import threading

import pytest
import requests
from django.db import connection

from operations import capacity

from .conftest import wait_for
from .test_dev_runner import ROOT, free_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only: set DATABASE_URL=postgres://… to run it")
    return connection.settings_dict


def database_url(settings_dict):
    user = settings_dict.get("USER") or "postgres"
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


def server_connections():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def pool_of(env):
    """The pool a process with this environment would use (None: one connection per
    thread)."""
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DATABASES['default']['OPTIONS'].get('pool'))",
        ],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "banana_site.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout.strip()


def test_gunicorns_workers_pool_their_connections(postgresql):
    url = database_url(postgresql)
    under_gunicorn = pool_of({"DATABASE_URL": url, "BANANA_WEB_THREADS": "64"})
    assert "'max_size': 8" in under_gunicorn
    assert pool_of({"DATABASE_URL": url}) == "None"  # commands, tests: one per thread


def test_forty_threads_of_one_gunicorn_worker_share_its_pool(postgresql, tmp_path):
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(postgresql),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    port = free_port()
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "40",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{base}/healthz"), timeout=60)
        before = server_connections()
        errors, peak = [], []

        def probe():
            try:
                for _ in range(5):
                    requests.get(f"{base}/readyz", timeout=30)  # each reads the database
            except requests.RequestException as exc:
                errors.append(repr(exc))

        threads = [threading.Thread(target=probe) for _ in range(40)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            peak.append(server_connections())
            threads[0].join(0.02)
    finally:
        gunicorn.send_signal(signal.SIGTERM)
        gunicorn.wait(30)

    assert errors == []
    assert max(peak) - before <= 8


def answers(url):
    try:
        return requests.get(url, timeout=5).ok
    except requests.RequestException:
        return False


def test_a_process_group_that_could_run_out_is_named(postgresql):
    assert capacity.connection_problem("the worker", processes=1, threads=8) is None

    problem = capacity.connection_problem("gunicorn", processes=1000, threads=64)

    # Here (no pool: one connection per thread) 64 per process.
    assert problem.startswith("gunicorn may open 64000 database connections (1000 process(es)")
    assert "max_connections" in problem


def test_a_task_worker_that_could_run_out_refuses_to_start(postgresql):
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(postgresql),
        "DB_POOL_SIZE": "0",  # no pool: one connection per thread
    }
    ran = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "worker", "--no-reload", "--threads", "2000"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert ran.returncode != 0
    assert "This task worker may open 2010 database connections" in ran.stderr


def test_gunicorn_that_could_run_out_refuses_to_start(postgresql, tmp_path):
    env = {
        **os.environ,
        "DEBUG": "true",
        "DATABASE_URL": database_url(postgresql),
        "DB_POOL_SIZE": "200",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    gunicorn = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{free_port()}",
            "--workers",
            "2",
            "--threads",
            "150",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = gunicorn.communicate(timeout=120)
    finally:
        if gunicorn.poll() is None:
            gunicorn.send_signal(signal.SIGTERM)
            gunicorn.wait(30)

    assert gunicorn.returncode != 0
    assert "gunicorn may open 300 database connections (2 process(es) x 150)" in output
