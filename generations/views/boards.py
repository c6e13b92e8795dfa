"""Collections: the list, one collection's page, and changing what is in it."""

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from generations import boards as collection_service
from generations import sharing
from generations.forms import CollectionForm, ShareForm
from generations.models import Collection
from generations.views.common import (
    generation_url,
    get_collection_for,
    get_generation_for,
    get_own_collection,
    posted_uuid,
    safe_next_url,
)
from generations.views.gallery import detail_context


@require_http_methods(["GET", "POST"])
def collections(request):
    form = CollectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        collection = collection_service.create_collection(request.user, **form.cleaned_data)
        return redirect("collection_detail", collection_id=collection.pk)
    visible = Collection.objects.visible_to(request.user).select_related("owner")
    return render(
        request,
        "generations/collections.html",
        {"form": form, "collections": visible},
        status=400 if form.errors else 200,
    )


@require_GET
def collection_detail(request, collection_id):
    collection = get_collection_for(request.user, collection_id)
    return render(
        request, "generations/collection_detail.html", _collection_context(request, collection)
    )


def _collection_context(request, collection, **extra):
    return {
        "collection": collection,
        "items": collection_service.items_visible_to(collection, request.user),
        "is_owner": collection.owner_id == request.user.pk,
        "rename_form": CollectionForm(instance=collection),
        "share_form": ShareForm(initial={"collection": collection.pk}),
        "left_out_of_share": sharing.left_out_of_share(collection, request.user),
        "my_collections": collection_service.to_pick_from(request.user),
        **extra,
    }


@require_POST
def collection_rename(request, collection_id):
    collection = get_own_collection(request.user, collection_id)
    form = CollectionForm(request.POST, instance=collection)
    if form.is_valid():
        form.save()
        return redirect("collection_detail", collection_id=collection.pk)
    context = _collection_context(request, collection, rename_form=form)
    return render(request, "generations/collection_detail.html", context, status=400)


@require_POST
def collection_delete(request, collection_id):
    get_own_collection(request.user, collection_id).delete()
    return redirect("collections")


def _collections_box(request, generation):
    """The detail page's collection box, when that is what asked for the change."""
    if request.htmx and request.htmx.target == "collections-box":
        return render(
            request, "generations/detail.html#collections", detail_context(request, generation)
        )
    return None


@require_POST
def collection_add(request):
    collection = get_own_collection(request.user, posted_uuid(request, "collection"))
    generation = get_generation_for(request.user, posted_uuid(request, "generation_id"))
    added = collection_service.add_to_collection(collection, generation)
    response = _collections_box(request, generation)
    if response:
        return response
    if request.htmx:
        return render(
            request,
            "generations/collection_detail.html#added",
            {"collection": collection, "added": added},
        )
    return redirect(safe_next_url(request) or generation_url(generation))


@require_POST
def collection_remove(request, collection_id, generation_id):
    collection = get_own_collection(request.user, collection_id)
    collection_service.remove_from_collection(collection, generation_id)
    if request.htmx and request.htmx.target == "collections-box":
        return _collections_box(request, get_generation_for(request.user, generation_id))
    if request.htmx:
        return HttpResponse("")
    return redirect(safe_next_url(request) or reverse("collection_detail", args=[collection.pk]))


@require_POST
def collection_move(request, collection_id, generation_id):
    collection = get_own_collection(request.user, collection_id)
    collection_service.move_in_collection(collection, generation_id, request.POST.get("direction"))
    if request.htmx:
        return render(
            request,
            "generations/collection_detail.html#items",
            _collection_context(request, collection),
        )
    return redirect("collection_detail", collection_id=collection.pk)
