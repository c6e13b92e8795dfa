"""Error reports to Sentry, when SENTRY_DSN is set (settings.py calls init_sentry).

What must never leave: the team's upstream key, webhook secrets, share tokens and signed
reference tokens (secrets that travel in URL paths), Django's SECRET_KEY and the metrics
token. Every event, breadcrumb and transaction is scrubbed three ways, at any depth
(frames' local variables are nested: a view's `secret` argument sits in Django's
`callback_kwargs`): values under sensitive names ("secret", "token", "authorization",
cookies... Sentry's list and ours) are replaced; every string goes through
`redact_secrets`, the same rule as the logs; and the known secret values are replaced
wherever they appear (a message, an exception, a local variable, a URL). No personal data
(send_default_pii=False), and no request bodies (prompts and webhook payloads stay here).
"""

import sentry_sdk
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

from operations.redaction import REDACTED, redact_secrets

# A "secret" shorter than this is no secret worth replacing everywhere it appears.
MIN_SECRET_LENGTH = 8
# Names whose values are never sent (compared lower-case), on top of Sentry's.
DENYLIST = [
    *DEFAULT_DENYLIST,
    "banana_api_key",
    "secret_key",
    "metrics_token",
    "webhook_secret",
    "sentry_dsn",
]
SENSITIVE_NAMES = frozenset(name.lower() for name in DENYLIST)


def scrubber(secret_values):
    """A function that returns a copy of an event (dicts, lists, strings) with secrets
    replaced."""
    secrets = sorted(
        {value for value in secret_values if value and len(value) >= MIN_SECRET_LENGTH},
        key=len,
        reverse=True,
    )

    def scrub(value):
        if isinstance(value, str):
            value = redact_secrets(value)
            for secret in secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
            return value
        if isinstance(value, dict):
            return {
                scrub(key): REDACTED
                if isinstance(key, str) and key.lower() in SENSITIVE_NAMES
                else scrub(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [scrub(item) for item in value]
        return value

    return scrub


def init_sentry(dsn, *, secret_values, environment, release=None, traces_sample_rate=0.0):
    scrub = scrubber(secret_values)
    sentry_sdk.init(
        dsn=dsn,
        integrations=[DjangoIntegration()],
        send_default_pii=False,
        event_scrubber=EventScrubber(denylist=DENYLIST, recursive=True),
        max_request_body_size="never",
        environment=environment,
        release=release or None,
        traces_sample_rate=traces_sample_rate or None,  # 0: no tracing machinery at all
        before_send=lambda event, hint: scrub(event),
        before_send_transaction=lambda event, hint: scrub(event),
        before_breadcrumb=lambda crumb, hint: scrub(crumb),
    )
