"""Tables that grow by themselves are pruned, and tasks whose worker died are recovered."""

from datetime import timedelta

import pytest
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from generations import housekeeping

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def task_result(status, *, finished_ago=None, started_ago=None, workers=1):
    return DBTaskResult.objects.create(
        status=status,
        args_kwargs={"args": [], "kwargs": {}},
        task_path="generations.tasks.reconcile_generations",
        backend_name="default",
        run_after=NOW - timedelta(days=30),
        started_at=NOW - started_ago if started_ago else None,
        finished_at=NOW - finished_ago if finished_ago else None,
        worker_ids=[f"w{i}" for i in range(workers)],
    )


def test_old_finished_results_are_pruned_and_recent_ones_and_failures_kept(settings):
    settings.BANANA_TASK_RESULTS_KEEP = 3600
    old = task_result(TaskResultStatus.SUCCESSFUL, finished_ago=timedelta(hours=2))
    recent = task_result(TaskResultStatus.SUCCESSFUL, finished_ago=timedelta(minutes=5))
    failed = task_result(TaskResultStatus.FAILED, finished_ago=timedelta(hours=2))
    old_failure = task_result(TaskResultStatus.FAILED, finished_ago=timedelta(hours=8))
    waiting = task_result(TaskResultStatus.READY)

    assert housekeeping.prune_task_results(NOW) == 2

    left = set(DBTaskResult.objects.values_list("pk", flat=True))
    assert left == {recent.pk, failed.pk, waiting.pk}
    assert old.pk not in left and old_failure.pk not in left


def test_a_task_whose_worker_died_is_requeued_then_failed_after_repeated_deaths():
    abandoned = task_result(TaskResultStatus.RUNNING, started_ago=timedelta(hours=1))
    cursed = task_result(TaskResultStatus.RUNNING, started_ago=timedelta(hours=1), workers=3)
    running = task_result(TaskResultStatus.RUNNING, started_ago=timedelta(seconds=10))

    assert housekeeping.recover_abandoned_tasks(NOW) == (1, 1)

    abandoned.refresh_from_db()
    cursed.refresh_from_db()
    running.refresh_from_db()
    assert abandoned.status == TaskResultStatus.READY
    assert abandoned.started_at is None
    assert cursed.status == TaskResultStatus.FAILED
    assert running.status == TaskResultStatus.RUNNING
    assert DBTaskResult.objects.ready().filter(pk=abandoned.pk).exists()


def test_housekeeping_runs_every_part_and_reports_counts():
    task_result(TaskResultStatus.SUCCESSFUL, finished_ago=timedelta(days=3))
    counts = housekeeping.run(NOW)
    assert counts["task_results_pruned"] == 1
    assert set(counts) == {
        "task_results_pruned",
        "tasks_requeued",
        "tasks_failed",
        "rate_counters_pruned",
    }
