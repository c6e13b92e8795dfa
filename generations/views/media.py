"""Image files: signed image URLs (checked without the database), results and references
for people allowed to see them (one permission-checked query), signed reference URLs for
the upstream to fetch, and a collection's images as one streamed ZIP.

Bytes come from the web process for local files, or from the bucket: with object storage
the browser is sent (302) to a presigned URL (generations/storage.py).
"""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.files.storage import default_storage
from django.db import router
from django.http import (
    FileResponse,
    Http404,
    HttpResponseNotModified,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.utils.http import parse_etags
from django.utils.text import slugify
from django.views.decorators.http import require_GET

from generations import archive, prepared, services, storage
from generations import boards as collection_service
from generations.models import Generation, ResultImage
from generations.views.common import get_collection_for, get_generation_for

# Pages behind a permission check: a browser may keep an image for an hour, then asks again
# (a 304 when it has not changed).
CHECKED = "private, max-age=3600"


def download_name(generation, position, extension, *, with_prompt=True):
    """The file name a download is saved under: its prompt's first words, unless the prompt
    is not to be shown (a share link that hides it)."""
    stem = (slugify(generation.prompt[:60]) if with_prompt else "") or "image"
    return f"banana-{stem}-{str(generation.pk)[:8]}-{position + 1}.{extension}"


def serve_file(
    request,
    name,
    content_type,
    *,
    cache_control=CHECKED,
    filename="",
    attachment=False,
    presigned_ttl=None,
    to_bucket=True,
):
    """The stored file `name`: a redirect to a presigned URL of the bucket (object storage,
    unless `to_bucket` is false), else the bytes, or 304 when the browser holds them already
    (ETag). 404 when there is none."""
    if not name:
        raise Http404
    content_type = content_type or storage.content_type_for(name)
    if to_bucket and storage.redirects_to_bucket():
        ttl = presigned_ttl or settings.S3_PRESIGNED_URL_TTL
        response = HttpResponseRedirect(
            storage.presigned_url(
                name,
                content_type=content_type,
                cache_control=cache_control,
                filename=filename,
                attachment=attachment,
                ttl=ttl,
            )
        )
        # The browser may reuse the redirect while the presigned URL lives, no longer; one
        # that must re-check every time (shares) says no-cache. No ETag: a revalidated
        # redirect would keep pointing at a presigned URL that has expired.
        response["Cache-Control"] = (
            cache_control if "no-cache" in cache_control else f"private, max-age={ttl // 2}"
        )
        return response
    etag = storage.etag_for(name)
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response = HttpResponseNotModified()
    else:
        try:
            handle = default_storage.open(name, "rb")
        except FileNotFoundError:
            raise Http404 from None
        response = FileResponse(
            handle, content_type=content_type, as_attachment=attachment, filename=filename
        )
    response["Cache-Control"] = cache_control
    response["ETag"] = etag
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_not_required
@require_GET
def signed_media(request, signature, expires, name):
    """A file a page named with a signed URL: the signature is the permission, checked
    without the database. Its bytes never change, so browsers keep it."""
    if not storage.verify(signature, expires, name):
        raise Http404
    return serve_file(
        request, name, storage.content_type_for(name), cache_control=storage.IMMUTABLE
    )


def visible_result(user, generation_id, position):
    """A stored result this user may see, with its generation's prompt, in one prepared
    query (404 if none)."""
    rows = _VISIBLE_RESULT.rows(
        user.is_staff, user_pk=user.pk, generation_id=generation_id, position=position
    )
    if not rows:
        raise Http404
    db = router.db_for_read(ResultImage)
    result = ResultImage.from_db(db, _RESULT_COLUMNS, rows[0][:-1])
    result.generation = Generation.from_db(db, ["id", "prompt"], [generation_id, rows[0][-1]])
    return result


# What result_image reads, no more, in the model's order (as from_db takes them).
_RESULT_COLUMNS = [
    field.attname
    for field in ResultImage._meta.concrete_fields
    if field.name in {"id", "generation", "file", "display", "thumbnail", "content_type"}
]


def _visible_result(is_staff, user_pk, generation_id, position):
    visible = Generation.objects.visible_to(prepared.member(user_pk, is_staff))
    return ResultImage.objects.filter(
        generation__in=visible.filter(pk=generation_id),
        generation_id=generation_id,
        state=ResultImage.State.STORED,
        position=position,
    ).values_list(*_RESULT_COLUMNS, "generation__prompt")


_VISIBLE_RESULT = prepared.Read(
    ResultImage,
    _visible_result,
    user_pk=Generation._meta.get_field("owner"),
    generation_id=Generation._meta.pk,
    position=ResultImage._meta.get_field("position"),
)


def result_file(result, variant):
    """(storage name, content type) of a result's variant: the original, the display
    variant (the original for rows made before there were any) or the thumbnail."""
    if variant == "thumbnail":
        return result.thumbnail.name, "image/webp"
    if variant == "display" and result.display:
        return result.display.name, "image/webp"
    return result.file.name, result.content_type


@require_GET
def result_image(request, generation_id, position, variant="original"):
    result = visible_result(request.user, generation_id, position)
    name, content_type = result_file(result, variant)
    filename = ""
    if variant == "original" and name:
        extension = name.rsplit(".", 1)[-1]
        filename = download_name(result.generation, position, extension)
    return serve_file(
        request,
        name,
        content_type,
        filename=filename,
        attachment=variant == "original" and "download" in request.GET,
    )


@require_GET
def reference_image(request, generation_id, position):
    generation = get_generation_for(request.user, generation_id)
    reference = get_object_or_404(generation.references.exclude(file=""), position=position)
    return serve_file(request, reference.file.name, reference.content_type)


@login_not_required
@require_GET
def reference_public(request, token):
    """An uploaded reference, for the upstream to fetch: signed and expiring."""
    reference = services.reference_from_token(token)
    if reference is None:
        raise Http404
    # Streamed even with object storage: the upstream may not follow redirects, nor reach
    # the bucket.
    return serve_file(request, reference.file.name, reference.content_type, to_bucket=False)


@require_GET
def collection_download(request, collection_id):
    """The collection's images this member may see, as one ZIP streamed file by file:
    originals, or the display variant where retention removed the original."""
    collection = get_collection_for(request.user, collection_id)
    entries = []
    for item in collection_service.items_visible_to(collection, request.user):
        generation = item.generation
        for result in generation.results.all():
            name = result.file.name or result.display.name
            if not result.is_stored or not name:
                continue
            extension = name.rsplit(".", 1)[-1]
            entries.append(
                archive.Entry(
                    arcname=download_name(generation, result.position, extension),
                    name=name,
                    modified=generation.created_at,
                )
            )
    response = StreamingHttpResponse(
        archive.stream_zip(entries, lambda name: default_storage.open(name, "rb")),
        content_type="application/zip",
    )
    filename = slugify(collection.name) or "collection"
    response["Content-Disposition"] = f'attachment; filename="{filename}.zip"'
    response["Cache-Control"] = "private, no-store"
    return response
