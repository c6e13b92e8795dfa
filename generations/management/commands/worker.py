import os
import signal
import threading

from django.conf import settings
from django.core.management.base import CommandError
from django.db import close_old_connections, connection
from django.utils.autoreload import run_with_reloader
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.models import DBTaskResult

from generations import lanes
from generations.tasks import LANES, apply_retention, housekeeping, reconcile_generations
from operations import capacity
from operations.heartbeat import Heartbeat

# Besides the lanes' threads: the dispatcher, the heartbeat and the schedules.
OWN_THREADS = 5


def _schedule(stop, task, every):
    """Enqueue `task` every `every` seconds, unless one is already waiting."""
    while not stop.wait(every):
        try:
            waiting = DBTaskResult.objects.ready().filter(task_path=task.module_path)
            if not waiting.exists():
                task.enqueue()
        finally:
            close_old_connections()


def lane_threads(options):
    return {
        "generations": options["threads"],
        "callbacks": options["callback_threads"],
        "upkeep": settings.BANANA_WORKER_UPKEEP_THREADS,
    }


class Command(DbWorkerCommand):
    help = (
        "Run background tasks, many at once, in lanes of threads (generations/lanes.py): "
        "sending, refreshing and storing (--threads, BANANA_WORKER_THREADS), callbacks to "
        "members' receivers (--callback-threads, BANANA_WORKER_CALLBACK_THREADS) and upkeep. "
        "Enqueue the reconciler every BANANA_RECONCILE_EVERY seconds, housekeeping every "
        "BANANA_HOUSEKEEPING_EVERY seconds and, with BANANA_RETENTION_DAYS set, the retention "
        "policy every BANANA_RETENTION_EVERY seconds; record a heartbeat every "
        "BANANA_WORKER_HEARTBEAT_EVERY seconds (read by /readyz). With --batch, run what is "
        "due one task at a time, then stop."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(interval=settings.BANANA_WORKER_INTERVAL)
        parser.add_argument(
            "--threads",
            type=int,
            default=settings.BANANA_WORKER_THREADS,
            help="Threads of the lane that sends, refreshes and stores (default: %(default)s).",
        )
        parser.add_argument(
            "--callback-threads",
            type=int,
            default=settings.BANANA_WORKER_CALLBACK_THREADS,
            help="Threads of the lane that calls members' receivers (default: %(default)s).",
        )

    def handle(self, *args, **options):
        if options["batch"]:
            return super().handle(*args, **options)
        self.configure_logging(options["verbosity"])
        try:
            worker_lanes = lanes.lanes_of(LANES, lane_threads(options))
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if options["reload"]:
            # The reloading parent only restarts its child, which serves in a thread.
            run_with_reloader(lambda: self.serve(worker_lanes, options, signals=False))
            return
        self.serve(worker_lanes, options, signals=True)

    def serve(self, worker_lanes, options, *, signals):
        threads = sum(lane.threads for lane in worker_lanes) + OWN_THREADS
        problem = capacity.connection_problem("This task worker", processes=1, threads=threads)
        connection.close()
        if problem:
            raise CommandError(problem)
        engine = lanes.LaneWorker(
            worker_lanes, worker_id=options["worker_id"], interval=options["interval"]
        )
        if signals:
            _stop_on_signals(engine)
        stop = threading.Event()
        schedule = [
            (reconcile_generations, settings.BANANA_RECONCILE_EVERY),
            (housekeeping, settings.BANANA_HOUSEKEEPING_EVERY),
        ]
        if settings.BANANA_RETENTION_DAYS > 0:
            schedule.append((apply_retention, settings.BANANA_RETENTION_EVERY))
        for task, every in schedule:
            threading.Thread(target=_schedule, args=(stop, task, every), daemon=True).start()
        heartbeat = Heartbeat(options["worker_id"]).start()
        try:
            engine.run()
        finally:
            stop.set()
            heartbeat.stop()


def _stop_on_signals(engine):
    """The first SIGTERM or Ctrl-C lets the running tasks finish; a second ends at once."""
    stopping = []

    def on_signal(signum, frame):
        if stopping:
            os._exit(1)
        stopping.append(signum)
        engine.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
