"""The retention policy: originals nobody is keeping are removed after BANANA_RETENTION_DAYS.

An original goes when its generation is older than that many days and nothing marks it as
kept: no member favourited it, it is in no collection, and no live share link (not revoked,
not expired) names it or a collection containing it. Its thumbnail and display variant stay,
so pages still show it; the card says the original was removed. Rows made before display
variants existed get one first, from the original. 0 days keeps everything.

Run by the worker every BANANA_RETENTION_EVERY seconds (`tasks.apply_retention`). Each
original is taken by a conditional UPDATE that re-checks the rule, so a favourite added
while the policy runs keeps the file, and two workers never remove one file twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from generations.images import ImageRejected, make_display
from generations.models import CollectionItem, Favourite, Generation, ResultImage, ShareLink
from generations.models.generations import result_upload_path
from generations.storage import content_hash

logger = logging.getLogger(__name__)

BATCH = 200


def kept(now: datetime) -> Q:
    """On ResultImage: its generation is favourited, collected or shared by a live link."""
    generation = OuterRef("generation_id")
    live = ShareLink.objects.live(now)  # type: ignore[no-untyped-call]  # the model's rule
    return Q(
        Exists(Favourite.objects.filter(generation_id=generation))
        | Exists(CollectionItem.objects.filter(generation_id=generation))
        | Exists(live.filter(generation_id=generation))
        | Exists(live.filter(collection__items__generation_id=generation))
    )


def expired_originals(now: datetime, days: int) -> QuerySet[ResultImage]:
    """Stored originals the policy removes now."""
    return (
        ResultImage.objects.filter(
            state=ResultImage.State.STORED,
            generation__status=Generation.Status.SUCCESS,
            generation__deleted_at__isnull=True,
            generation__created_at__lt=now - timedelta(days=days),
        )
        .exclude(file="")
        .exclude(kept(now))
    )


def _ensure_display(result: ResultImage) -> bool:
    """Give a row from before display variants one, made from its original. False when
    the original cannot be read or decoded: it is then kept."""
    if result.display:
        return True
    assert result.file.name  # only stored originals are candidates
    try:
        with default_storage.open(result.file.name, "rb") as handle:
            data = handle.read()
        content, width, height = make_display(
            data, display_size=settings.BANANA_DISPLAY_SIZE, max_pixels=settings.BANANA_MAX_PIXELS
        )
    except (OSError, ImageRejected) as exc:
        logger.warning("Retention: no display variant for result %s: %s", result.pk, exc)
        return False
    base = f"{result.generation_id}-{result.position}-{content_hash(content)}-display.webp"
    name = default_storage.save(result_upload_path(result, base), ContentFile(content))
    set_now = ResultImage.objects.filter(pk=result.pk, display="").update(
        display=name, display_width=width, display_height=height, display_byte_size=len(content)
    )
    if not set_now:
        default_storage.delete(name)  # another run made one meanwhile
    return True


def apply(now: datetime | None = None, days: int | None = None) -> dict[str, int]:
    """Remove the originals the policy lets go. Returns counts for the task's result."""
    now = now or timezone.now()
    days = settings.BANANA_RETENTION_DAYS if days is None else days
    counts = {"originals_removed": 0, "displays_made": 0, "kept_unreadable": 0}
    if days <= 0:
        return counts
    skipped: set[int] = set()
    while True:
        batch = list(expired_originals(now, days).exclude(pk__in=skipped).order_by("pk")[:BATCH])
        if not batch:
            return counts
        for result in batch:
            had_display = bool(result.display)
            if not _ensure_display(result):
                counts["kept_unreadable"] += 1
                skipped.add(result.pk)
                continue
            counts["displays_made"] += not had_display
            name = result.file.name
            assert name  # only stored originals are candidates
            taken = (
                expired_originals(now, days)
                .filter(pk=result.pk, file=name)
                .update(file="", original_removed_at=now)
            )
            if taken:
                default_storage.delete(name)
                counts["originals_removed"] += 1
            else:
                skipped.add(result.pk)
