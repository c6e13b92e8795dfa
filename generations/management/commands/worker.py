import threading

from django.conf import settings
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.models import DBTaskResult

from generations.tasks import apply_retention, housekeeping, reconcile_generations


def _schedule(stop, task, every):
    """Enqueue `task` every `every` seconds, unless one is already waiting."""
    while not stop.wait(every):
        waiting = DBTaskResult.objects.ready().filter(task_path=task.module_path)
        if not waiting.exists():
            task.enqueue()


class Command(DbWorkerCommand):
    help = (
        "Run background tasks, the reconciler every BANANA_RECONCILE_EVERY seconds, "
        "housekeeping every BANANA_HOUSEKEEPING_EVERY seconds and, with "
        "BANANA_RETENTION_DAYS set, the retention policy every BANANA_RETENTION_EVERY seconds."
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
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
