"""Tables that grow by themselves are pruned, and tasks whose worker died are recovered."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.tasks import TaskResultStatus
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from generations import housekeeping
from generations.models import (
    CallbackAttempt,
    CallbackDelivery,
    Generation,
    MemberSession,
)

from .api_helpers import make_key
from .conftest import make_user

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
        "sessions_pruned",
        "session_records_pruned",
        "failed_sign_ins_pruned",
        "sign_in_log_pruned",
        "callback_deliveries_pruned",
        "callback_attempts_pruned",
    }


# --- Issue 21, finding 12: tables that only grew -------------------------------------------


def signed_in_session(user):
    """A real sign-in: a session in the store and its record (MemberSession)."""
    client = Client()
    assert (
        client.post(reverse("login"), {"username": user.username, "password": "pw"}).status_code
        == 302
    )
    return client.session.session_key


def test_expired_sessions_and_the_records_of_ended_ones_are_pruned_live_ones_stay():
    mina, tae = make_user("mina"), make_user("tae")
    expired, live = signed_in_session(mina), signed_in_session(tae)
    Session.objects.filter(session_key=expired).update(expire_date=NOW - timedelta(seconds=1))
    anonymous = SessionStore()
    anonymous["language"] = "ko"
    anonymous.set_expiry(-3600)  # a visitor's old session, no record of it
    anonymous.save()
    orphan = MemberSession.objects.create(user=tae, session_key="gone" * 8)

    assert housekeeping.prune_sessions(NOW) == (2, 2)

    assert list(Session.objects.values_list("session_key", flat=True)) == [live]
    assert list(MemberSession.objects.values_list("session_key", flat=True)) == [live]
    assert orphan.session_key not in set(
        MemberSession.objects.values_list("session_key", flat=True)
    )


def test_with_cached_sessions_only_the_records_of_vanished_ones_are_pruned(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cache"
    mina = make_user("mina")
    live = signed_in_session(mina)
    MemberSession.objects.filter(session_key=live).update(created_at=NOW - timedelta(days=30))
    MemberSession.objects.create(
        user=mina, session_key="gone" * 8, created_at=NOW - timedelta(days=30)
    )
    MemberSession.objects.create(user=mina, session_key="new-" * 8)  # too young to ask

    assert housekeeping.prune_sessions(NOW) == (0, 1)

    assert set(MemberSession.objects.values_list("session_key", flat=True)) == {live, "new-" * 8}


def test_failed_sign_ins_go_after_their_cool_off_the_sign_in_log_after_its_days(settings):
    settings.LOGIN_LOG_KEEP_DAYS = 90
    cool_off = settings.AXES_COOLOFF_TIME
    fields = {"user_agent": "ua", "ip_address": "192.0.2.1", "http_accept": "*/*", "path_info": "/"}
    attempts = {"get_data": "", "post_data": "", **fields}
    for username, age in [
        ("old", cool_off + timedelta(seconds=1)),
        ("locked", timedelta(minutes=1)),
    ]:
        AccessAttempt.objects.create(username=username, failures_since_start=5, **attempts)
        AccessAttempt.objects.filter(username=username).update(attempt_time=NOW - age)
    for username, days in [("old", 91), ("recent", 89)]:
        AccessLog.objects.create(username=username, **fields)
        AccessLog.objects.filter(username=username).update(attempt_time=NOW - timedelta(days=days))

    assert housekeeping.prune_sign_in_records(NOW) == (1, 1)

    assert list(AccessAttempt.objects.values_list("username", flat=True)) == ["locked"]
    assert list(AccessLog.objects.values_list("username", flat=True)) == ["recent"]


def delivery(key, state, finished_days_ago=None, attempts=2):
    generation = Generation.objects.create(owner=key.user, model="google/gempix2", prompt="p")
    finished = NOW - timedelta(days=finished_days_ago) if finished_days_ago is not None else None
    row = CallbackDelivery.objects.create(
        generation=generation,
        key=key,
        url="https://example.com/hook",
        body="{}",
        state=state,
        attempts=attempts,
        created_at=NOW - timedelta(days=40),
        finished_at=finished,
    )
    for number in range(1, attempts + 1):
        CallbackAttempt.objects.create(delivery=row, number=number, status_code=500)
    return row


def test_finished_callback_deliveries_go_after_their_days_with_their_attempts(settings):
    settings.BANANA_CALLBACKS_KEEP_DAYS = 30
    key, _secret = make_key(make_user("mina"))
    State = CallbackDelivery.State
    old = [
        delivery(key, State.DELIVERED, 31),
        delivery(key, State.FAILED, 45),
        delivery(key, State.CANCELLED, 31, attempts=0),
    ]
    kept = [delivery(key, State.DELIVERED, 29), delivery(key, State.PENDING)]

    assert housekeeping.prune_callbacks(NOW) == (3, 4)

    assert set(CallbackDelivery.objects.values_list("pk", flat=True)) == {d.pk for d in kept}
    assert CallbackAttempt.objects.count() == 4
    assert Generation.objects.count() == len(old) + len(kept)  # the generations stay


def test_a_large_backlog_is_deleted_in_batches(settings, monkeypatch):
    monkeypatch.setattr(housekeeping, "DELETE_BATCH", 2)
    make_user("mina")
    for n in range(5):
        store = SessionStore()
        store["n"] = n
        store.set_expiry(-3600)
        store.save()

    assert housekeeping.prune_sessions(NOW)[0] == 5
    assert not Session.objects.exists()
