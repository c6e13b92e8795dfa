"""Will PostgreSQL's connections suffice? Checked when a process that may open many starts
(each gunicorn worker, each task worker): a configuration that could run out refuses to
start, naming the numbers, instead of answering 500s under load.

A process opens at most its pool's size (DB_POOL_SIZE; threads beyond it wait their turn),
or one connection per thread without a pool. The check asks the server for its
`max_connections`, less the superuser's reserve and the connections other clients hold at
that moment, and compares what this group of processes may open at most. Sizing the whole
installation is docs/deployment.md's formula.
"""

import logging

from django.conf import settings
from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)


def most_connections(threads: int) -> int:
    """The most connections one process with `threads` threads opens."""
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if pool:
        return min(threads, int(pool["max_size"]))
    return threads


def connection_problem(what: str, *, processes: int, threads: int) -> str | None:
    """Why `processes` processes of `threads` threads each could run PostgreSQL out of
    connections, or None when they fit (or the database is not PostgreSQL)."""
    if connection.vendor != "postgresql":
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_setting('max_connections')::int,"
                " current_setting('superuser_reserved_connections')::int,"
                " (SELECT count(*) FROM pg_stat_activity"
                "  WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())"
            )
            maximum, reserved, in_use = cursor.fetchone()
    except DatabaseError as exc:
        # A process starts without its database (and says so on /readyz): nothing to
        # compare with until it answers.
        logger.warning(
            "%s: connections not checked, the database did not answer (%s)",
            what,
            type(exc).__name__,
        )
        return None
    each = most_connections(threads)
    need = processes * each
    room = maximum - reserved - in_use
    if need <= room:
        return None
    return (
        f"{what} may open {need} database connections ({processes} process(es) x {each}), "
        f"but PostgreSQL has room for {room} ({maximum} max_connections, {reserved} "
        f"reserved, {in_use} in use by others). Lower DB_POOL_SIZE or the processes, or "
        f"raise max_connections (docs/deployment.md, 'Database connections')."
    )
