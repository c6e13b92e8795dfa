"""PostgreSQL's connections cannot run out: each process opens at most its pool's size
whatever its threads, and a gunicorn or a task worker that could open more than the server
has room for refuses to start, saying why. (PostgreSQL only: SQLite has no connection
limit.)"""

import os
import signal
import subprocess
import sys
import threading

import pytest
from django.conf import settings
from django.db import connection, connections

from operations import capacity

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


def test_the_default_configuration_pools_connections(postgresql):
    pool = settings.DATABASES["default"]["OPTIONS"]["pool"]
    assert pool["max_size"] == settings.DB_POOL_SIZE == 8
    assert settings.DATABASES["default"]["CONN_MAX_AGE"] == 0


def test_forty_threads_of_one_process_share_its_pool(postgresql):
    before = server_connections()
    barrier = threading.Barrier(40, timeout=60)
    errors = []

    def query():
        try:
            barrier.wait()
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_sleep(0.05)")
        except Exception as exc:  # collected: the assertion below names it
            errors.append(repr(exc))
        finally:
            connections["default"].close()

    threads = [threading.Thread(target=query) for _ in range(40)]
    peak = []
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        peak.append(server_connections())
        threads[0].join(0.02)
    for thread in threads:
        thread.join()

    assert errors == []
    assert max(peak) - before <= settings.DB_POOL_SIZE


def test_a_process_group_that_could_run_out_is_named(postgresql):
    assert capacity.connection_problem("gunicorn", processes=2, threads=64) is None

    problem = capacity.connection_problem("gunicorn", processes=1000, threads=64)

    assert problem.startswith("gunicorn may open 8000 database connections (1000 process(es)")
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
