"""Memory across 1,000 jobs: does any process keep what it no longer needs?

    python -m bench.memory [JOBS]      (make bench-memory; BENCH_DATABASE_URL=postgres://…
                                        to use PostgreSQL, whose database it EMPTIES first)

The production-like stack of bench/burst.py (gunicorn with 2 processes, one task worker,
the emulator calling back); 1,000 jobs are submitted through the provider-shaped API in
rounds of 50 and each round is waited for until its images are stored. After each round
the resident memory of the worker and of each gunicorn worker is read. Memory is flat
when the growth over the last half of the run is small beside the first round's
footprint; the figure reported is the growth from round 2 to the last, per process.
"""

import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from .burst import Stack, members
from .pages import prepare_database

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banana_site.settings")

ROUND = 50


def resident(stack):
    """MB resident per process: the task worker, and each gunicorn worker (not the master)."""
    import psutil

    sizes = {}
    worker = psutil.Process(stack.processes["worker"].pid)
    sizes["worker"] = worker.memory_info().rss / 2**20
    master = psutil.Process(stack.processes["web"].pid)
    for n, child in enumerate(sorted(master.children(), key=lambda p: p.pid)):
        sizes[f"web {n + 1}"] = child.memory_info().rss / 2**20
    return sizes


def main(argv=None):
    import django

    args = argv or sys.argv[1:]
    jobs = int(args[0]) if args else 1000
    workdir = Path(tempfile.mkdtemp(prefix="banana-memory-"))
    stack = Stack(
        workdir,
        latency=0.0,
        pending_seconds=0.2,
        submitted_seconds=0.2,
        in_progress_seconds=0.2,
    )
    try:
        prepare_database(stack.env)
        django.setup()
        from django.db import connection

        from generations.api import keys
        from generations.models import Generation

        user, _cookie = members(1, "memory")[0]
        secret = keys.create_key(user, "memory").secret
        connection.close()
        stack.start()
        rounds = []
        done = 0
        while done < jobs:

            def submit(n):
                answer = requests.post(
                    f"{stack.base}/api/image/gen",
                    json={"model": "google/gempix2", "prompt": f"memory {n}"},
                    headers={"Authorization": f"Bearer {secret}"},
                    timeout=120,
                )
                assert answer.status_code == 200, answer.text

            threads = [threading.Thread(target=submit, args=(done + n,)) for n in range(ROUND)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            done += ROUND
            deadline = time.time() + 300
            while time.time() < deadline:
                unsettled = Generation.objects.exclude(status__in=["success", "failed"]).count()
                waiting = Generation.objects.filter(results__state="waiting").count()
                if not unsettled and not waiting:
                    break
                time.sleep(0.5)
            connection.close()
            rounds.append((done, resident(stack)))
            print(
                f"{done:>5} jobs: "
                + ", ".join(f"{name} {size:.0f} MB" for name, size in rounds[-1][1].items()),
                flush=True,
            )
        stored = Generation.objects.filter(status="success").count()
        connection.close()
        after, first = rounds[min(1, len(rounds) - 1)]
        last = rounds[-1][1]
        print(f"{stored} of {done} jobs stored")
        for name, size in last.items():
            start = first.get(name, float("nan"))
            print(
                f"{name}: {start:.0f} MB after {after} jobs, {size:.0f} MB after {done} "
                f"({size - start:+.0f} MB)"
            )
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
