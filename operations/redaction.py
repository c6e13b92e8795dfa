"""Secrets that travel in URLs (webhook secrets, share tokens, signed reference tokens,
signed image URLs' signatures, invitation tokens in paths; the identity provider's
authorization code and state in the sign-in callback's query) are kept out of every log
line: Django's own loggers and the access log."""

import logging
import re

REDACTED = "[redacted]"
_SECRET_IN_PATH = re.compile(
    r"(?P<prefix>/hooks/upstream/[0-9a-fA-F-]{32,36}/|/s/|/r/|/i/|/join/)(?P<secret>[^/?#\s\"]+)"
)
_SECRET_IN_QUERY = re.compile(r"(?P<prefix>[?&](?:code|state)=)(?P<secret>[^&#\s\"]+)")


def redact_secrets(text):
    text = _SECRET_IN_PATH.sub(lambda m: m["prefix"] + REDACTED, text)
    return _SECRET_IN_QUERY.sub(lambda m: m["prefix"] + REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    """For handlers: rewrites each record's message with the secrets taken out."""

    def filter(self, record):
        message = record.getMessage()
        redacted = redact_secrets(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
