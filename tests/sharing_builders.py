"""Small builders for gallery, collection and share tests: rows without the upstream."""

import io
from datetime import timedelta

from django.core.files.base import ContentFile
from django.utils import timezone
from PIL import Image

from generations.models import Generation, ReferenceImage, ResultImage


def png_bytes(color="red", size=(64, 48)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def make_generation(owner, *, prompt="A banana", status="success", with_file=True, **extra):
    extra.setdefault("model", "google/gempix2")
    extra.setdefault("visibility", "team")
    if status in ("success", "failed"):
        extra.setdefault("finished_at", timezone.now())
    generation = Generation.objects.create(
        owner=owner, prompt=prompt, status=status, webhook_secret_hash="x" * 64, **extra
    )
    if status == "success":
        result = ResultImage(
            generation=generation,
            position=0,
            state=ResultImage.State.STORED,
            content_type="image/png",
            width=64,
            height=48,
            thumbnail_width=64,
            thumbnail_height=48,
        )
        if with_file:
            result.file.save("result.png", ContentFile(png_bytes()), save=False)
            result.thumbnail.save("thumb.webp", ContentFile(png_bytes("blue")), save=False)
        result.save()
    return generation


def add_reference(generation, position=0):
    reference = ReferenceImage(
        generation=generation, position=position, content_type="image/png", width=64, height=48
    )
    reference.file.save("ref.png", ContentFile(png_bytes("green")), save=False)
    reference.save()
    return reference


def bulk_generations(owner, count, *, status="success", start=None):
    """Many rows fast: no files, just what a gallery page renders."""
    start = start or timezone.now()
    rows = Generation.objects.bulk_create(
        Generation(
            owner=owner,
            prompt=f"bulk {i}",
            model="google/gempix2",
            status=status,
            visibility="team",
            webhook_secret_hash="x" * 64,
            created_at=start - timedelta(seconds=i),
            finished_at=start if status == "success" else None,
        )
        for i in range(count)
    )
    ResultImage.objects.bulk_create(
        ResultImage(
            generation=g,
            position=0,
            state=ResultImage.State.STORED,
            file=f"results/{g.pk}/r.png",
            thumbnail=f"results/{g.pk}/t.webp",
            width=64,
            height=48,
            thumbnail_width=64,
            thumbnail_height=48,
        )
        for g in rows
    )
    return rows
