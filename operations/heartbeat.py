"""The task worker says it is alive: a row per worker, touched on a schedule by a thread
of the worker process (`manage.py worker`), read by /readyz and /metrics.

The row lives in the database every web process already reaches, so "is a worker
running?" has one answer for the whole installation, whichever process asks.
"""

import logging
import os
import socket
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from operations.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

# Rows of workers gone this long are removed (by any beating worker).
FORGET_AFTER = timedelta(days=1)


def beat(worker_id, started_at=None):
    """Record that `worker_id` is alive now."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id,
        defaults={"seen_at": now, "hostname": socket.gethostname()[:255], "pid": os.getpid()},
        create_defaults={
            "seen_at": now,
            "started_at": started_at or now,
            "hostname": socket.gethostname()[:255],
            "pid": os.getpid(),
        },
    )
    WorkerHeartbeat.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()


def forget(worker_id):
    WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()


def stale_before(now=None):
    return (now or timezone.now()) - timedelta(seconds=settings.BANANA_WORKER_STALE_AFTER)


def live_workers(now=None):
    return WorkerHeartbeat.objects.filter(seen_at__gte=stale_before(now))


def last_seen():
    """When any worker was last seen, or None if none ever was (or all were forgotten)."""
    return WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True).first()


class Heartbeat:
    """A daemon thread that beats every `every` seconds until stopped, while the process's
    main thread lives. A failed beat (database away) is logged and retried next time."""

    def __init__(self, worker_id, every=None):
        self.worker_id = worker_id
        self.every = settings.BANANA_WORKER_HEARTBEAT_EVERY if every is None else every
        self.started_at = timezone.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        """Stop beating and remove the row: a worker that stops cleanly is gone at once."""
        self._stop.set()
        self._thread.join(timeout=self.every + 5)
        try:
            forget(self.worker_id)
        except DatabaseError:
            logger.warning("Worker %s: could not remove its heartbeat", self.worker_id)
        finally:
            connection.close()

    def _run(self):
        main = threading.main_thread()
        try:
            while main.is_alive():
                close_old_connections()
                try:
                    beat(self.worker_id, self.started_at)
                except DatabaseError as exc:
                    logger.warning("Worker %s: heartbeat failed: %s", self.worker_id, exc)
                if self._stop.wait(self.every):
                    return
        finally:
            connection.close()
