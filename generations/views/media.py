"""Image files: results and references for people allowed to see them, and signed
reference URLs for the upstream to fetch."""

from django.contrib.auth.decorators import login_not_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from .. import services
from ..models import ResultImage
from .common import get_generation_for


def download_name(generation, position, extension):
    stem = slugify(generation.prompt[:60]) or "image"
    return f"banana-{stem}-{str(generation.pk)[:8]}-{position + 1}.{extension}"


def file_response(field_file, content_type, *, filename=None, attachment=False):
    if not field_file:
        raise Http404
    response = FileResponse(
        field_file.open("rb"),
        content_type=content_type or None,
        as_attachment=attachment,
        filename=filename or "",
    )
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def result_image(request, generation_id, position, variant="original"):
    generation = get_generation_for(request.user, generation_id)
    result = get_object_or_404(
        generation.results.filter(state=ResultImage.State.STORED), position=position
    )
    if variant == "thumbnail":
        return file_response(result.thumbnail, "image/webp")
    extension = result.file.name.rsplit(".", 1)[-1]
    return file_response(
        result.file,
        result.content_type,
        filename=download_name(generation, position, extension),
        attachment="download" in request.GET,
    )


@require_GET
def reference_image(request, generation_id, position):
    generation = get_generation_for(request.user, generation_id)
    reference = get_object_or_404(generation.references.exclude(file=""), position=position)
    return file_response(reference.file, reference.content_type)


@login_not_required
@require_GET
def reference_public(request, token):
    """An uploaded reference, for the upstream to fetch: signed and expiring."""
    reference = services.reference_from_token(token)
    if reference is None:
        raise Http404
    return file_response(reference.file, reference.content_type)
