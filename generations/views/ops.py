"""Endpoints for operators' machines: liveness and readiness. Neither needs a login, and
both are exempt from the HTTPS redirect (load balancers probe over plain HTTP)."""

import logging

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from operations import probes

logger = logging.getLogger(__name__)


@login_not_required
@require_safe
@never_cache
def healthz(request):
    """The process answers. Touches nothing else (no database)."""
    return HttpResponse("ok", content_type="text/plain")


@login_not_required
@require_safe
@never_cache
def readyz(request):
    """200 when the database answers, a task worker is alive and the upstream accepts the
    key; 503 naming what failed otherwise."""
    ready, checks = probes.readiness()
    failing = [name for name, result in checks.items() if result["ok"] is False]
    body = {"status": "ok" if ready else "unavailable", "failing": failing, "checks": checks}
    response = JsonResponse(body, status=200 if ready else 503)
    if not ready:
        # A probe asks every few seconds: one warning per answer, not Django's error log
        # line (which error reporting would turn into an event per probe).
        logger.warning("Not ready: %s", ", ".join(failing))
        response._has_been_logged = True
    return response
