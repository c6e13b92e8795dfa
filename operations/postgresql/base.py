"""Django's PostgreSQL backend with its connection pool, failing fast while the server does
not answer.

With a pool, a thread that wants a connection waits up to DB_POOL_TIMEOUT for one, which is
right while others use them all and wrong while the server is down: every query of a
request (the error page's included) would wait the whole time, and a health probe would
time out instead of answering 503. So once a wait ends and the server refuses a
connection of its own too, the process answers "the database did not answer" at once for
DOWN_FOR seconds, then tries again.
"""

import time

from django.db.backends.postgresql import base

DOWN_FOR = 5.0


class DatabaseWrapper(base.DatabaseWrapper):
    _down_until = 0.0  # per process: what one thread learned spares the others the wait

    def get_new_connection(self, conn_params):
        if self.pool and time.monotonic() < DatabaseWrapper._down_until:
            raise self.Database.OperationalError("The database did not answer a moment ago.")
        try:
            return super().get_new_connection(conn_params)
        except self.Database.Error:
            if self.pool and not self._server_answers(conn_params):
                DatabaseWrapper._down_until = time.monotonic() + DOWN_FOR
            raise

    def _server_answers(self, conn_params):
        """Does the server take a connection of its own? (The pool's wait ends alike when
        the pool is busy and when the server is down.)"""
        try:
            self.Database.connect(**{**conn_params, "connect_timeout": 2}).close()
        except self.Database.Error:
            return False
        return True
