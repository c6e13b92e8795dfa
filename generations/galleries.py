"""Galleries: a member's history, the team gallery, their filters and pages, favourites
and who sees a generation.

What a member may see is decided by `Generation.objects.visible_to`; everything here
builds on it, so a generation that becomes private or is deleted disappears from every
gallery of someone who may no longer see it.
"""

import uuid
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Prefetch, Q, Value

from .models import Favourite, Generation, ResultImage


def with_cards(queryset, user):
    """Everything a card needs, in a fixed number of queries however many rows."""
    favourite = (
        Exists(Favourite.objects.filter(user=user, generation=OuterRef("pk")))
        if user.is_authenticated
        else Value(False)
    )
    return (
        queryset.select_related("owner", "api_task")
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


def cursor_of(generation):
    """Where the page after this card starts: its (created_at, pk), as URL-safe text."""
    return f"{generation.created_at.isoformat()}~{generation.pk}"


def _parse_cursor(text):
    try:
        created, pk = (text or "").split("~")
        return datetime.fromisoformat(created), uuid.UUID(pk)
    except ValueError:
        return None


def page_after(queryset, cursor=None, size=None):
    """One page of rows, newest first, after `cursor` (the first page without one), and
    whether another follows. Keyset paging: page 300 costs what page 1 does (no OFFSET),
    and no COUNT query. A malformed cursor means the first page."""
    size = size or settings.BANANA_GALLERY_PAGE_SIZE
    queryset = queryset.order_by("-created_at", "-pk")
    after = _parse_cursor(cursor)
    if after is not None:
        created, pk = after
        queryset = queryset.filter(Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk))
    rows = list(queryset[: size + 1])
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
