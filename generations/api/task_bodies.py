"""A generation as our APIs show it: the provider's task body (query answer and callback),
its status, what it cost, and signed, expiring URLs of its images that need no session.

No network and no writes here: the views, the callbacks and the OpenAI layer build on it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

from generations import upstream
from generations.models import ApiTask, Generation, ResultImage

Status = Generation.Status
RESULT_SIGNING_SALT = "generations.api-result"
SIX_PLACES = Decimal("0.000001")

# Ours → the provider's (contract section 2). Ours that the provider does not have are
# "pending": the task exists (for the caller) but has not started.
PROVIDER_STATUS = {
    Status.QUEUED: upstream.PENDING,
    Status.SENDING: upstream.PENDING,
    Status.UNKNOWN: upstream.PENDING,
    Status.PENDING: upstream.PENDING,
    Status.SUBMITTED: upstream.SUBMITTED,
    Status.IN_PROGRESS: upstream.IN_PROGRESS,
    Status.SUCCESS: upstream.SUCCESS,
    Status.FAILED: upstream.FAILED,
}
NO_IMAGE_KEPT = "The image was made but could not be kept. Its credits were charged."


def is_settled(generation: Generation) -> bool:
    """Final, and no result is still being copied to our storage: nothing will change."""
    if not generation.is_final:
        return False
    return not any(r.state == ResultImage.State.WAITING for r in generation.results.all())


def stored_results(generation: Generation) -> list[ResultImage]:
    return [r for r in generation.results.all() if r.is_stored]


def provider_status(generation: Generation) -> str:
    """The provider's status for our row. A success whose images are still being copied
    is "in_progress" (its URLs would not work yet), and one none of whose images could be
    kept is "failed"."""
    status = Status(generation.status)
    if status == Status.SUCCESS:
        if not is_settled(generation):
            return upstream.IN_PROGRESS
        if not stored_results(generation):
            return upstream.FAILED
    return PROVIDER_STATUS[status]


def consumed(generation: Generation) -> str:
    """What the member was charged, as the provider writes it ("0.500000"); 0 until the
    generation is settled, and when its hold was released."""
    charged = generation.credits_charged
    if generation.credit_state != Generation.CreditState.SETTLED or charged is None:
        charged = Decimal(0)
    return f"{charged.quantize(SIX_PLACES):f}"


def base_url_of(generation: Generation, fallback: str = "") -> str:
    """Where clients reach us: PUBLIC_BASE_URL, else where this generation's client did."""
    if settings.PUBLIC_BASE_URL:
        return str(settings.PUBLIC_BASE_URL)
    if fallback:
        return fallback
    task = ApiTask.objects.filter(generation=generation).only("base_url").first()
    return task.base_url if task else ""


def result_token(result: ResultImage) -> str:
    return signing.TimestampSigner(salt=RESULT_SIGNING_SALT).sign(
        f"{result.generation_id}_{result.position}"
    )


def result_url(result: ResultImage, base_url: str) -> str:
    return base_url + reverse("api_result_image", kwargs={"token": result_token(result)})


def result_from_token(token: str) -> ResultImage | None:
    """The stored result a signed URL names, or None (bad or expired signature, deleted
    generation, image no longer kept)."""
    try:
        value = signing.TimestampSigner(salt=RESULT_SIGNING_SALT).unsign(
            token, max_age=settings.BANANA_API_RESULT_URL_TTL
        )
    except signing.BadSignature:
        return None
    generation_id, _sep, position = value.rpartition("_")
    if not position.isdigit():
        return None
    return (
        ResultImage.objects.filter(
            generation_id=generation_id,
            position=int(position),
            state=ResultImage.State.STORED,
            generation__deleted_at__isnull=True,
        )
        .exclude(file="")
        .select_related("generation")
        .first()
    )


def task_body(generation: Generation, base_url: str) -> dict[str, Any]:
    """The provider's task object (the query's `data`, and the callback's body)."""
    status = provider_status(generation)
    result: list[dict[str, str]] | None = None
    message: str | None = None
    if status == upstream.SUCCESS:
        result = [{"image": result_url(r, base_url)} for r in stored_results(generation)]
    elif status == upstream.FAILED:
        message = generation.error_message or NO_IMAGE_KEPT
    return {
        "task_id": str(generation.pk),
        "status": status,
        "result": result,
        "status_reason": {"message": message},
        "consumed": consumed(generation),
        "created_at": generation.created_at.isoformat(),
    }


def callback_body(generation: Generation, base_url: str) -> dict[str, Any]:
    """The provider's callback body (contract section 3): the task without created_at."""
    body = task_body(generation, base_url)
    del body["created_at"]
    return body
