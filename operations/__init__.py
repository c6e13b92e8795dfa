"""Running Banana Studio: probes, metrics, the worker's heartbeat, JSON logs, Sentry.

Nothing here takes part in a generation's life; it watches it. See docs/operations.md.
"""
