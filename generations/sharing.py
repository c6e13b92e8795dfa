"""Galleries, favourites, collections and public share links.

What a member may see is decided by `Generation.objects.visible_to`; everything here
builds on it, so a generation that becomes private or is deleted disappears from every
gallery, collection and share of someone who may no longer see it. What a public link
shows follows its own, stricter rule (`shareable`), with no exception for staff.
"""

import ipaddress
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Max, OuterRef, Prefetch, Q, Value
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import (
    Collection,
    CollectionItem,
    Favourite,
    Generation,
    ReferenceImage,
    ResultImage,
    ShareLink,
)
from .services import ReferenceInput, references_of

# --- Galleries -----------------------------------------------------------------------------


def with_cards(queryset, user):
    """Everything a card needs, in a fixed number of queries however many rows."""
    favourite = (
        Exists(Favourite.objects.filter(user=user, generation=OuterRef("pk")))
        if user.is_authenticated
        else Value(False)
    )
    return (
        queryset.select_related("owner")
        .prefetch_related(Prefetch("results", queryset=ResultImage.objects.defer("source")))
        .annotate(is_favourite=favourite)
    )


def history_for(user):
    return Generation.objects.visible_to(user).filter(owner=user)


def team_gallery_for(user):
    return Generation.objects.visible_to(user).filter(status=Generation.Status.SUCCESS)


def apply_filters(queryset, filters, user):
    """Narrow a gallery by the cleaned data of a GalleryFilterForm."""
    if filters.get("member"):
        queryset = queryset.filter(owner=filters["member"])
    if filters.get("model"):
        queryset = queryset.filter(model=filters["model"])
    if filters.get("status"):
        queryset = queryset.filter(status=filters["status"])
    if filters.get("date_from"):
        queryset = queryset.filter(created_at__date__gte=filters["date_from"])
    if filters.get("date_to"):
        queryset = queryset.filter(created_at__date__lte=filters["date_to"])
    if filters.get("favourites") and user.is_authenticated:
        queryset = queryset.filter(favourites__user=user)
    return queryset.search(filters.get("q"))


# Deeper pages are refused: an OFFSET beyond the database's integers is a server error.
MAX_PAGE = 10_000


def page_number(value):
    """The 1-based page a ?page= asks for, clamped to 1..MAX_PAGE (1 when malformed)."""
    try:
        page = int(value)
    except (TypeError, ValueError):
        return 1
    return min(max(page, 1), MAX_PAGE)


def page_of(queryset, page, size=None):
    """One page of rows and whether another follows, without a COUNT query."""
    size = size or settings.BANANA_GALLERY_PAGE_SIZE
    start = (page - 1) * size
    rows = list(queryset.order_by("-created_at", "-pk")[start : start + size + 1])
    return rows[:size], len(rows) > size


# --- One generation ------------------------------------------------------------------------


def can_manage(user, generation):
    return user.is_authenticated and (user.is_staff or generation.owner_id == user.pk)


def toggle_favourite(user, generation):
    """Returns whether the generation is now a favourite."""
    deleted, _details = Favourite.objects.filter(user=user, generation=generation).delete()
    if deleted:
        return False
    try:
        with transaction.atomic():
            Favourite.objects.create(user=user, generation=generation)
    except IntegrityError:
        pass  # A double click: the other request already added it.
    return True


def set_visibility(generation, visibility):
    Generation.objects.filter(pk=generation.pk).update(visibility=visibility)
    generation.visibility = visibility


def delete_generation(generation):
    """Soft delete: the row (and the ledger's entries about it) stay, the images go."""
    with transaction.atomic():
        changed = Generation.objects.filter(pk=generation.pk, deleted_at__isnull=True).update(
            deleted_at=timezone.now()
        )
        if changed:
            transaction.on_commit(lambda: remove_files(generation.pk))
    return bool(changed)


def remove_files(generation_id):
    names = []
    for result in ResultImage.objects.filter(generation_id=generation_id):
        names += [f.name for f in (result.file, result.thumbnail) if f]
    # Results still waiting are marked failed, so the storer never brings them back.
    ResultImage.objects.filter(generation_id=generation_id).update(
        file="", thumbnail="", state=ResultImage.State.FAILED, source=""
    )
    for reference in ReferenceImage.objects.filter(generation_id=generation_id):
        if reference.file:
            names.append(reference.file.name)
    ReferenceImage.objects.filter(generation_id=generation_id).delete()
    for name in names:
        default_storage.delete(name)


def references_for(user, form):
    """The references of a new generation: those a remix or "use as reference" inherits
    (only from generations this user may see), then the form's own. None, with an error
    on the form, when they cannot be used."""
    data = form.cleaned_data
    visible = Generation.objects.visible_to(user)
    inherited = []
    if data.get("remix_of"):
        original = visible.filter(pk=data["remix_of"]).first()
        if original is None:
            form.add_error(None, _("The image to remix is no longer available."))
            return None
        inherited += references_of(original)
    if data.get("reference_from"):
        result = (
            ResultImage.objects.filter(
                generation__in=visible,
                generation_id=data["reference_from"],
                position=data.get("reference_position") or 0,
                state=ResultImage.State.STORED,
            )
            .exclude(file="")
            .first()
        )
        if result is None:
            form.add_error(None, _("The reference image is no longer available."))
            return None
        inherited.append(result_as_reference(result))
    references = inherited + form.references()
    if len(references) > settings.BANANA_MAX_REFERENCES:
        form.add_error(
            None,
            _("At most %(max)d reference images in all.") % {"max": settings.BANANA_MAX_REFERENCES},
        )
        return None
    return references


def result_as_reference(result):
    with result.file.open("rb") as fh:
        content = fh.read()
    return ReferenceInput(
        content=content,
        extension=result.file.name.rsplit(".", 1)[-1],
        content_type=result.content_type,
        width=result.width,
        height=result.height,
    )


# --- Collections ---------------------------------------------------------------------------


def create_collection(owner, name, visibility=Collection.Visibility.TEAM):
    return Collection.objects.create(owner=owner, name=name, visibility=visibility)


def items_visible_to(collection, user):
    """The collection's items this viewer may see, in order, ready for cards."""
    generations = with_cards(Generation.objects.visible_to(user), user)
    return (
        collection.items.filter(generation__in=Generation.objects.visible_to(user))
        .select_related(None)
        .prefetch_related(Prefetch("generation", queryset=generations))
        .order_by("position", "pk")
    )


def add_to_collection(collection, generation):
    """Returns True when added, False when it was already there."""
    next_position = (collection.items.aggregate(m=Max("position"))["m"] or 0) + 1
    try:
        with transaction.atomic():
            CollectionItem.objects.create(
                collection=collection, generation=generation, position=next_position
            )
    except IntegrityError:
        return False
    return True


def remove_from_collection(collection, generation_id):
    return bool(collection.items.filter(generation_id=generation_id).delete()[0])


def move_in_collection(collection, generation_id, direction):
    """Swap an item with its neighbour above ("up") or below ("down")."""
    with transaction.atomic():
        items = list(collection.items.select_for_update().order_by("position", "pk"))
        index = next((i for i, it in enumerate(items) if it.generation_id == generation_id), None)
        if index is None:
            return False
        other = index - 1 if direction == "up" else index + 1
        if not 0 <= other < len(items):
            return False
        items[index], items[other] = items[other], items[index]
        # Renumber densely: positions may have gaps or ties after removals.
        for position, item in enumerate(items, start=1):
            item.position = position
        CollectionItem.objects.bulk_update(items, ["position"])
    return True


# --- Share links ---------------------------------------------------------------------------

EXPIRY_CHOICES = {
    "": None,
    "1": timedelta(days=1),
    "7": timedelta(days=7),
    "30": timedelta(days=30),
}


def create_share_link(
    owner,
    *,
    generation=None,
    collection=None,
    expires_in=None,
    show_prompts=False,
    show_author=False,
):
    return ShareLink.objects.create(
        owner=owner,
        generation=generation,
        collection=collection,
        expires_at=timezone.now() + expires_in if expires_in else None,
        show_prompts=show_prompts,
        show_author=show_author,
    )


def revoke_share_link(link):
    ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def share_url(link, request=None):
    path = reverse("share_page", kwargs={"token": link.token})
    return absolute_url(path, request)


def absolute_url(path, request=None):
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + path
    return request.build_absolute_uri(path) if request is not None else path


def live_share(token):
    """The link, if it is live and its owner still an active member."""
    return (
        ShareLink.objects.live()
        .filter(owner__is_active=True)
        .select_related("owner", "generation", "collection")
        .filter(token=token)
        .first()
    )


def shareable(owner, prefix=""):
    """The rule for what a link of `owner` may show, as a Q on Generation (or, with a
    prefix such as "generation__", on a model pointing at one): finished, not deleted,
    and either the sharer's own (private ones too: they chose to share them) or visible
    to the team. No staff exception: an admin's share must not outlive the owner's
    decision to make an image private. `owner` may be a user, a pk or an OuterRef."""

    def field(name):
        return prefix + name

    return Q(**{field("deleted_at__isnull"): True, field("status"): Generation.Status.SUCCESS}) & (
        Q(**{field("owner"): owner}) | Q(**{field("visibility"): Generation.Visibility.TEAM})
    )


def shared_generations(link):
    """Exactly what a link shows, in order (see `shareable`)."""
    visible = (
        Generation.objects.filter(shareable(link.owner_id))
        .select_related("owner")
        .prefetch_related(
            Prefetch(
                "results",
                queryset=ResultImage.objects.defer("source").filter(state=ResultImage.State.STORED),
            )
        )
    )
    if link.generation_id:
        return list(visible.filter(pk=link.generation_id))
    ordered = link.collection.items.order_by("position", "pk").values_list(
        "generation_id", flat=True
    )
    rows = visible.in_bulk(list(ordered))
    return [rows[pk] for pk in ordered if pk in rows]


def links_of(user):
    """The member's links for "My share links", each annotated, in a fixed number of
    queries: `target_visible` (the member may still see the shared generation; always
    true for a collection, which only its owner shares) and `shows_something` (the
    public page would show at least one image)."""
    owner = OuterRef("owner_id")
    generation_shows = Generation.objects.filter(shareable(owner), pk=OuterRef("generation_id"))
    collection_shows = CollectionItem.objects.filter(
        shareable(owner, prefix="generation__"), collection_id=OuterRef("collection_id")
    )
    generation_visible = Generation.objects.visible_to(user).filter(pk=OuterRef("generation_id"))
    return (
        ShareLink.objects.filter(owner=user)
        .select_related("generation", "collection")
        .annotate(
            target_visible=Q(collection__isnull=False) | Exists(generation_visible),
            shows_something=Exists(generation_shows) | Exists(collection_shows),
        )
    )


def client_address(request):
    """The visitor's address, for rate limits. Behind our TLS proxy REMOTE_ADDR is the
    proxy's: the visitor is then the rightmost X-Forwarded-For entry, the one our proxy
    appended (entries to its left come from the client and may be forged)."""
    if getattr(settings, "BEHIND_TLS_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            try:  # It becomes part of a cache key: only ever a plain address.
                return str(ipaddress.ip_address(hops[-1]))
            except ValueError:
                pass
    return request.META.get("REMOTE_ADDR", "")


def note_share_view(link):
    ShareLink.objects.filter(pk=link.pk).update(view_count=F("view_count") + 1)


def _miss_key(address):
    return f"share-miss:{address}:{int(time.time() // 60)}"


def share_guessing_blocked(address):
    return cache.get(_miss_key(address), 0) >= settings.BANANA_SHARE_MISSES_PER_MINUTE


def note_share_miss(address):
    key = _miss_key(address)
    cache.add(key, 0, timeout=120)
    try:
        cache.incr(key)
    except ValueError:  # Expired between add and incr.
        cache.set(key, 1, timeout=120)
