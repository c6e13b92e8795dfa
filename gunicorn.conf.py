"""gunicorn settings for production (`gunicorn -c gunicorn.conf.py banana_site.wsgi`).

The access log is written with secrets in URL paths redacted (operations/redaction.py).
Every worker writes its HTTP metrics to one directory, so /metrics counts all of them
(operations/gunicorn.py); with LOG_FORMAT=json gunicorn's own lines are JSON too.
"""

import os

from gunicorn.glogging import Logger

from operations import gunicorn as hooks
from operations.logs import gunicorn_logconfig
from operations.redaction import redact_secrets

wsgi_app = "banana_site.wsgi"
accesslog = "-"
# Threads, not one request per process: the OpenAI-compatible image calls wait for their
# images while holding a thread, and pages must still find one free (docs/api.md): the cap
# on waiting calls follows these threads (post_fork). Database connections do not: each
# process shares a pool of DB_POOL_SIZE, checked against PostgreSQL's max_connections when
# each worker starts (post_worker_init).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "64"))
# Pages poll every 2 s on one kept-alive connection; gunicorn's default of closing it after
# 2 s idle races each poll (the close arrives as the next request leaves: a reset).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "20"))
# gunicorn's control socket defaults to one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
# ~/.gunicorn/gunicorn.ctl), shared by every gunicorn that user runs: stopping one removes
# the others'. None, unless GUNICORN_CONTROL_SOCKET names this instance's own.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
if _control_socket:
    control_socket = _control_socket
control_socket_disable = not _control_socket


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact_secrets(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }


logger_class = RedactingLogger

# --- Operations (operations/gunicorn.py) ---------------------------------------------------
hooks.prepare_metrics_dir()
on_starting = hooks.on_starting
post_fork = hooks.post_fork
post_worker_init = hooks.post_worker_init
child_exit = hooks.child_exit
on_exit = hooks.on_exit
logconfig_dict = gunicorn_logconfig(os.environ.get("LOG_FORMAT", "plain"))
