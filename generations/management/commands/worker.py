import threading

from django.conf import settings
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.models import DBTaskResult

from generations.tasks import reconcile_generations


def _schedule_reconciler(stop, every):
    """Enqueue the reconciler every `every` seconds, unless one is already waiting."""
    while not stop.wait(every):
        waiting = DBTaskResult.objects.ready().filter(task_path=reconcile_generations.module_path)
        if not waiting.exists():
            reconcile_generations.enqueue()


class Command(DbWorkerCommand):
    help = "Run background tasks, and the reconciler every BANANA_RECONCILE_EVERY seconds."

    def handle(self, *args, **options):
        stop = threading.Event()
        scheduler = threading.Thread(
            target=_schedule_reconciler,
            args=(stop, settings.BANANA_RECONCILE_EVERY),
            daemon=True,
        )
        scheduler.start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()
