"""What generations tells operations: the readiness of the team's upstream key, and the
metrics read from the generations and the ledger at scrape time (registered in
`GenerationsConfig.ready`, operations/registry.py)."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q, Sum
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from generations.models import CreditLedgerEntry, Generation, UpstreamHealth


def check_upstream_key() -> dict[str, Any]:
    health = UpstreamHealth.objects.filter(pk=1).values("key_rejected_since").first()
    since = health and health["key_rejected_since"]
    if since:
        return {
            "ok": False,
            "rejected_since": since.isoformat(),
            "detail": "the upstream rejects the team's API key",
        }
    return {"ok": True}


def metric_families(now: datetime) -> Iterator[Metric]:
    by_status = dict.fromkeys(Generation.Status.values, 0)
    rows = Generation.objects.order_by().values("status").annotate(n=Count("pk"))
    by_status.update({row["status"]: row["n"] for row in rows})
    generations = GaugeMetricFamily(
        "banana_generations",
        "Generations in each status (all of them, deleted too).",
        labels=["status"],
    )
    for status, n in sorted(by_status.items()):
        generations.add_metric([status], n)
    yield generations

    failed = Generation.objects.filter(status=Generation.Status.FAILED).aggregate(
        submit=Count("pk", filter=Q(upstream_task_id__isnull=True)),
        task=Count("pk", filter=Q(upstream_task_id__isnull=False)),
    )
    failures = CounterMetricFamily(
        "banana_generation_failures",
        "Failed generations, counted in the database at scrape time. stage=submit: the "
        "upstream never took the task (it refused the submit, or never confirmed it); "
        "stage=task: the upstream had the task and it failed, or its result could not be "
        "downloaded.",
        labels=["stage"],
    )
    failures.add_metric(["submit"], failed["submit"])
    failures.add_metric(["task"], failed["task"])
    yield failures

    health = UpstreamHealth.objects.filter(pk=1).values("key_rejected_since").first()
    rejected_since = health and health["key_rejected_since"]
    rejected = GaugeMetricFamily(
        "banana_upstream_key_rejected",
        "1 while the upstream rejects the team's API key (since its last 401/403, until a "
        "call succeeds).",
    )
    rejected.add_metric([], 1 if rejected_since else 0)
    yield rejected
    if rejected_since:
        since = GaugeMetricFamily(
            "banana_upstream_key_rejected_since_seconds",
            "When the upstream started rejecting the team's API key (Unix time).",
        )
        since.add_metric([], rejected_since.timestamp())
        yield since

    spent = CreditLedgerEntry.objects.filter(kind=CreditLedgerEntry.Kind.SETTLE).aggregate(
        total=Sum(F("amount") + F("held_delta"))
    )["total"]
    credits = CounterMetricFamily(
        "banana_credits_spent",
        "Credits charged by settled generations, all members, since the ledger began.",
    )
    credits.add_metric([], float(-(spent or 0)))
    yield credits
