"""Galleries, the detail page, favourites, collections and share links."""

import uuid

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services, sharing
from .forms import GenerationForm
from .models import Collection, Generation, ResultImage, ShareLink
from .views import _file_response, _home_context, get_generation_for

# --- Forms ---------------------------------------------------------------------------------


class GalleryFilterForm(forms.Form):
    q = forms.CharField(label=gettext_lazy("Search prompts"), required=False, max_length=200)
    member = forms.ModelChoiceField(
        label=gettext_lazy("Member"), required=False, queryset=get_user_model().objects.none()
    )
    model = forms.ChoiceField(label=gettext_lazy("Model"), required=False)
    status = forms.ChoiceField(label=gettext_lazy("Status"), required=False)
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    favourites = forms.BooleanField(label=gettext_lazy("Favourites only"), required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["member"].queryset = get_user_model().objects.filter(is_active=True)
        self.fields["member"].label_from_instance = lambda u: u.get_username()
        self.fields["model"].choices = [("", _("Any"))] + [
            (m.id, m.label) for m in services.model_options()
        ]
        self.fields["status"].choices = [("", _("Any")), *Generation.Status.choices]


class CollectionForm(forms.ModelForm):
    class Meta:
        model = Collection
        fields = ["name", "visibility"]


class ShareForm(forms.Form):
    generation = forms.UUIDField(required=False, widget=forms.HiddenInput)
    collection = forms.UUIDField(required=False, widget=forms.HiddenInput)
    expires_in = forms.ChoiceField(
        label=gettext_lazy("Expires"),
        required=False,
        choices=[
            ("", gettext_lazy("Never")),
            ("1", gettext_lazy("In a day")),
            ("7", gettext_lazy("In a week")),
            ("30", gettext_lazy("In 30 days")),
        ],
    )
    show_prompts = forms.BooleanField(label=gettext_lazy("Show prompts"), required=False)
    show_author = forms.BooleanField(label=gettext_lazy("Show who made them"), required=False)

    def clean(self):
        data = super().clean()
        if bool(data.get("generation")) == bool(data.get("collection")):
            raise forms.ValidationError(_("Share one image or one collection."))
        return data


# --- Lookups: one per model, scoped to who may see it -------------------------------------


def get_collection_for(user, collection_id):
    return get_object_or_404(Collection.objects.visible_to(user), pk=collection_id)


def get_own_collection(user, collection_id):
    return get_object_or_404(Collection.objects.owned_by(user), pk=collection_id)


def get_share_link_for(user, link_id):
    return get_object_or_404(ShareLink.objects.filter(owner=user), pk=link_id)


def get_manageable_generation(user, generation_id):
    generation = get_generation_for(user, generation_id)
    if not sharing.can_manage(user, generation):
        raise PermissionDenied
    return generation


# --- Galleries -----------------------------------------------------------------------------


def _gallery(request, queryset, mode):
    form = GalleryFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    page = sharing.page_number(request.GET.get("page", 1))
    queryset = sharing.apply_filters(queryset, filters, request.user)
    rows, has_more = sharing.page_of(sharing.with_cards(queryset, request.user), page)
    has_more = has_more and page < sharing.MAX_PAGE
    query = request.GET.copy()
    query["page"] = page + 1
    context = {
        "mode": mode,
        "filter_form": form,
        "generations": rows,
        "has_more": has_more,
        "next_url": f"{request.path}?{query.urlencode()}",
        "my_collections": list(Collection.objects.owned_by(request.user).only("pk", "name")),
    }
    # A history restore (htmx found no snapshot of the page) needs the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        if request.htmx.target != "gallery-results":
            return render(request, "generations/gallery.html#page", context)
        return render(request, "generations/gallery.html#results", context)
    return render(request, "generations/gallery.html", context)


@require_GET
def history(request):
    return _gallery(request, sharing.history_for(request.user), "history")


@require_GET
def gallery(request):
    return _gallery(request, sharing.team_gallery_for(request.user), "team")


# --- One generation ------------------------------------------------------------------------


def _detail_context(request, generation):
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
        "can_manage": sharing.can_manage(user, generation),
        "my_collections": collections,
        "in_collections": in_collections,
        "share_form": ShareForm(initial={"generation": generation.pk}),
    }


@require_GET
def detail(request, generation_id):
    generation = get_generation_for(request.user, generation_id)
    return render(request, "generations/detail.html", _detail_context(request, generation))


@require_POST
def favourite(request, generation_id):
    generation = get_generation_for(request.user, generation_id)
    generation.is_favourite = sharing.toggle_favourite(request.user, generation)
    if request.htmx:
        return render(request, "generations/detail.html#favourite", {"generation": generation})
    return redirect(_safe_next(request) or generation_url(generation))


@require_POST
def visibility(request, generation_id):
    generation = get_manageable_generation(request.user, generation_id)
    value = request.POST.get("visibility")
    if value not in Generation.Visibility.values:
        return HttpResponse(status=400)
    sharing.set_visibility(generation, value)
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
        sharing.delete_generation(generation)
        messages.success(request, _("The image was deleted."))
        return redirect("history")
    context = _detail_context(request, generation) | {"confirm_delete": True}
    return render(request, "generations/detail.html", context)


def generation_url(generation):
    return reverse("generation_detail", kwargs={"generation_id": generation.pk})


@require_GET
def remix(request, generation_id):
    original = get_generation_for(request.user, generation_id)
    form = GenerationForm(
        initial={
            "prompt": original.prompt,
            "model": original.model,
            "aspect_ratio": original.aspect_ratio,
            "image_size": original.image_size,
            "visibility": original.visibility,
            "remix_of": original.pk,
        }
    )
    return render(request, "generations/home.html", _home_context(request, form))


@require_GET
def use_as_reference(request, generation_id, position):
    generation = get_generation_for(request.user, generation_id)
    get_object_or_404(generation.results.filter(state=ResultImage.State.STORED), position=position)
    form = GenerationForm(
        initial={
            "model": generation.model,
            "reference_from": generation.pk,
            "reference_position": position,
        }
    )
    return render(request, "generations/home.html", _home_context(request, form))


# --- Collections ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def collections(request):
    form = CollectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        collection = sharing.create_collection(request.user, **form.cleaned_data)
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
        "items": sharing.items_visible_to(collection, request.user),
        "is_owner": collection.owner_id == request.user.pk,
        "rename_form": CollectionForm(instance=collection),
        "share_form": ShareForm(initial={"collection": collection.pk}),
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


def _posted(request, name, cast):
    """A posted id, or a 404: a malformed id names nothing this member may see."""
    try:
        return cast(request.POST.get(name, ""))
    except ValueError:
        raise Http404 from None


def _after_collection_change(request, collection, generation):
    if request.htmx and request.htmx.target == "collections-box":
        return render(
            request,
            "generations/detail.html#collections",
            _detail_context(request, generation),
        )
    return None


@require_POST
def collection_add(request):
    collection = get_own_collection(request.user, _posted(request, "collection", uuid.UUID))
    generation = get_generation_for(request.user, _posted(request, "generation_id", uuid.UUID))
    added = sharing.add_to_collection(collection, generation)
    response = _after_collection_change(request, collection, generation)
    if response:
        return response
    if request.htmx:
        return render(
            request,
            "generations/collection_detail.html#added",
            {"collection": collection, "added": added},
        )
    return redirect(_safe_next(request) or generation_url(generation))


@require_POST
def collection_remove(request, collection_id, generation_id):
    collection = get_own_collection(request.user, collection_id)
    sharing.remove_from_collection(collection, generation_id)
    if request.htmx and request.htmx.target == "collections-box":
        generation = get_generation_for(request.user, generation_id)
        return _after_collection_change(request, collection, generation)
    if request.htmx:
        return HttpResponse("")
    return redirect(_safe_next(request) or reverse("collection_detail", args=[collection.pk]))


def _safe_next(request):
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return None


@require_POST
def collection_move(request, collection_id, generation_id):
    collection = get_own_collection(request.user, collection_id)
    sharing.move_in_collection(collection, generation_id, request.POST.get("direction"))
    if request.htmx:
        return render(
            request,
            "generations/collection_detail.html#items",
            _collection_context(request, collection),
        )
    return redirect("collection_detail", collection_id=collection.pk)


# --- Share links (the member's side) -------------------------------------------------------


@require_POST
def share_create(request):
    form = ShareForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Share one image or one collection."), status=400)
    data = form.cleaned_data
    target = {}
    if data["generation"]:
        # Sharing publishes the image: only its owner (or an admin) may.
        target["generation"] = get_manageable_generation(request.user, data["generation"])
    else:
        target["collection"] = get_own_collection(request.user, data["collection"])
    link = sharing.create_share_link(
        request.user,
        **target,
        expires_in=sharing.EXPIRY_CHOICES.get(data["expires_in"]),
        show_prompts=data["show_prompts"],
        show_author=data["show_author"],
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


# --- The public side -----------------------------------------------------------------------


def _public(response):
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    # A revoked link must stop working at once, also in the visitor's browser cache.
    response["Cache-Control"] = "private, no-cache"
    return response


def _gone(request):
    return _public(render(request, "share/gone.html", status=404))


def _refused():
    return _public(HttpResponse(_("Too many requests."), status=429, content_type="text/plain"))


def _live_share(request, token):
    """The live link, or None after counting a miss (guesses are rate-limited)."""
    link = sharing.live_share(token)
    if link is None:
        sharing.note_share_miss(sharing.client_address(request))
    return link


@login_not_required
@require_GET
def share_page(request, token):
    if sharing.share_guessing_blocked(sharing.client_address(request)):
        return _refused()
    link = _live_share(request, token)
    shown = sharing.shared_generations(link) if link else []
    if link is None or (link.generation_id and not shown):
        return _gone(request)
    sharing.note_share_view(link)
    cards = [(g, r) for g in shown for r in g.results.all()]
    preview = None
    if cards:
        g, r = cards[0]
        preview = sharing.absolute_url(
            reverse("share_image", args=[link.token, g.pk, r.position]), request
        )
    context = {
        "link": link,
        "cards": cards,
        "title": link.collection.name if link.collection_id else _("A shared image"),
        "preview_url": preview,
        "page_url": sharing.share_url(link, request),
    }
    return _public(render(request, "share/page.html", context))


@login_not_required
@require_GET
def share_image(request, token, generation_id, position, variant="original"):
    if sharing.share_guessing_blocked(sharing.client_address(request)):
        return _refused()
    link = _live_share(request, token)
    shown = sharing.shared_generations(link) if link else []
    generation = next((g for g in shown if g.pk == generation_id), None)
    result = generation and next(
        (r for r in generation.results.all() if r.position == position), None
    )
    if result is None:
        return _gone(request)
    if variant == "thumbnail":
        response = _file_response(result.thumbnail, "image/webp")
    else:
        response = _file_response(result.file, result.content_type)
    return _public(response)


urlpatterns = [
    path("history/", history, name="history"),
    path("gallery/", gallery, name="gallery"),
    path("g/<uuid:generation_id>/favourite/", favourite, name="generation_favourite"),
    path("g/<uuid:generation_id>/visibility/", visibility, name="generation_visibility"),
    path("g/<uuid:generation_id>/delete/", delete, name="generation_delete"),
    path("g/<uuid:generation_id>/remix/", remix, name="generation_remix"),
    path(
        "g/<uuid:generation_id>/images/<int:position>/use/",
        use_as_reference,
        name="generation_use_as_reference",
    ),
    path("collections/", collections, name="collections"),
    path("collections/<uuid:collection_id>/", collection_detail, name="collection_detail"),
    path("collections/<uuid:collection_id>/rename/", collection_rename, name="collection_rename"),
    path("collections/<uuid:collection_id>/delete/", collection_delete, name="collection_delete"),
    path("collections/add/", collection_add, name="collection_add"),
    path(
        "collections/<uuid:collection_id>/items/<uuid:generation_id>/remove/",
        collection_remove,
        name="collection_remove",
    ),
    path(
        "collections/<uuid:collection_id>/items/<uuid:generation_id>/move/",
        collection_move,
        name="collection_move",
    ),
    path("links/", share_links, name="share_links"),
    path("links/new/", share_create, name="share_create"),
    path("links/<uuid:link_id>/revoke/", share_revoke, name="share_revoke"),
    path("s/<str:token>/", share_page, name="share_page"),
    path(
        "s/<str:token>/images/<uuid:generation_id>/<int:position>/",
        share_image,
        name="share_image",
    ),
    path(
        "s/<str:token>/images/<uuid:generation_id>/<int:position>/thumbnail/",
        share_image,
        {"variant": "thumbnail"},
        name="share_thumbnail",
    ),
]
