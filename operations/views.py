"""Endpoints for operators' machines: liveness, readiness and metrics. None needs a login;
/healthz and /readyz are exempt from the HTTPS redirect (load balancers probe over plain
HTTP); /metrics answers only its bearer token."""

import hmac
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from operations import metrics as ops_metrics
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
        # A probe asks every few seconds: one warning per answer, naming what failed;
        # Django's error line for the 503 is left out (operations.logs.ProbeAnswers), since
        # error reporting would turn it into an event per probe.
        logger.warning("Not ready: %s", ", ".join(failing))
    return response


@login_not_required
@require_safe
@never_cache
def metrics(request):
    """Prometheus text format, for `Authorization: Bearer <METRICS_TOKEN>` only; 404 when
    no token is configured, 401 without credentials, 403 with wrong ones."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404
    header = request.headers.get("Authorization", "").strip()
    if not header:
        response = HttpResponse("Credentials required.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), token.encode()
    ):
        return HttpResponse("Forbidden.\n", status=403, content_type="text/plain")
    return HttpResponse(ops_metrics.render(), content_type=ops_metrics.CONTENT_TYPE)
