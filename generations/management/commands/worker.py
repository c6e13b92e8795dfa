import os
import threading

from django.conf import settings
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.models import DBTaskResult

from generations.tasks import apply_retention, housekeeping, reconcile_generations
from operations.heartbeat import Heartbeat


def _schedule(stop, task, every):
    """Enqueue `task` every `every` seconds, unless one is already waiting."""
    while not stop.wait(every):
        waiting = DBTaskResult.objects.ready().filter(task_path=task.module_path)
        if not waiting.exists():
            task.enqueue()


def _runs_tasks_here(options):
    """False in the parent of an autoreloading worker, which only restarts its child."""
    reloading = options.get("reload") and not options.get("batch")
    return not reloading or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true"


class Command(DbWorkerCommand):
    help = (
        "Run background tasks, the reconciler every BANANA_RECONCILE_EVERY seconds, "
        "housekeeping every BANANA_HOUSEKEEPING_EVERY seconds and, with "
        "BANANA_RETENTION_DAYS set, the retention policy every BANANA_RETENTION_EVERY seconds; "
        "record a heartbeat every BANANA_WORKER_HEARTBEAT_EVERY seconds (read by /readyz)."
    )

    def handle(self, *args, **options):
        stop = threading.Event()
        schedule = [
            (reconcile_generations, settings.BANANA_RECONCILE_EVERY),
            (housekeeping, settings.BANANA_HOUSEKEEPING_EVERY),
        ]
        if settings.BANANA_RETENTION_DAYS > 0:
            schedule.append((apply_retention, settings.BANANA_RETENTION_EVERY))
        for task, every in schedule:
            threading.Thread(target=_schedule, args=(stop, task, every), daemon=True).start()
        heartbeat = None
        if _runs_tasks_here(options):
            heartbeat = Heartbeat(options["worker_id"]).start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
            if heartbeat is not None:
                heartbeat.stop()
