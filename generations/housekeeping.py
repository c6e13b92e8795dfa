"""Keeping the database from growing without bound, and the task queue from losing work.

Run from the worker on a schedule (`tasks.housekeeping`): every table that gains rows by
itself is pruned after a documented lifetime (docs/operations.md), and a task whose worker
died while running it is given to another worker, or failed after repeated deaths.

- task results: successes after BANANA_TASK_RESULTS_KEEP, failures after seven times that;
- rate counters: once their window is over;
- sessions: once expired (what `manage.py clearsessions` does), with the records of
  signed-in sessions that no longer exist;
- failed sign-ins (django-axes) once their cool-off is over, the log of sign-ins after
  LOGIN_LOG_KEEP_DAYS;
- finished callback deliveries and their attempts after BANANA_CALLBACKS_KEEP_DAYS.
"""

from datetime import timedelta

from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.db.models import Func, IntegerField, Q, QuerySet
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from generations import ratelimit
from generations.accounts import members
from generations.models import CallbackAttempt, CallbackDelivery, MemberSession

# Rows are deleted this many at a time: a first run over months of rows must not hold one
# long transaction (and its locks) over the whole table.
DELETE_BATCH = 1000


def delete_in_batches(rows: QuerySet, batch: int = DELETE_BATCH) -> dict[str, int]:
    """Delete `rows` (and what cascades from them) batch by batch; counts per model label."""
    counts: dict[str, int] = {}
    while ids := list(rows.values_list("pk", flat=True)[:batch]):
        _total, deleted = rows.model.objects.filter(pk__in=ids).delete()
        for label, count in deleted.items():
            counts[label] = counts.get(label, 0) + count
    return counts


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


def prune_sessions(now=None):
    """Expired sessions leave the session store, as `manage.py clearsessions` does, and the
    records of signed-in sessions that no longer exist go too (ended by expiry or by a
    password change rather than a sign-out). Returns (sessions, records) removed; sessions
    are counted when the store is the database."""
    now = now or timezone.now()
    store = members.session_store()
    if not hasattr(store, "get_model_class"):  # cache or signed cookies: they expire by themselves
        store.clear_expired()
        old = MemberSession.objects.filter(
            created_at__lt=now - timedelta(seconds=settings.SESSION_COOKIE_AGE)
        )
        gone = [pk for pk, key in old.values_list("pk", "session_key") if not store().exists(key)]
        return 0, sum(delete_in_batches(MemberSession.objects.filter(pk__in=gone)).values())
    sessions = store.get_model_class().objects
    expired = sum(delete_in_batches(sessions.filter(expire_date__lt=now)).values())
    ended = MemberSession.objects.exclude(session_key__in=sessions.values("session_key"))
    return expired, sum(delete_in_batches(ended).values())


def prune_sign_in_records(now=None):
    """Failed sign-ins whose cool-off is over (django-axes drops them only when someone
    next signs in), and the log of sign-ins (and of failures, when it is kept) after
    LOGIN_LOG_KEEP_DAYS. Returns (failed sign-ins, log entries) removed."""
    now = now or timezone.now()
    attempts = AccessAttempt.objects.filter(attempt_time__lt=now - settings.AXES_COOLOFF_TIME)
    cutoff = now - timedelta(days=settings.LOGIN_LOG_KEEP_DAYS)
    logged = sum(
        sum(delete_in_batches(log.objects.filter(attempt_time__lt=cutoff)).values())
        for log in (AccessLog, AccessFailureLog)
    )
    return sum(delete_in_batches(attempts).values()), logged


def prune_callbacks(now=None):
    """Callback deliveries that finished (delivered, given up or cancelled) more than
    BANANA_CALLBACKS_KEEP_DAYS ago, with their attempts; one still being tried stays.
    Returns (deliveries, attempts) removed."""
    now = now or timezone.now()
    finished = CallbackDelivery.objects.exclude(state=CallbackDelivery.State.PENDING).filter(
        finished_at__lt=now - timedelta(days=settings.BANANA_CALLBACKS_KEEP_DAYS)
    )
    counts = delete_in_batches(finished)
    return (
        counts.get(CallbackDelivery._meta.label, 0),
        counts.get(CallbackAttempt._meta.label, 0),
    )


def run(now=None):
    requeued, failed = recover_abandoned_tasks(now)
    sessions, session_records = prune_sessions(now)
    failed_sign_ins, sign_in_log = prune_sign_in_records(now)
    deliveries, attempts = prune_callbacks(now)
    return {
        "task_results_pruned": prune_task_results(now),
        "tasks_requeued": requeued,
        "tasks_failed": failed,
        "rate_counters_pruned": ratelimit.prune(now=now.timestamp() if now else None),
        "sessions_pruned": sessions,
        "session_records_pruned": session_records,
        "failed_sign_ins_pruned": failed_sign_ins,
        "sign_in_log_pruned": sign_in_log,
        "callback_deliveries_pruned": deliveries,
        "callback_attempts_pruned": attempts,
    }
