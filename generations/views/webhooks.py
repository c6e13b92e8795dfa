"""The upstream's webhook. (The probes for operators are in operations/views.py.)"""

import json
import logging

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generations import services
from generations.models import Generation

logger = logging.getLogger(__name__)

WEBHOOK_MAX_BODY = 1024 * 1024


@login_not_required
@csrf_exempt
@require_POST
def upstream_webhook(request, generation_id, secret):
    generation = Generation.objects.filter(pk=generation_id).first()
    # The same 404 for an unknown row and a wrong secret: the URL is the only credential.
    if generation is None or not generation.webhook_secret_matches(secret):
        raise Http404
    payload = None
    if len(request.body) <= WEBHOOK_MAX_BODY:
        try:
            payload = json.loads(request.body)
        except ValueError:
            logger.info("Webhook for %s: body is not JSON", generation_id)
    services.handle_callback(generation, payload)
    return JsonResponse({"ok": True})
