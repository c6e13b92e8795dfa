"""Background work enqueued after commit, by task name.

The domain modules start work that `tasks.py` runs, and `tasks.py` calls back into them;
naming the task here (as Celery's `send_task` does) keeps the imports one-way.
"""

from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string


def enqueue_after_commit(task_name: str, **kwargs: Any) -> None:
    """Enqueue `generations.tasks.<task_name>` once the current transaction commits (at
    once outside one): a task must never find a row that is not there yet."""
    task = import_string(f"generations.tasks.{task_name}")
    transaction.on_commit(lambda: task.enqueue(**kwargs))


def enqueue_later(task_name: str, delay: timedelta, **kwargs: Any) -> None:
    """Enqueue `generations.tasks.<task_name>` to run `delay` from now, once the current
    transaction commits."""
    task = import_string(f"generations.tasks.{task_name}")
    transaction.on_commit(lambda: task.using(run_after=timezone.now() + delay).enqueue(**kwargs))


def enqueue(task_name: str, **kwargs: Any) -> None:
    """Enqueue `generations.tasks.<task_name>` at once, for work that needs no row the
    caller is writing (a password-reset mail: an address is all it takes)."""
    import_string(f"generations.tasks.{task_name}").enqueue(**kwargs)


def release_connection() -> None:
    """Give this thread's database connection back before a wait on the network (the
    upstream, a download, a member's receiver). With PostgreSQL's pool it goes back to the
    pool, so a worker's many waiting threads share a few connections; otherwise it is
    closed and the next query opens one. Inside a transaction it is kept: its rows are
    visible to it alone (and no transaction is ever held across a network call anyway)."""
    if not connection.in_atomic_block:
        connection.close()
