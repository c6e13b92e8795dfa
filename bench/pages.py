"""Pages over real HTTP, as ratios against a bare Django view (L1: login required, one
primary-key SELECT, a 20-line fragment) served by the same gunicorn and database.

    python -m bench.pages          (make bench runs it after the in-process figures)

It migrates a throwaway database (SQLite in a temporary folder, or the PostgreSQL database
BENCH_DATABASE_URL names, which it EMPTIES first), starts the emulator, gunicorn (bench.settings:
the app plus L1) and a task worker on free loopback ports, loads each page with a bounded
number of client threads for a few seconds, and prints each figure beside its goal.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
THREADS = 6
SECONDS = 2.0
# Cards per gallery page while benchmarking: no more than the small gallery has, so the
# gallery over 10 and over 10,000 generations shows the same number of cards and that
# figure measures what the table's size costs, not what two pages' sizes do.
PAGE_SIZE = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except (requests.ConnectionError, requests.Timeout):  # still starting, or busy doing so
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def throughput(url, cookie, *, params=None, seconds=SECONDS, threads=THREADS):
    """Requests per second that `threads` clients get answered (status < 400) in `seconds`;
    with cookie None, as a visitor without a session."""
    done, failed = [], []
    stop = time.monotonic() + seconds

    def client():
        session = requests.Session()
        if cookie is not None:
            session.cookies.set("sessionid", cookie)
        count = 0
        while time.monotonic() < stop:
            response = session.get(url, params=params, timeout=30, allow_redirects=False)
            if response.status_code >= 400:
                failed.append(response.status_code)
            count += 1
        done.append(count)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failed:
        raise RuntimeError(f"{url}: {len(failed)} failed answers, e.g. {failed[0]}")
    return sum(done) / seconds


def best_of(measure, rounds=3):
    return max(measure() for _ in range(rounds))


def in_turns(first, second, rounds=3):
    """The best rate of each of two loads, measured in turns: other work on the machine
    that comes or goes during the run weighs on both alike, not on one figure."""
    a, b = [], []
    for _ in range(rounds):
        a.append(first())
        b.append(second())
    return max(a), max(b)


class Stack:
    """The emulator, gunicorn and a worker, on a throwaway database."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.processes = {}
        self.web_port, self.api_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DEBUG": "true",
            "MEDIA_ROOT": str(workdir / "media"),
            "BANANA_API_BASE_URL": f"http://127.0.0.1:{self.api_port}",
            "PUBLIC_BASE_URL": "",
            # The bench's running generations have tasks the emulator never made.
            "BANANA_NOT_FOUND_GRACE": "86400",
            "LOG_LEVEL": "WARNING",
            "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
            "BANANA_GALLERY_PAGE_SIZE": str(PAGE_SIZE),
        }
        self.env["DATABASE_URL"] = os.environ.get(
            "BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.sqlite3'}"
        )
        os.environ.update(self.env)

    @property
    def base(self):
        return f"http://127.0.0.1:{self.web_port}"

    def start(self, name, command):
        self.processes[name] = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / f"{name}.log", "w"),  # noqa: SIM115
            start_new_session=True,
        )

    def start_emulator(self, latency=0.0):
        self.stop("emulator")
        self.start(
            "emulator",
            [
                sys.executable,
                "-m",
                "emulator",
                "--port",
                str(self.api_port),
                "--latency-seconds",
                str(latency),
                "--pending-seconds",
                "3600",
                "-q",
            ],
        )
        wait_until_up(f"http://127.0.0.1:{self.api_port}/")

    def start_web(self):
        self.start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "gunicorn.conf.py",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "/dev/null",
            ],
        )
        self.start("worker", [sys.executable, "manage.py", "worker", "--interval", "0.2"])
        wait_until_up(f"{self.base}/healthz")

    def stop(self, name):
        process = self.processes.pop(name, None)
        if process is not None:
            os.killpg(process.pid, 15)
            process.wait(timeout=20)

    def stop_all(self):
        for name in list(self.processes):
            self.stop(name)


def prepare_database(env):
    subprocess.run(
        [sys.executable, "manage.py", "flush", "--no-input"], cwd=ROOT, env=env, check=False
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True
    )


def make_data(count):
    """Finished generations with real thumbnails, newest first, `count` in all."""
    import io

    from django.core.files.base import ContentFile
    from django.utils import timezone
    from PIL import Image

    from generations.models import Generation, ResultImage

    from .__main__ import bench_owner

    owner = bench_owner()
    now = timezone.now()
    buffer = io.BytesIO()
    Image.new("RGB", (384, 384), "orange").save(buffer, "WEBP")
    thumb = buffer.getvalue()
    rows = [
        Generation(
            owner=owner,
            model="google/gempix2",
            prompt=f"A banana number {n} dancing on the moon",
            status="success",
            visibility="team",
            finished_at=now,
            created_at=now - timezone.timedelta(seconds=n),
        )
        for n in range(count)
    ]
    Generation.objects.bulk_create(rows, batch_size=2000)
    first = rows[0]
    result = ResultImage(
        generation=first,
        position=0,
        state=ResultImage.State.STORED,
        content_type="image/webp",
        width=384,
        height=384,
        thumbnail_width=384,
        thumbnail_height=384,
    )
    result.file.save("r.webp", ContentFile(thumb), save=False)
    result.thumbnail.save("t.webp", ContentFile(thumb), save=False)
    result.save()
    ResultImage.objects.bulk_create(
        ResultImage(
            generation=g,
            position=0,
            state=ResultImage.State.STORED,
            file=result.file.name,
            thumbnail=result.thumbnail.name,
            content_type="image/webp",
            width=384,
            height=384,
            thumbnail_width=384,
            thumbnail_height=384,
        )
        for g in rows[1:]
    )
    from django.db import connection

    if connection.vendor == "postgresql":
        # What autovacuum does within a minute of such a load in production: without
        # statistics the planner takes 10,000 fresh rows for one and sorts them all.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return rows


def login_cookie(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def in_flight(owner, n):
    from generations.models import Generation

    return [
        Generation.objects.create(
            owner=owner,
            model="google/gempix2",
            prompt="running",
            status="in_progress",
            upstream_task_id=f"ta-bench-{time.monotonic_ns()}-{i}",
        )
        for i in range(n)
    ]


def polls_per_interval(stack, cookie, cards):
    """How many status requests one open studio tab sends per 2-second interval."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not Path(chromium).exists():
        return None
    seen = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context()
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": stack.base}])
        page = context.new_page()
        page.on("request", lambda r: seen.append(r.url) if "/g/status/" in r.url else None)
        page.goto(f"{stack.base}/")
        shown = page.locator("[data-poll-id]").count()
        if shown != cards:
            raise RuntimeError(f"the studio shows {shown} cards in flight, not {cards}")
        seen.clear()
        page.wait_for_timeout(8_000)  # four intervals of the page's own timer
        browser.close()
    return len(seen) / 4


def main():
    import django

    from .__main__ import print_results

    results = []
    workdir = Path(tempfile.mkdtemp(prefix="banana-bench-"))
    stack = Stack(workdir)
    try:
        prepare_database(stack.env)
        django.setup()
        from django.urls import reverse

        from generations import galleries, sharing
        from generations.models import CreditAccount

        from .__main__ import bench_owner

        rows = make_data(10)
        owner = bench_owner()
        account, _ = CreditAccount.objects.get_or_create(user=owner)
        cookie = login_cookie(owner)
        link = sharing.create_share_link(owner, generation=rows[0])
        running = in_flight(owner, 1)
        stack.start_emulator()
        stack.start_web()
        base = stack.base

        def load(path, visitor=cookie, **params):
            return lambda: throughput(base + path, visitor, params=params or None)

        l1 = load(f"/bench/l1/{account.pk}/")

        def against_l1(page):
            baseline, rate = in_turns(l1, page)
            return rate / baseline

        print(f"L1, the baseline: {best_of(l1):.0f} req/s ({THREADS} clients, best of 3 rounds)")
        watch = f"{running[0].pk}:{running[0].poll_token}"
        done = f"{rows[0].pk}:in_progress"
        gallery = load(reverse("gallery"))
        figures = [
            ("in-flight poll", load(reverse("generation_statuses"), watch=watch), 0.6),
            ("finished poll", load(reverse("generation_statuses"), watch=done), 0.6),
            ("studio page", load(reverse("home")), 0.3),
            ("gallery page", gallery, 0.3),
            ("thumbnail", load(reverse("result_thumbnail", args=[rows[0].pk, 0])), 0.8),
            # Share links are for people outside the team: no session.
            ("share page", load(reverse("share_page", args=[link.token]), visitor=None), 0.5),
        ]
        ratios = {}
        for name, page, goal in figures:
            ratios[name] = against_l1(page)
            results.append((f"{name} / L1 (req/s, higher is better)", ratios[name], goal, ">="))
        # Each client thread is one browser: its requests.Session keeps the visitor cookie the
        # share page sets, so only a thread's first load counts (and writes) a view.
        link.refresh_from_db()
        print(f"share page: {link.view_count} views counted (one per client thread and round)")

        more = make_data(10_000)
        small, large = ratios["gallery page"], against_l1(gallery)
        results.append(("gallery time at 10k / at 10 generations", small / large, 1.2, "<="))
        deep = galleries.cursor_of(more[300 * PAGE_SIZE])
        first, far = in_turns(gallery, load(reverse("gallery"), after=deep))
        results.append(("gallery time, 300th page / first", first / far, 1.2, "<="))

        def mixed():
            poller = threading.Thread(
                target=throughput,
                args=(base + reverse("generation_statuses"), cookie),
                kwargs={"params": {"watch": watch}, "threads": 2},
            )
            poller.start()
            pages = throughput(base + reverse("home"), cookie, threads=4)
            poller.join()
            return pages

        def mixed_with_upstream_taking(latency):
            def measure():
                stack.start_emulator(latency=latency)
                return mixed()

            return measure

        # The pollers and the pages share the machine's cores, and how they share them moves
        # from one round to the next: the two latencies are measured in turns, after a
        # round that warms both up.
        mixed()
        quick, slow = in_turns(mixed_with_upstream_taking(0.0), mixed_with_upstream_taking(1.0))
        results.append(("studio pages with a 1 s upstream / with none", slow / quick, 0.8, ">="))

        # Fresh in-flight cards, newer than everything else: the studio shows them first.
        for cards, new in ((1, 1), (8, 7)):
            in_flight(owner, new)
            per_interval = polls_per_interval(stack, cookie, cards)
            if per_interval is None:
                print("skip requests per tab: Playwright or Chromium is missing")
                continue
            name = f"status requests per tab per interval, {cards} in flight"
            results.append((name, per_interval, 1.0, "<="))
    finally:
        stack.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    return print_results(results)


if __name__ == "__main__":
    sys.exit(main())
