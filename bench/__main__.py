"""Benchmarks, as ratios against a baseline measured in the same process.

    python -m bench            (or: make bench)

Each case prints its ratio and its target; the exit status is 1 when a target is missed.
Absolute times vary from machine to machine; ratios against a baseline run in the same
process on the same machine do not (much).
"""

import io
import os
import statistics
import sys
import threading
import time
import tracemalloc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "banana_site.settings")


def timed(fn, repeat=30):
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def bench_status_poll(results):
    """A poll that finds the upstream not due (coalesced) costs about what rendering a
    finished card costs: the coalescing UPDATE is the only extra work."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from generations.models import Generation

    user = get_user_model().objects.create_user("bench", password="pw")

    def make(status, **extra):
        return Generation.objects.create(
            owner=user,
            model="google/gempix2",
            prompt="bench",
            status=status,
            webhook_secret_hash="x" * 64,
            **extra,
        )

    finished = make(Generation.Status.FAILED, finished_at=timezone.now())
    running = make(
        Generation.Status.IN_PROGRESS,
        upstream_task_id="ta-bench",
        last_checked_at=timezone.now() + timezone.timedelta(days=1),
    )
    client = Client()
    client.force_login(user)
    client.get("/")
    baseline = timed(lambda: client.get(f"/g/{finished.pk}/status/"))
    poll = timed(lambda: client.get(f"/g/{running.pk}/status/"))
    results.append(("coalesced poll / final card render", poll / baseline, 1.5))


def bench_image_processing(results):
    """Our safe pipeline (verify, pixel limit, re-encode without metadata, thumbnail) costs
    little more than the naive one: open, save, thumbnail."""
    from PIL import Image

    from generations.images import process_image

    buffer = io.BytesIO()
    Image.effect_noise((1024, 1024), 64).convert("RGB").save(buffer, "PNG")
    data = buffer.getvalue()

    def naive():
        with Image.open(io.BytesIO(data)) as img:
            img.save(io.BytesIO(), "PNG")
            img.thumbnail((384, 384))
            img.save(io.BytesIO(), "WEBP", quality=80)

    baseline = timed(naive, repeat=5)
    processed = timed(lambda: process_image(data), repeat=5)
    results.append(("process_image / naive pipeline", processed / baseline, 1.5))


def bench_fetch_memory(results):
    """Downloading streams: peak memory stays near the body size, not a multiple of it."""
    from generations.fetch import FetchPolicy, fetch

    body = os.urandom(8 * 1024 * 1024)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            for i in range(0, len(body), 65536):
                self.wfile.write(body[i : i + 65536])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    policy = FetchPolicy(require_https=False, allow_private=True, max_bytes=len(body) * 2)
    url = f"http://127.0.0.1:{server.server_port}/x.png"
    tracemalloc.start()
    fetched = fetch(url, policy)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    server.shutdown()
    assert len(fetched) == len(body)
    results.append(("fetch peak memory / body size", peak / len(body), 3.0))


def bench_search_and_paging(results):
    """Search goes through an index and paging through keysets: searching 100k
    generations costs about what searching 1k does, and the last page of the gallery what
    the first does. PostgreSQL only (production's database): DATABASE_URL=postgres://…"""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client

    from generations import galleries
    from generations.models import Generation

    if connection.vendor != "postgresql":
        print("skip search and paging: set DATABASE_URL to a PostgreSQL database to run them")
        return
    user = get_user_model().objects.create_user("searcher", password="pw")
    client = Client()
    client.force_login(user)

    def add_generations(count):
        # ~600-character prompts of 100 words each from a 3,000-word vocabulary, newest
        # first in steps of a second, as a team's history grows.
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO generations_generation (id, owner_id, model, prompt, aspect_ratio,
                       image_size, visibility, status, upstream_status, error_message,
                       webhook_secret_hash, credit_state, over_hold, created_at)
                   SELECT gen_random_uuid(), %s, 'google/gempix2',
                       (SELECT string_agg(
                                   substr(md5((floor(random() * 3000) + w * 0 + i * 0)::text),
                                          1, 5),
                                   ' ')
                          FROM generate_series(1, 100) AS w),
                       '', '', 'team', 'success', 'success', '', '', '', false,
                       now() - make_interval(secs => i)
                   FROM generate_series(1, %s) AS i""",
                [user.pk, count],
            )
            cursor.execute("ANALYZE generations_generation")

    def search():
        assert client.get("/gallery/", {"q": "zzzqqq"}).status_code == 200

    add_generations(1_000)
    small = timed(search, repeat=20)
    add_generations(99_000)
    large = timed(search, repeat=20)
    results.append(("search at 100k / at 1k generations", large / small, 2.0))

    first = timed(lambda: client.get("/gallery/"), repeat=20)
    oldest = Generation.objects.order_by("created_at", "pk")
    last_cursor = galleries.cursor_of(oldest[settings_page_size()])
    last = timed(lambda: client.get("/gallery/", {"after": last_cursor}), repeat=20)
    results.append(("gallery last page / first page (100k)", last / first, 1.2))


def settings_page_size():
    from django.conf import settings

    return settings.BANANA_GALLERY_PAGE_SIZE


def main():
    import django
    from django.test.utils import setup_test_environment

    os.environ.setdefault("DEBUG", "true")
    django.setup()
    setup_test_environment()
    from django.db import connection

    from bench.api_wait import bench_waiting_api_calls

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    results = []
    try:
        bench_status_poll(results)
        bench_image_processing(results)
        bench_fetch_memory(results)
        bench_search_and_paging(results)
        bench_waiting_api_calls(results)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    failed = False
    for name, ratio, target in results:
        ok = ratio <= target
        failed |= not ok
        print(f"{'ok  ' if ok else 'MISS'} {name}: {ratio:.2f} (target <= {target})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
