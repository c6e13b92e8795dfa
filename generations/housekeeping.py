"""Keeping the database from growing without bound, and the task queue from losing work.

Run from the worker on a schedule (`tasks.housekeeping`): every table that gains rows by
itself (task results, rate counters) is pruned, and a task whose worker died while
running it is given to another worker, or failed after repeated deaths.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Func, IntegerField, Q
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from generations import ratelimit

# A task that ran longer than this lost its worker: none of ours takes a minute (the
# upstream client gives up after its timeouts and retries well before).
ABANDONED_AFTER = timedelta(minutes=15)
# A task whose workers died this often is failed rather than retried again.
MAX_WORKERS_PER_TASK = 3


def prune_task_results(now=None):
    """Drop finished task results: successes after BANANA_TASK_RESULTS_KEEP, failures
    (worth a look) after seven times as long. Returns how many went."""
    now = now or timezone.now()
    keep = timedelta(seconds=settings.BANANA_TASK_RESULTS_KEEP)
    return DBTaskResult.objects.filter(
        Q(status=TaskResultStatus.SUCCESSFUL, finished_at__lt=now - keep)
        | Q(status=TaskResultStatus.FAILED, finished_at__lt=now - 7 * keep)
    ).delete()[0]


class JsonArrayLength(Func):
    output_field = IntegerField()

    def as_sql(self, compiler, connection, **extra):
        function = (
            "jsonb_array_length" if connection.vendor == "postgresql" else "json_array_length"
        )
        return super().as_sql(compiler, connection, function=function, **extra)


def recover_abandoned_tasks(now=None):
    """Tasks left RUNNING by a worker that died: back to READY for another worker (ours
    re-read their rows and claim them, so running one twice is safe), or FAILED when
    workers keep dying on it. Returns (requeued, failed)."""
    now = now or timezone.now()
    abandoned = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=now - ABANDONED_AFTER
    ).annotate(workers=JsonArrayLength("worker_ids"))
    failed = abandoned.filter(workers__gte=MAX_WORKERS_PER_TASK).update(
        status=TaskResultStatus.FAILED,
        finished_at=now,
        exception_class_path="generations.housekeeping.AbandonedTask",
        traceback="Its worker stopped while running it, too often.",
    )
    requeued = abandoned.filter(workers__lt=MAX_WORKERS_PER_TASK).update(
        status=TaskResultStatus.READY, started_at=None
    )
    return requeued, failed


def run(now=None):
    requeued, failed = recover_abandoned_tasks(now)
    return {
        "task_results_pruned": prune_task_results(now),
        "tasks_requeued": requeued,
        "tasks_failed": failed,
        "rate_counters_pruned": ratelimit.prune(),
    }
