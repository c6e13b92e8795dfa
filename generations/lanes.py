"""The task worker's engine: lanes of threads over django-tasks-db's database queue.

One worker process runs many tasks at once. Each lane (`generations.tasks.LANES`) has a
pool of threads of its own, and one dispatcher thread claims ready tasks for a lane only
while that lane has a free thread: a task waiting on the network holds one thread, never
the lane, and a slow lane never holds up another. Within a lane, tasks are claimed in the
lane's order of precedence, then oldest first.

Every thread has its own database connection (Django's are per thread), given back after
each task. Claims are django-tasks-db's (`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL,
an exclusive transaction on SQLite), and every task re-reads its rows and decides with a
conditional UPDATE, so any number of these processes and threads may run side by side.

A task enqueued by this process (a store after a refresh) wakes the dispatcher at once;
one enqueued elsewhere (a submit in a web process) is seen within `interval` seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.db import close_old_connections, connection, reset_queries
from django.db.models import Case, IntegerField, Value, When
from django.db.utils import OperationalError
from django.tasks.signals import task_enqueued
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lane:
    name: str
    # Task paths (`Task.module_path`), in order of precedence.
    task_paths: tuple[str, ...]
    threads: int


def lanes_of(tasks_by_lane: dict[str, Sequence[Any]], threads: dict[str, int]) -> list[Lane]:
    """Lanes from `generations.tasks.LANES` and each lane's number of threads."""
    lanes = []
    for name, tasks in tasks_by_lane.items():
        if threads[name] < 1:
            raise ValueError(f"The {name} lane needs at least one thread.")
        lanes.append(Lane(name, tuple(task.module_path for task in tasks), threads[name]))
    return lanes


class LaneWorker:
    """Runs until `stop()`; `run()` returns once the tasks it started have finished."""

    def __init__(
        self,
        lanes: Sequence[Lane],
        *,
        worker_id: str,
        backend_name: str = "default",
        interval: float = 0.25,
    ) -> None:
        self.lanes = list(lanes)
        self.worker_id = worker_id
        self.backend_name = backend_name
        self.interval = interval
        self._free = {lane.name: lane.threads for lane in self.lanes}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._running = True
        # django-tasks-db's own way to run one claimed task and record its outcome.
        self._runner = Worker(
            queue_names=["*"],
            interval=interval,
            batch=False,
            backend_name=backend_name,
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )

    def stop(self) -> None:
        self._running = False
        self._wake.set()

    def run(self) -> None:
        pools = {
            lane.name: ThreadPoolExecutor(lane.threads, thread_name_prefix=f"lane-{lane.name}")
            for lane in self.lanes
        }
        task_enqueued.connect(self._enqueued, weak=False)
        logger.info(
            "Worker %s: lanes %s",
            self.worker_id,
            ", ".join(f"{lane.name} ({lane.threads} threads)" for lane in self.lanes),
        )
        try:
            while self._running:
                self._wake.clear()
                if not self._dispatch(pools):
                    self._wake.wait(self.interval)
        finally:
            task_enqueued.disconnect(self._enqueued)
            for pool in pools.values():
                pool.shutdown(wait=True)
            connection.close()

    def _enqueued(self, sender: Any, **kwargs: Any) -> None:
        self._wake.set()

    def _dispatch(self, pools: dict[str, ThreadPoolExecutor]) -> bool:
        """Claim what the lanes with free threads can start now; True when something was."""
        with self._lock:
            open_lanes = [lane for lane in self.lanes if self._free[lane.name] > 0]
        if not open_lanes:
            return False
        try:
            # One cheap look first: an idle worker asks this, not one claim per lane.
            paths = [path for lane in open_lanes for path in lane.task_paths]
            if not self._ready(paths).exists():
                return False
            started = False
            for lane in open_lanes:
                with self._lock:
                    free = self._free[lane.name]
                for result in self._claim(lane, free):
                    with self._lock:
                        self._free[lane.name] -= 1
                    pools[lane.name].submit(self._run, lane, result)
                    started = True
            return started
        finally:
            # The dispatcher holds no connection while it waits.
            close_old_connections()

    def _ready(self, paths: Sequence[str]) -> Any:
        return DBTaskResult.objects.ready().filter(
            backend_name=self.backend_name, task_path__in=paths
        )

    def _claim(self, lane: Lane, count: int) -> list[DBTaskResult]:
        precedence = Case(
            *(When(task_path=path, then=Value(i)) for i, path in enumerate(lane.task_paths)),
            output_field=IntegerField(),
        )
        ready = self._ready(lane.task_paths).order_by(
            precedence, "-priority", "run_after", "enqueued_at"
        )
        try:
            with exclusive_transaction(ready.db):
                claimed = list(ready.select_for_update(skip_locked=True)[:count])
                for result in claimed:
                    result.claim(self.worker_id)
        except OperationalError as exc:
            if is_locked_database_exception(exc):  # SQLite busy: the next round claims them
                return []
            raise
        return claimed

    def _run(self, lane: Lane, result: DBTaskResult) -> None:
        try:
            close_old_connections()
            self._runner.run_task(result)
        except Exception:
            # run_task records a task's own failure; this is the recording itself failing
            # (the database went away): housekeeping gives such a task to a worker again.
            logger.exception("Worker %s: task %s could not be recorded", self.worker_id, result.pk)
        finally:
            connection.close()
            # With DEBUG, Django logs each query on the thread's connection until a request
            # starts, which never happens here: 9,000 per thread, tens of MB per worker.
            reset_queries()
            with self._lock:
                self._free[lane.name] += 1
            self._wake.set()
