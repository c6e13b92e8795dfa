"""The member's side of share links: create, list, revoke."""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from generations import sharing
from generations.forms import ShareForm
from generations.views.common import get_generation_for, get_own_collection, get_share_link_for


@require_POST
def share_create(request):
    form = ShareForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Share one image or one collection."), status=400)
    data = form.cleaned_data
    target = {}
    if data["generation"]:
        # Sharing publishes the image: only its owner may (see sharing.shareable).
        generation = get_generation_for(request.user, data["generation"])
        if not sharing.may_share(request.user, generation):
            raise PermissionDenied
        target["generation"] = generation
    else:
        target["collection"] = get_own_collection(request.user, data["collection"])
    link = sharing.create_share_link(
        request.user,
        **target,
        expires_in=sharing.lifetime_of(data["expires_in"]),
        show_prompts=data["show_prompts"],
        show_author=data["show_author"],
        whole_thread=data["whole_thread"],
        allow_download=data["allow_download"],
    )
    if request.htmx:
        return render(
            request,
            "share/links.html#created",
            {"link": link, "url": sharing.share_url(link, request)},
        )
    return redirect("share_links")


@require_GET
def share_links(request):
    rows = [(link, sharing.share_url(link, request)) for link in sharing.links_of(request.user)]
    return render(request, "share/links.html", {"rows": rows})


@require_POST
def share_revoke(request, link_id):
    link = get_share_link_for(request.user, link_id)
    sharing.revoke_share_link(link)
    return redirect("share_links")
