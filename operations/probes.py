"""What /readyz checks: the database answers, a task worker is alive, the upstream
accepts the team key. Each check says what it saw; nothing here changes anything."""

import logging

from django.db import DatabaseError, connection
from django.utils import timezone

from operations import registry
from operations.heartbeat import last_seen, stale_before

logger = logging.getLogger(__name__)


def check_database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def check_worker():
    from django.conf import settings

    seen = last_seen()
    now = timezone.now()
    result = {
        "ok": seen is not None and seen >= stale_before(now),
        "last_seen_seconds_ago": None if seen is None else round((now - seen).total_seconds(), 1),
        "stale_after_seconds": settings.BANANA_WORKER_STALE_AFTER,
    }
    if seen is None:
        result["detail"] = "no task worker has recorded a heartbeat"
    elif not result["ok"]:
        result["detail"] = "no task worker seen recently"
    return result


def _checks():
    return {"worker": check_worker, **registry.readiness_checks}


def readiness():
    """(ready, {name: result}). When the database does not answer, the checks that read it
    are not run (ok: null)."""
    checks = {}
    try:
        checks["database"] = check_database()
    except DatabaseError as exc:
        logger.warning("Readiness: the database did not answer: %s", exc)
        checks["database"] = {"ok": False, "detail": type(exc).__name__}
        for name in _checks():
            checks[name] = {"ok": None, "detail": "not checked: the database did not answer"}
        return False, checks
    for name, check in _checks().items():
        try:
            checks[name] = check()
        except DatabaseError as exc:
            logger.warning("Readiness: %s check failed: %s", name, exc)
            checks[name] = {"ok": False, "detail": type(exc).__name__}
    return all(result["ok"] for result in checks.values()), checks
