"""Galleries (the member's history and the team's), and one generation's page with what
can be done to it there: favourite, visibility, delete."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generations import boards as collection_service
from generations import galleries, services, sharing, threads
from generations.forms import GalleryFilterForm, ShareForm
from generations.models import Collection, Generation, ResultImage
from generations.views.common import (
    generation_url,
    get_generation_for,
    get_manageable_generation,
    safe_next_url,
)


def _gallery(request, mode):
    form = GalleryFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    rows, has_more = galleries.card_page(request.user, mode, filters, request.GET.get("after"))
    query = request.GET.copy()
    if rows:
        query["after"] = galleries.cursor_of(rows[-1])
    context = {
        "mode": mode,
        "filter_form": form,
        "generations": rows,
        "has_more": has_more,
        "next_url": f"{request.path}?{query.urlencode()}",
        # A queryset, read only by the pages that show the bulk bar (not "Load more").
        "my_collections": collection_service.to_pick_from(request.user),
    }
    # A history restore (htmx found no snapshot of the page) needs the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        if request.htmx.target != "gallery-results":
            return render(request, "generations/gallery.html#page", context)
        return render(request, "generations/gallery.html#results", context)
    return render(request, "generations/gallery.html", context)


@require_GET
def history(request):
    return _gallery(request, "history")


@require_GET
def gallery(request):
    return _gallery(request, "team")


def detail_context(request, generation):
    user = request.user
    generation.is_favourite = generation.favourites.filter(user=user).exists()
    collections = list(Collection.objects.owned_by(user))
    in_collections = set(
        generation.collection_items.filter(collection__in=collections).values_list(
            "collection_id", flat=True
        )
    )
    return {
        "generation": generation,
        "references": generation.references.all(),
        "can_manage": generation.is_manageable_by(user),
        "can_share": sharing.may_share(user, generation),
        "my_collections": collections,
        "in_collections": in_collections,
        "share_form": ShareForm(initial={"generation": generation.pk}),
        "thread": threads.thread_for(user, generation),
    }


@require_GET
def detail(request, generation_id):
    generation = get_generation_for(request.user, generation_id)
    return render(request, "generations/detail.html", detail_context(request, generation))


@require_GET
def menu(request, generation_id):
    """The actions of one card, loaded when its menu is first opened."""
    generation = get_generation_for(request.user, generation_id)
    generation.is_favourite = generation.favourites.filter(user=request.user).exists()
    current = request.htmx.current_url_abs_path if request.htmx else None
    result = next(
        (r for r in generation.results.all() if r.state == ResultImage.State.STORED), None
    )
    context = {
        "generation": generation,
        "result": result,
        "in_studio": current == reverse("home"),
        "next_url": current or generation_url(generation),
        "my_collections": collection_service.to_pick_from(request.user),
        "can_manage": generation.is_manageable_by(request.user),
        "can_edit": threads.may_edit(request.user, generation),
        "can_share": generation.is_success and sharing.may_share(request.user, generation),
        # Ids of its own: several cards' menus may be open on one page.
        "share_form": ShareForm(
            initial={"generation": generation.pk}, auto_id=f"share-{generation.pk}-%s"
        ),
    }
    return render(request, "components/card_menu.html", context)


@require_POST
def favourite(request, generation_id):
    generation = get_generation_for(request.user, generation_id)
    generation.is_favourite = galleries.toggle_favourite(request.user, generation)
    if request.htmx:
        return render(request, "components/favourite.html", {"generation": generation})
    return redirect(safe_next_url(request) or generation_url(generation))


@require_POST
def visibility(request, generation_id):
    generation = get_manageable_generation(request.user, generation_id)
    value = request.POST.get("visibility")
    if value not in Generation.Visibility.values:
        return HttpResponse(status=400)
    galleries.set_visibility(generation, value)
    if request.htmx:
        return render(
            request,
            "generations/detail.html#visibility",
            {"generation": generation, "can_manage": True},
        )
    return redirect(generation_url(generation))


@require_http_methods(["GET", "POST"])
def delete(request, generation_id):
    generation = get_manageable_generation(request.user, generation_id)
    if request.method == "POST":
        services.delete_generation(generation)
        if request.htmx and request.htmx.current_url_abs_path != generation_url(generation):
            return HttpResponse("")  # the card goes; studio.js tidies an emptied job card
        messages.success(request, _("The image was deleted."))
        if request.htmx:
            response = HttpResponse(status=204)
            response["HX-Location"] = reverse("history")
            return response
        return redirect("history")
    context = detail_context(request, generation) | {"confirm_delete": True}
    return render(request, "generations/detail.html", context)
