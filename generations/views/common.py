"""What several pages share: object lookups scoped to who may see them, and safe redirects.

Every lookup answers 404 for an object this user may not see, with no hint that it exists.
"""

import uuid

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from generations.models import Collection, Generation, ResultImage, ShareLink


def generations_for(user):
    return (
        Generation.objects.visible_to(user)
        .select_related("api_task")
        .prefetch_related(Prefetch("results", queryset=ResultImage.objects.defer("source")))
    )


def get_generation_for(user, generation_id):
    return get_object_or_404(generations_for(user), pk=generation_id)


def get_manageable_generation(user, generation_id):
    generation = get_generation_for(user, generation_id)
    if not generation.is_manageable_by(user):
        raise PermissionDenied
    return generation


def get_collection_for(user, collection_id):
    return get_object_or_404(Collection.objects.visible_to(user), pk=collection_id)


def get_own_collection(user, collection_id):
    return get_object_or_404(Collection.objects.owned_by(user), pk=collection_id)


def get_share_link_for(user, link_id):
    return get_object_or_404(ShareLink.objects.filter(owner=user), pk=link_id)


def posted_uuid(request, name):
    """A posted id, or a 404: a malformed id names nothing this member may see."""
    try:
        return uuid.UUID(request.POST.get(name, ""))
    except ValueError:
        raise Http404 from None


def safe_next_url(request):
    """The posted `next` URL, when it stays on this site."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return None


def generation_url(generation):
    return reverse("generation_detail", kwargs={"generation_id": generation.pk})


def permission_denied(request, exception=None):
    """Our 403 page (handler403), the admin's refusals included, in the member's language.
    Without the credits header: a refused request writes nothing, not even the month's
    allowance that rendering the header would credit."""
    return render(request, "403.html", {"credit_summary": None}, status=403)
