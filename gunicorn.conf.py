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
# images while holding a thread, and pages must still find one free (docs/api.md).
# Keep BANANA_API_MAX_WAITING below the threads, and PostgreSQL's max_connections above
# workers x threads.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "64"))


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
child_exit = hooks.child_exit
on_exit = hooks.on_exit
logconfig_dict = gunicorn_logconfig(os.environ.get("LOG_FORMAT", "plain"))
