"""One worker process runs many tasks at once, in lanes: a generation's network waits do
not queue behind each other, a member's slow receiver never holds up sending, refreshing
or storing, and every claim stays exactly-once with several workers on one database.

The worker's own engine runs in the test process (generations/lanes.py), against the
emulator or a fake upstream over real HTTP on loopback, on SQLite and on PostgreSQL."""

import json
import threading
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.db.models import Count
from django.tasks import task
from django.utils import timezone

from generations import credits, lanes, services
from generations.api import callbacks
from generations.background import enqueue_after_commit
from generations.models import (
    ApiTask,
    CallbackDelivery,
    CreditAccount,
    CreditLedgerEntry,
    Generation,
)

from .api_helpers import Receiver, make_key
from .conftest import TEST_KEY, make_user, wait_for
from .worker_helpers import DB_TASKS, TricklingReceiver, database, running_worker

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["database"]  # the fixture, used by name


@pytest.fixture
def db_tasks(settings):
    settings.TASKS = DB_TASKS
    settings.BANANA_DEFAULT_MAX_IN_FLIGHT = 0
    settings.BANANA_DEFAULT_MAX_PER_MINUTE = 0


class UpstreamThatWaitsForCompany:
    """A fake upstream whose submit answers only once `company` submits are open at once:
    a worker that sends one generation at a time never gets an answer from it (each
    submit then fails after its wait)."""

    def __init__(self, company):
        self.barrier = threading.Barrier(company, timeout=30)
        self.broken = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    upstream.barrier.wait()
                except threading.BrokenBarrierError:
                    upstream.broken.append(True)
                    return self._answer(500, {"code": 1, "message": "alone"})
                return self._answer(200, {"code": 0, "data": {"task_id": f"ta-{uuid.uuid4()}"}})

            def do_GET(self):
                self._answer(200, {"code": 0, "data": {"status": "pending"}})

            def _answer(self, status, payload):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def test_one_worker_sends_many_generations_at_once(database, db_tasks, member, settings):
    settings.BANANA_API_KEY = TEST_KEY
    settings.BANANA_API_MAX_RETRIES = 0
    with UpstreamThatWaitsForCompany(8) as upstream:
        settings.BANANA_API_BASE_URL = upstream.url
        jobs = [
            services.create_job(member, count=4, model="google/gempix2", prompt=f"job {n}")
            for n in range(2)
        ]
        with running_worker(threads=8):
            wait_for(
                lambda: not Generation.objects.filter(status__in=["queued", "sending"]).exists(),
                timeout=60,
            )

    assert upstream.broken == []
    sent = Generation.objects.filter(pk__in=[g.pk for job in jobs for g in job])
    assert sorted(sent.values_list("status", flat=True)) == ["pending"] * 8


def failed_generation_with_callback(member, url, key=None):
    """A generation of `member` made with a key, settled (failed), whose callback goes to
    `url`; its delivery is started as a settled generation's is."""
    key = key or make_key(member, f"key-{uuid.uuid4().hex[:6]}")[0]
    generation = Generation.objects.create(
        owner=member,
        model="google/gempix2",
        prompt="called back",
        status=Generation.Status.FAILED,
        error_message="refused",
        finished_at=timezone.now(),
        webhook_secret_hash="x" * 64,
    )
    ApiTask.objects.create(
        generation=generation,
        key=key,
        key_name=key.name,
        month=credits.month_start(timezone.localdate()),
        callback_url=url,
    )
    callbacks.generation_settled(generation.pk)
    return CallbackDelivery.objects.get(generation=generation)


def test_a_trickling_receiver_is_cut_off_at_the_deadline(database, db_tasks, member, settings):
    settings.BANANA_CALLBACK_DEADLINE = 1.0
    with TricklingReceiver(every=0.2) as receiver:
        delivery = failed_generation_with_callback(member, receiver.url)

        delay = callbacks.deliver(str(delivery.pk), 1)

        assert receiver.accepted == 1
    assert delay == callbacks.RETRY_DELAYS[0]  # tried again later, like any failure
    attempt = delivery.attempt_log.get()
    assert attempt.status_code is None
    assert attempt.error == "No answer within 1 seconds."
    delivery.refresh_from_db()
    assert delivery.state == CallbackDelivery.State.PENDING


def test_a_slow_receiver_does_not_hold_up_sending(database, db_tasks, member, emulator, settings):
    settings.BANANA_CALLBACK_DEADLINE = 120.0
    with TricklingReceiver(every=0.5) as receiver:
        failed_generation_with_callback(member, receiver.url)
        with running_worker(threads=2, callback_threads=2):
            wait_for(lambda: receiver.open == 1, timeout=30)  # the delivery runs…

            generation = services.create_generation(member, model="google/gempix2", prompt="x")

            # … and the generation is sent meanwhile, by the same worker process.
            wait_for(lambda: Generation.objects.get(pk=generation.pk).status == "pending", 30)
            assert receiver.open == 1
            receiver.hurry()  # lets the delivery end, so the worker can stop
    assert emulator.submit_count == 1


def test_one_members_receivers_get_a_bounded_share_of_the_lane(
    database, db_tasks, member, teammate, settings
):
    settings.BANANA_CALLBACK_DEADLINE = 120.0
    settings.BANANA_CALLBACKS_PER_MEMBER = 1
    with TricklingReceiver(every=0.5) as slow, Receiver() as quick:
        key, _secret = make_key(member)
        first = failed_generation_with_callback(member, slow.url, key)
        second = failed_generation_with_callback(member, slow.url, key)
        with running_worker(callback_threads=3):
            wait_for(lambda: slow.open == 1, timeout=30)
            theirs = failed_generation_with_callback(teammate, quick.url)

            wait_for(lambda: quick.received.is_set(), timeout=30)
            waiting = CallbackDelivery.objects.filter(pk__in=[first.pk, second.pk])
            # The member's second delivery waits its turn, unattempted, a thread being free.
            assert sorted(waiting.values_list("attempts", flat=True)) == [0, 1]
            assert slow.most_open == 1
            slow.hurry()
            wait_for(lambda: not waiting.filter(state="pending").exists(), timeout=30)

    theirs.refresh_from_db()
    assert theirs.state == CallbackDelivery.State.DELIVERED
    assert set(waiting.values_list("state", flat=True)) == {"delivered"}
    assert slow.accepted == 2
    assert slow.most_open == 1


def test_two_workers_with_every_task_enqueued_thrice_send_and_settle_each_once(
    database, db_tasks, settings, emulator
):
    """Claims are exactly-once whatever the number of processes and threads: two workers
    (as two processes would) each run a pool of threads, every send is enqueued three
    times, and every generation's webhook comes three times."""
    settings.BANANA_POLL_INTERVAL = 0  # only a refresh in flight keeps a second one away
    members = [make_user(f"racer{i}") for i in range(3)]
    for member in members:
        credits.grant(member, 10, reason="race")
    made = []
    for member in members:
        for n in range(4):
            generation = services.create_generation(
                member, model="google/gempix2", prompt=f"race {n}"
            )
            made.append(generation.pk)
            for _ in range(2):  # and twice more
                enqueue_after_commit("send_generation", generation_id=str(generation.pk))

    with running_worker(threads=4, worker_id="one"), running_worker(threads=4, worker_id="two"):
        wait_for(
            lambda: not Generation.objects.filter(status__in=["queued", "sending"]).exists(),
            timeout=60,
        )
        for pk in made:
            for _ in range(3):
                enqueue_after_commit("refresh_after_webhook", generation_id=str(pk))
        wait_for(
            lambda: (
                Generation.objects.filter(pk__in=made, status="success").count() == len(made)
                and not Generation.objects.filter(results__state="waiting").exists()
            ),
            timeout=60,
        )

    assert emulator.submit_count == len(made)
    for generation in Generation.objects.filter(pk__in=made):
        assert emulator.query_count(generation.upstream_task_id) == 1
        assert generation.results.get().state == "stored"
    outcomes = (
        CreditLedgerEntry.objects.filter(generation_id__in=made)
        .values("generation_id", "kind")
        .annotate(n=Count("id"))
    )
    assert {(row["kind"], row["n"]) for row in outcomes} == {("hold", 1), ("settle", 1)}
    assert len(outcomes) == 2 * len(made)
    for member in members:
        account = CreditAccount.objects.get(user=member)
        assert (account.balance, account.held) == (10 - 4 * Decimal("0.5"), 0)


def test_every_task_runs_in_exactly_one_lane():
    """A task in no lane would wait in the queue for ever (a password-reset mail did)."""
    from django.tasks import Task

    from generations import tasks

    defined = {value.module_path for value in vars(tasks).values() if isinstance(value, Task)}
    in_lanes = [task.module_path for lane in tasks.LANES.values() for task in lane]
    assert sorted(in_lanes) == sorted(defined)


LOGGED_AT_START = []


@task
def note_the_threads_logged_queries():
    LOGGED_AT_START.append(len(connection.queries_log))
    Generation.objects.exists()


def test_a_worker_thread_keeps_no_log_of_earlier_tasks_queries(database, settings):
    """With DEBUG, Django logs every query on the thread's connection until a request
    starts; a worker's threads never see one, and grew by thousands of queries each."""
    settings.DEBUG = True
    settings.TASKS = DB_TASKS
    LOGGED_AT_START.clear()
    for _ in range(3):
        note_the_threads_logged_queries.enqueue()
    lane = lanes.Lane("test", (note_the_threads_logged_queries.module_path,), threads=1)
    engine = lanes.LaneWorker([lane], worker_id="test-log", interval=0.05)
    runner = threading.Thread(target=engine.run)
    runner.start()
    try:
        wait_for(lambda: len(LOGGED_AT_START) == 3)
    finally:
        engine.stop()
        runner.join(60)

    assert LOGGED_AT_START[1] == LOGGED_AT_START[2] == LOGGED_AT_START[0]
