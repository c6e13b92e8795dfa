"""gunicorn hooks, used by gunicorn.conf.py in the master process before any worker starts.

HTTP metrics: each worker process counts the requests it answers, and a scrape of
/metrics reaches one worker. So every worker writes its counts to memory-mapped files in
one directory (prometheus_client's multiprocess mode) and a scrape adds them all up. The
directory is PROMETHEUS_MULTIPROC_DIR if set (emptied when gunicorn starts), otherwise a
fresh temporary one removed when gunicorn exits.

The master process never loads the app: only the hooks that run in a worker, after the
app is loaded there, import Django.
"""

import os
import shutil
import tempfile
from pathlib import Path

_created_dir = None


def prepare_metrics_dir():
    """Name the directory in the environment, which every worker inherits. Must run before
    prometheus_client is imported anywhere (it picks its value store on import)."""
    global _created_dir
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:  # the operator's, or ours from a previous load of the config (SIGHUP)
        os.makedirs(path, exist_ok=True)
        return path
    _created_dir = tempfile.mkdtemp(prefix="banana-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _created_dir
    return _created_dir


def on_starting(server):
    """A new gunicorn: counts from a previous one start again from zero (Prometheus reads
    that as a counter reset), and old files never pile up."""
    for leftover in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        leftover.unlink(missing_ok=True)


def child_exit(server, worker):
    """A worker exited: its counters stay (they are still counted); its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_fork(server, worker):
    """Tell the app, before it loads in this worker, how many threads serve it: the cap on
    waiting image calls follows them (BANANA_WEB_THREADS in settings.py)."""
    os.environ["BANANA_WEB_THREADS"] = str(server.cfg.threads)


def post_worker_init(worker):
    """Refuse to serve when gunicorn's processes could run PostgreSQL out of connections
    (operations/capacity.py): a worker that raises here fails to boot, and gunicorn stops."""
    from django.db import connection

    from operations import capacity

    try:
        problem = capacity.connection_problem(
            "gunicorn", processes=worker.cfg.workers, threads=worker.cfg.threads
        )
    finally:
        connection.close()
    if problem:
        worker.log.error(problem)
        raise SystemExit(3)  # gunicorn's "worker failed to boot": the arbiter halts


def on_exit(server):
    if _created_dir:
        shutil.rmtree(_created_dir, ignore_errors=True)
