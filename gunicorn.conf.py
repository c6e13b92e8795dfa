"""gunicorn settings for production (`gunicorn -c gunicorn.conf.py banana_site.wsgi`).

The access log is written with secrets in URL paths redacted (generations/redaction.py).
"""

from gunicorn.glogging import Logger

from generations.redaction import redact_secrets

wsgi_app = "banana_site.wsgi"
accesslog = "-"


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact_secrets(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }


logger_class = RedactingLogger
