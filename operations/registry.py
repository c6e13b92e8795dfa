"""Where other apps plug into operations. Imports run one way: an app registers its
readiness checks and metric families here (from its `AppConfig.ready`), and the URL
converters whose values are secrets (where it registers them with Django), and operations
never imports it."""

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from prometheus_client.metrics_core import Metric

Check = Callable[[], dict[str, Any]]
MetricSource = Callable[[datetime], Iterable[Metric]]

readiness_checks: dict[str, Check] = {}
metric_sources: list[MetricSource] = []
secret_converters: set[type] = set()


def register_readiness_check(name: str, check: Check) -> None:
    """`check()` answers {"ok": bool, ...}; /readyz runs it after the database answered."""
    readiness_checks[name] = check


def register_metrics(source: MetricSource) -> None:
    """`source(now)` yields metric families read from the database at scrape time."""
    if source not in metric_sources:
        metric_sources.append(source)


def register_secret_converter(converter: type) -> None:
    """Every URL parameter this path converter matches is a secret (a token, a signature):
    operations.redaction keeps it out of every log line, on whatever route uses it."""
    secret_converters.add(converter)
