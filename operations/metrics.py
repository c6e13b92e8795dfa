"""/metrics in the Prometheus text format.

Two kinds of numbers:

- HTTP requests, counted by a middleware in each web process. Under gunicorn, several
  worker processes answer requests, and a scrape reaches one of them; per-process counters
  would show that process's share only. So gunicorn.conf.py points prometheus_client's
  multiprocess mode at one directory (PROMETHEUS_MULTIPROC_DIR): each process writes its
  counts to its own memory-mapped file there, and a scrape adds up every file, including
  those of workers that have since exited (counters never go backwards). Without that
  variable (runserver, tests) the counts are this process's own.
- Everything else is read from the database at scrape time (one GROUP BY or SUM each),
  so it is the same whichever process answers, and needs no counting anywhere else:
  generations by status, failed generations, the team key's state, the task queue,
  credits spent, live workers.
"""

import logging
import os
import time

from django.db import DatabaseError
from django.db.models import Count, Min
from django.tasks import TaskResultStatus
from django.utils import timezone

# prometheus_client picks its value store when first imported: the directory must exist.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

from operations import registry
from operations.heartbeat import last_seen, live_workers

logger = logging.getLogger(__name__)

# No *_created series: they double the output and multiprocess mode has none anyway.
disable_created_metrics()

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# Not registered anywhere at import: each scrape builds its own registry (below).
HTTP_REQUESTS = Counter(
    "banana_http_requests",
    "HTTP requests answered, by method and status class (2xx, 3xx, 4xx, 5xx).",
    ["method", "status"],
    registry=None,
)
HTTP_LATENCY = Histogram(
    "banana_http_request_duration_seconds",
    "Seconds from a request's arrival until its response was ready to send "
    "(a streamed body's sending is not included).",
    buckets=LATENCY_BUCKETS,
    registry=None,
)


def multiprocess_dir():
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class RequestMetricsMiddleware:
    """First in MIDDLEWARE, so it times and counts every answer, redirects and refusals
    by the other middleware included."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        start = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        HTTP_REQUESTS.labels(method, f"{response.status_code // 100}xx").inc()
        HTTP_LATENCY.observe(time.perf_counter() - start)
        return response


class DatabaseCollector:
    """Numbers read from the database when scraped. If the database does not answer,
    banana_database_up is 0 and the rest is left out (the scrape itself still works)."""

    def collect(self):
        try:
            families = list(_database_families())
        except DatabaseError as exc:
            logger.warning("Metrics: the database did not answer: %s", type(exc).__name__)
            families = []
        up = GaugeMetricFamily(
            "banana_database_up", "1 if the database answered this scrape's queries."
        )
        up.add_metric([], 1 if families else 0)
        yield up
        yield from families


def _database_families():
    now = timezone.now()
    for source in registry.metric_sources:
        yield from source(now)
    yield from _task_queue_families(now)
    workers = GaugeMetricFamily(
        "banana_workers_alive",
        "Task workers whose heartbeat is recent (within BANANA_WORKER_STALE_AFTER).",
    )
    workers.add_metric([], live_workers(now).count())
    yield workers
    seen = last_seen()
    if seen is not None:
        age = GaugeMetricFamily(
            "banana_worker_last_seen_age_seconds", "Seconds since any task worker's heartbeat."
        )
        age.add_metric([], max(0.0, (now - seen).total_seconds()))
        yield age


def _task_queue_families(now):
    from django_tasks_db.models import DBTaskResult

    counts = dict.fromkeys((TaskResultStatus.READY, TaskResultStatus.RUNNING), 0)
    rows = (
        DBTaskResult.objects.filter(status__in=list(counts))
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
    )
    counts.update({row["status"]: row["n"] for row in rows})
    queue = GaugeMetricFamily(
        "banana_task_queue",
        "Background tasks waiting to run (ready, including those scheduled for later) and "
        "running now.",
        labels=["state"],
    )
    queue.add_metric(["ready"], counts[TaskResultStatus.READY])
    queue.add_metric(["running"], counts[TaskResultStatus.RUNNING])
    yield queue
    oldest = DBTaskResult.objects.ready().aggregate(oldest=Min("enqueued_at"))["oldest"]
    age = GaugeMetricFamily(
        "banana_task_queue_oldest_ready_age_seconds",
        "Seconds the oldest task that could run now has waited (0 when none waits).",
    )
    age.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
    yield age


def render():
    """The whole exposition for one scrape."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(HTTP_REQUESTS)
        registry.register(HTTP_LATENCY)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
