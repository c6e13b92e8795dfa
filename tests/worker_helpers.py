"""The task worker's engine run in the test's own process (its threads have their own
database connections, so tests that use it commit for real), and members' receivers that
take their time."""

import socket
import threading
from contextlib import contextmanager

import pytest
from django.db import connection

from generations import lanes
from generations.tasks import LANES

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    """Runs the test on the database this run uses, and names the other as skipped."""
    vendor = connection.vendor
    if request.param != vendor:
        how = {
            "postgresql": "set DATABASE_URL=postgres://… to run it",
            "sqlite": "runs when DATABASE_URL is unset or sqlite://…",
        }[request.param]
        pytest.skip(f"the {request.param} variant; this run uses {vendor} ({how})")
    return vendor


@contextmanager
def running_worker(*, threads=4, callback_threads=2, upkeep_threads=1, worker_id="test-worker"):
    """`manage.py worker`'s engine, serving the database queue until the block ends (and
    its running tasks have finished)."""
    engine = lanes.LaneWorker(
        lanes.lanes_of(
            LANES,
            {"generations": threads, "callbacks": callback_threads, "upkeep": upkeep_threads},
        ),
        worker_id=worker_id,
        interval=0.05,
    )
    thread = threading.Thread(target=engine.run, name=worker_id)
    thread.start()
    try:
        yield engine
    finally:
        engine.stop()
        thread.join(120)
        assert not thread.is_alive(), "the worker did not stop"


class TricklingReceiver:
    """A member's webhook receiver on 127.0.0.1 that reads the request, then answers one
    byte every `every` seconds (a long answer: it would take minutes) until told to hurry or
    closed.
    Counts the connections it holds at once."""

    ANSWER = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 2000 + b"\r\nContent-Length: 2\r\n\r\nok"

    def __init__(self, every=0.2):
        self.every = every
        self.accepted = 0
        self.open = 0
        self.most_open = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._hurry = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(32)
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/hooks/slow"
        self._threads = [threading.Thread(target=self._serve, daemon=True)]

    def __enter__(self):
        self._threads[0].start()
        return self

    def __exit__(self, *exc):
        self.close()

    def hurry(self):
        """From now on, answer at once (still listening)."""
        self._hurry.set()

    def close(self):
        self._closed.set()
        self._hurry.set()
        for thread in list(self._threads):
            thread.join(10)
        self._sock.close()

    def _serve(self):
        while not self._closed.is_set():
            try:
                conn, _address = self._sock.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _answer(self, conn):
        with self._lock:
            self.accepted += 1
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        try:
            conn.settimeout(5)
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                request += chunk
            for i in range(len(self.ANSWER)):
                if self._hurry.wait(self.every):
                    if not self._closed.is_set():
                        conn.sendall(self.ANSWER[i:])
                    return
                conn.sendall(self.ANSWER[i : i + 1])
        except OSError:  # the caller hung up: what the deadline does
            return
        finally:
            conn.close()
            with self._lock:
                self.open -= 1
