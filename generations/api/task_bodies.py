"""A generation as our APIs show it: the provider's task body (query answer and callback),
its status, what it cost, and signed, expiring URLs of its images that need no session.

No network and no writes here: the views, the callbacks and the OpenAI layer build on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

from generations import images, upstream
from generations.api import schemas
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
    return credits_text(charged)


def credits_text(amount: Decimal) -> str:
    """Credits as the provider writes them: "0.500000"."""
    return f"{amount.quantize(SIX_PLACES):f}"


def base_url_of(generation: Generation, fallback: str = "") -> str:
    """Where clients reach us: PUBLIC_BASE_URL, else where this generation's client did."""
    if settings.PUBLIC_BASE_URL:
        return str(settings.PUBLIC_BASE_URL)
    if fallback:
        return fallback
    task = ApiTask.objects.filter(generation=generation).only("base_url").first()
    return task.base_url if task else ""


@dataclass(frozen=True)
class Output:
    """The format a client asked its images in (OpenAI's `output_format` and
    `output_compression`); the default is the image as we keep it."""

    format: str = ""  # "png", "jpeg", "webp"; "" as kept
    quality: int | None = None

    def __str__(self) -> str:
        return self.format + ("" if self.quality is None else f"-{self.quality}")

    @classmethod
    def parse(cls, text: str) -> Output | None:
        fmt, _sep, quality = text.partition("-")
        if fmt not in schemas.OUTPUT_FORMATS or (quality and not quality.isdigit()):
            return None
        return cls(fmt, int(quality) if quality else None)

    def applies_to(self, result: ResultImage) -> bool:
        """Whether `result` must be converted to be in this format."""
        if not self.format:
            return False
        return self.quality is not None or result.content_type != images.content_type_of(
            self.format
        )

    def content_type(self, result: ResultImage) -> str:
        return images.content_type_of(self.format) if self.format else result.content_type

    def convert(self, data: bytes) -> bytes:
        return images.convert(data, self.format, quality=self.quality)


AS_KEPT = Output()


@dataclass(frozen=True)
class SignedResult:
    result: ResultImage
    output: Output


def result_token(result: ResultImage, output: Output = AS_KEPT) -> str:
    value = f"{result.generation_id}_{result.position}"
    if output.format:
        value += f"_{output}"
    return signing.TimestampSigner(salt=RESULT_SIGNING_SALT).sign(value)


def result_url(result: ResultImage, base_url: str, output: Output = AS_KEPT) -> str:
    return base_url + reverse("api_result_image", kwargs={"token": result_token(result, output)})


def result_from_token(token: str) -> SignedResult | None:
    """The stored result a signed URL names, in the format it was signed for, or None (bad
    or expired signature, deleted generation, image no longer kept)."""
    try:
        value = signing.TimestampSigner(salt=RESULT_SIGNING_SALT).unsign(
            token, max_age=settings.BANANA_API_RESULT_URL_TTL
        )
    except signing.BadSignature:
        return None
    generation_id, _sep, rest = value.partition("_")
    position, _sep, output_text = rest.partition("_")
    output = Output.parse(output_text) if output_text else AS_KEPT
    if not position.isdigit() or output is None:
        return None
    result = (
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
    return None if result is None else SignedResult(result, output)


def task(generation: Generation, base_url: str) -> schemas.ProviderTask:
    """The provider's task object (the query's `data`)."""
    status = provider_status(generation)
    result: list[schemas.ResultImage] | None = None
    message: str | None = None
    if status == upstream.SUCCESS:
        result = [
            schemas.ResultImage(image=result_url(r, base_url)) for r in stored_results(generation)
        ]
    elif status == upstream.FAILED:
        message = generation.error_message or NO_IMAGE_KEPT
    return schemas.ProviderTask(
        task_id=str(generation.pk),
        status=status,
        result=result,
        status_reason=schemas.StatusReason(message=message),
        consumed=consumed(generation),
        created_at=generation.created_at.isoformat(),
    )


def task_body(generation: Generation, base_url: str) -> dict[str, Any]:
    return task(generation, base_url).model_dump(mode="json")


def callback_body(generation: Generation, base_url: str) -> dict[str, Any]:
    """The provider's callback body (contract section 3): the task without created_at."""
    fields = task(generation, base_url).model_dump(exclude={"created_at"})
    return schemas.ProviderCallback.model_validate(fields).model_dump(mode="json")
