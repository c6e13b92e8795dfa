"""Log formatters. LOG_FORMAT=json: one JSON object per line, for log collectors.

Used by Django's logging (settings.LOGGING) and by gunicorn's own loggers
(gunicorn.conf.py), so a web process writes nothing but JSON lines. The handlers keep the
RedactSecretsFilter, which rewrites each record's message before any formatter sees it;
tracebacks, which that filter does not see, are redacted by the formatters (plain and
JSON alike). No Django imports: gunicorn's master process uses this too.
"""

import json
import logging
from datetime import UTC, datetime

from operations.redaction import redact_secrets

# gunicorn's access log passes its "atoms" as the record's arguments: the useful ones.
ACCESS_FIELDS = {
    "h": "remote_addr",
    "m": "method",
    "U": "path",
    "q": "query",
    "H": "protocol",
    "s": "status",
    "B": "bytes",
    "M": "duration_ms",
    "f": "referer",
    "a": "user_agent",
}


# The probes whose failing answers are logged by their own view, as a warning.
PROBES = frozenset({"readyz"})


class ProbeAnswers(logging.Filter):
    """Drops Django's request-error line (the `django.request` logger) for a probe's answer:
    /readyz says "Not ready" as a warning itself."""

    def filter(self, record):
        request = getattr(record, "request", None)
        match = getattr(request, "resolver_match", None)
        return getattr(match, "url_name", None) not in PROBES


class RedactingFormatter(logging.Formatter):
    """A plain formatter whose tracebacks and stacks have secrets in URL paths redacted.
    Takes `format` as dictConfig passes it."""

    def __init__(self, format=None, datefmt=None):
        super().__init__(fmt=format, datefmt=datefmt)

    def formatException(self, ei):
        return redact_secrets(super().formatException(ei))

    def formatStack(self, stack_info):
        return redact_secrets(super().formatStack(stack_info))


class JsonFormatter(RedactingFormatter):
    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            entry["http"] = {
                name: record.args[atom]
                for atom, name in ACCESS_FIELDS.items()
                if record.args.get(atom) not in (None, "", "-")
            }
        status_code = getattr(record, "status_code", None)
        if isinstance(status_code, int):
            entry["status_code"] = status_code
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = redact_secrets(record.exc_text)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def gunicorn_logconfig(log_format):
    """gunicorn's `logconfig_dict`: its error and access logs as JSON lines (stderr and
    stdout, as by default), or {} to keep gunicorn's own format."""
    if log_format != "json":
        return {}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "filters": ["redact_secrets"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "operations.logs.JsonFormatter"}},
        "filters": {"redact_secrets": {"()": "operations.redaction.RedactSecretsFilter"}},
        "handlers": {
            "error_console": {**handler, "stream": "ext://sys.stderr"},
            "console": {**handler, "stream": "ext://sys.stdout"},
        },
        "root": {"level": "INFO", "handlers": ["error_console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }
