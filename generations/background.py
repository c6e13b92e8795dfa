"""Background work enqueued after commit, by task name.

The domain modules start work that `tasks.py` runs, and `tasks.py` calls back into them;
naming the task here (as Celery's `send_task` does) keeps the imports one-way.
"""

from typing import Any

from django.db import transaction
from django.utils.module_loading import import_string


def enqueue_after_commit(task_name: str, **kwargs: Any) -> None:
    """Enqueue `generations.tasks.<task_name>` once the current transaction commits (at
    once outside one): a task must never find a row that is not there yet."""
    task = import_string(f"generations.tasks.{task_name}")
    transaction.on_commit(lambda: task.enqueue(**kwargs))


def enqueue(task_name: str, **kwargs: Any) -> None:
    """Enqueue `generations.tasks.<task_name>` at once, for work that needs no row the
    caller is writing (a password-reset mail: an address is all it takes)."""
    import_string(f"generations.tasks.{task_name}").enqueue(**kwargs)
