"""Where a page's time goes, in process: CPU per request, Python calls per request (which,
unlike times, do not move with the machine's load) and the queries, for L1 and each page.

    python -m bench.profile [l1|studio|gallery|share|thumbnail|poll|in-flight ...] [--cprofile PAGE]

It migrates a throwaway SQLite database, makes the bench.pages data (10 finished
generations, one in flight, a share link) and asks for each page with Django's test client
as the bench's member (the share page without a session, as bench.pages does).
"""

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROUNDS, REQUESTS = 3, 100


def setup(workdir):
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{workdir / 'profile.sqlite3'}",
            "MEDIA_ROOT": str(workdir / "media"),
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            "PUBLIC_BASE_URL": "",
            "LOG_LEVEL": "WARNING",
        }
    )
    (workdir / "metrics").mkdir()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, check=True
    )
    import django

    django.setup()


def pages():
    from django.test import Client
    from django.urls import reverse

    from generations import sharing
    from generations.models import CreditAccount

    from .__main__ import bench_owner
    from .pages import in_flight, make_data

    rows = make_data(10)
    owner = bench_owner()
    account, _ = CreditAccount.objects.get_or_create(user=owner)
    link = sharing.create_share_link(owner, generation=rows[0])
    running = in_flight(owner, 1)
    member = Client()
    member.force_login(owner)
    return {
        "l1": (member, f"/bench/l1/{account.pk}/"),
        "studio": (member, reverse("home")),
        "gallery": (member, reverse("gallery")),
        "share": (Client(), reverse("share_page", args=[link.token])),
        "thumbnail": (member, reverse("result_thumbnail", args=[rows[0].pk, 0])),
        "poll": (member, f"{reverse('generation_statuses')}?watch={rows[0].pk}:in_progress"),
        "in-flight": (
            member,
            f"{reverse('generation_statuses')}?watch={running[0].pk}:{running[0].poll_token}",
        ),
    }


def measure(client, url):
    from django.db import connection

    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    for _ in range(10):
        assert client.get(url).status_code == 200, url
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.process_time()
        for _ in range(REQUESTS):
            client.get(url)
        best = min(best, (time.process_time() - start) / REQUESTS)
    profile = cProfile.Profile()
    with connection.execute_wrapper(count):
        profile.runcall(client.get, url)
    return best, pstats.Stats(profile).total_calls, len(queries)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "pages",
        nargs="*",
        default=["l1", "studio", "gallery", "share", "thumbnail", "poll", "in-flight"],
    )
    parser.add_argument("--cprofile", metavar="PAGE", help="print the 40 costliest functions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="banana-profile-") as workdir:
        setup(Path(workdir))
        known = pages()
        for name in args.pages:
            cpu, calls, queries = measure(*known[name])
            print(f"{name:9} {cpu * 1000:6.2f} ms CPU  {calls:7,} calls  {queries:2} queries")
        if args.cprofile:
            client, url = known[args.cprofile]
            profile = cProfile.Profile()
            for _ in range(50):
                profile.runcall(client.get, url)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
