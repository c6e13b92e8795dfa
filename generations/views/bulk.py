"""Actions on several generations at once (history, gallery, collections): delete, add to
a collection, change who sees them, and download them as one ZIP, streamed."""

import uuid
import zipfile
from collections.abc import Iterator

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from generations import boards as collection_service
from generations import galleries, services
from generations.models import ResultImage
from generations.views.common import generations_for, get_own_collection, safe_next_url
from generations.views.media import download_name

MAX_SELECTED = 500
CHUNK = 64 * 1024


def selected(request):
    """The posted ids this member may see, in the order they were posted."""
    ids = []
    for value in request.POST.getlist("ids")[:MAX_SELECTED]:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    rows = {g.pk: g for g in generations_for(request.user).filter(pk__in=ids)}
    return [rows[pk] for pk in dict.fromkeys(ids) if pk in rows]


@require_POST
def bulk(request):
    generations = selected(request)
    action = request.POST.get("action", "")
    back = safe_next_url(request) or "history"
    if not generations:
        messages.info(request, _("Select some images first."))
        return redirect(back)
    manages = action == "delete" or action.startswith("visibility:")
    if manages and any(not g.is_manageable_by(request.user) for g in generations):
        raise PermissionDenied
    if action == "delete":
        for generation in generations:
            services.delete_generation(generation)
        text = ngettext("Deleted %(n)d image.", "Deleted %(n)d images.", len(generations))
    elif action in ("visibility:team", "visibility:private"):
        value = action.partition(":")[2]
        for generation in generations:
            galleries.set_visibility(generation, value)
        text = ngettext(
            "Changed who sees %(n)d image.", "Changed who sees %(n)d images.", len(generations)
        )
    elif action == "collect":
        try:
            collection_id = uuid.UUID(request.POST.get("collection", ""))
        except ValueError:
            return HttpResponseBadRequest()
        collection = get_own_collection(request.user, collection_id)
        added = sum(collection_service.add_to_collection(collection, g) for g in generations)
        text = ngettext(
            "Added %(n)d image to “%(name)s”.", "Added %(n)d images to “%(name)s”.", added
        )
        messages.success(request, text % {"n": added, "name": collection.name})
        return redirect(back)
    else:
        return HttpResponseBadRequest()
    messages.success(request, text % {"n": len(generations)})
    return redirect(back)


class _Pipe:
    """A write-only file for ZipFile whose bytes are taken out as they come."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.written = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.written += len(data)
        return len(data)

    def tell(self) -> int:
        return self.written

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def zip_stream(results: list[ResultImage]) -> Iterator[bytes]:
    """The stored images as a ZIP, produced piece by piece: memory holds one chunk at a
    time, not the archive. Images are already compressed, so they are stored as they are."""
    pipe = _Pipe()
    used: set[str] = set()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED) as archive:
        for result in results:
            generation = result.generation
            assert result.file.name is not None
            extension = result.file.name.rsplit(".", 1)[-1]
            name = download_name(generation, result.position, extension)
            while name in used:
                name = f"x-{name}"
            used.add(name)
            with result.file.open("rb") as source, archive.open(name, "w") as target:
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    yield pipe.take()
            yield pipe.take()
    yield pipe.take()


@require_POST
def download_zip(request):
    generations = selected(request)
    if not generations:
        messages.info(request, _("Select some images first."))
        return redirect(safe_next_url(request) or "history")
    order = {g.pk: i for i, g in enumerate(generations)}
    results = sorted(
        ResultImage.objects.filter(
            generation__in=[g.pk for g in generations], state=ResultImage.State.STORED
        )
        .exclude(file="")
        .select_related("generation"),
        key=lambda r: (order[r.generation_id], r.position),
    )
    response = StreamingHttpResponse(zip_stream(results), content_type="application/zip")
    response["Content-Disposition"] = 'attachment; filename="banana-images.zip"'
    response["Cache-Control"] = "private, no-store"
    return response
