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
    from django.test import Client
    from django.utils import timezone

    from generations.models import Generation

    user = bench_owner()

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
    statuses = "/g/status/"
    baseline = timed(lambda: client.get(statuses, {"watch": f"{finished.pk}:in_progress"}))
    poll = timed(lambda: client.get(statuses, {"watch": f"{running.pk}:{running.poll_token}"}))
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


def bench_thumbnail_serving(results):
    """A thumbnail through its signed URL (no database query, streamed by Django) costs
    less than twice what WhiteNoise serving a static file costs. The permission-checked
    route pays for the session, the user and one query (the ORM's work, mostly): a guard
    against it growing, and the reason pages use signed URLs."""
    import tempfile

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.test import Client
    from django.utils import timezone
    from PIL import Image

    from generations import storage
    from generations.models import Generation, ResultImage

    media = tempfile.TemporaryDirectory(prefix="bench-media-")
    settings.MEDIA_ROOT = media.name
    user = get_user_model().objects.create_user("thumbs", password="pw")
    generation = Generation.objects.create(
        owner=user,
        model="google/gempix2",
        prompt="bench",
        status=Generation.Status.SUCCESS,
        finished_at=timezone.now(),
        webhook_secret_hash="x" * 64,
    )
    buffer = io.BytesIO()
    Image.effect_noise((384, 384), 64).convert("RGB").save(buffer, "WEBP", quality=80)
    result = ResultImage(
        generation=generation, position=0, state=ResultImage.State.STORED, content_type="image/png"
    )
    result.file.save("bench.png", ContentFile(buffer.getvalue()), save=False)
    result.thumbnail.save("bench-thumb.webp", ContentFile(buffer.getvalue()), save=False)
    result.save()
    client = Client()
    client.force_login(user)
    signed = storage.signed_url(result.thumbnail.name)
    route = f"/g/{generation.pk}/images/0/thumbnail/"

    def get(url):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        b"".join(response.streaming_content)

    get("/static/css/studio.css")
    baseline = timed(lambda: get("/static/css/studio.css"), repeat=200)
    signed_time = timed(lambda: get(signed), repeat=200)
    route_time = timed(lambda: get(route), repeat=200)
    media.cleanup()
    results.append(("signed thumbnail / static file", signed_time / baseline, 2.0))
    results.append(("checked thumbnail route / static file", route_time / baseline, 15.0))


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
                       webhook_secret_hash, credit_state, over_hold, outcome_unknown,
                       created_at)
                   SELECT gen_random_uuid(), %s, 'google/gempix2',
                       (SELECT string_agg(
                                   substr(md5((floor(random() * 3000) + w * 0 + i * 0)::text),
                                          1, 5),
                                   ' ')
                          FROM generate_series(1, 100) AS w),
                       '', '', 'team', 'success', 'success', '', '', '', false, false,
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


def bench_studio_first_load(results):
    """The studio's first load stays small: its stylesheet and scripts (htmx included),
    gzipped as a server sends them, against a budget of 100 KB. Read from what the studio
    page itself links, so a new file counts without anyone adding it here."""
    import gzip
    import re

    from django.contrib.auth import get_user_model
    from django.contrib.staticfiles import finders
    from django.test import Client

    user = get_user_model().objects.create_user("firstload", password="pw")
    client = Client()
    client.force_login(user)
    html = client.get("/").text
    paths = re.findall(r'<(?:script|link)[^>]+(?:src|href)="/static/([^"]+\.(?:js|css))"', html)
    total = 0
    for path in paths:
        with open(finders.find(path), "rb") as fh:
            size = len(gzip.compress(fh.read(), compresslevel=9))
        print(f"     {path}: {size / 1024:.1f} KB gzipped")
        total += size
    budget = 100 * 1024
    print(f"     studio first load: {total / 1024:.1f} KB of {budget / 1024:.0f} KB")
    results.append(("studio JS + CSS gzipped / 100 KB", total / budget, 1.0))


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
        bench_studio_first_load(results)
        bench_status_poll(results)
        bench_image_processing(results)
        bench_fetch_memory(results)
        bench_thumbnail_serving(results)
        bench_search_and_paging(results)
        bench_waiting_api_calls(results)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    return print_results(results)


def print_results(results):
    """Each figure beside its goal; 1 when a goal is missed. A result is (name, value, goal)
    or (name, value, goal, ">=") for figures where more is better."""
    failed = False
    for name, value, goal, *direction in results:
        op = direction[0] if direction else "<="
        ok = value <= goal if op == "<=" else value >= goal
        failed |= not ok
        print(f"{'ok  ' if ok else 'MISS'} {name}: {value:.2f} (goal {op} {goal})")
    return 1 if failed else 0


def bench_owner():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get_or_create(username="bench")[0]


if __name__ == "__main__":
    sys.exit(main())
