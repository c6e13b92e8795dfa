"""Galleries: a member's history, the team gallery, their filters and pages, favourites
and who sees a generation.

What a member may see is decided by `Generation.objects.visible_to`; everything here
builds on it, so a generation that becomes private or is deleted disappears from every
gallery of someone who may no longer see it.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Prefetch, Value

from .models import Favourite, Generation, ResultImage


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
