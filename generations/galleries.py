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

from generations import credits, prepared, threads
from generations.models import Favourite, Generation, ResultImage


def _with_favourite(queryset, user):
    favourite = (
        Exists(Favourite.objects.filter(user=user, generation=OuterRef("pk")))
        if user.is_authenticated
        else Value(False)
    )
    return queryset.annotate(is_favourite=favourite)


def with_cards(queryset, user):
    """Everything a card needs, in a fixed number of queries however many rows."""
    return _with_favourite(
        queryset.select_related("owner", "api_task").prefetch_related(
            Prefetch("results", queryset=ResultImage.objects.defer("source"))
        ),
        user,
    )


def history_for(user):
    return Generation.objects.visible_to(user).filter(owner=user)


def count_in_flight(user):
    """How many of the member's generations are still on their way."""
    return len(_IN_FLIGHT.rows(user.is_staff, user_pk=user.pk))


def watched_cards(user, ids):
    """The generations of `ids` this member may see, with what their cards need and the
    member's credits (`credits_available`, `credits_held`: the header, should one have
    settled), from one query: the status poll's, the hottest read."""
    if not ids:
        return []
    rows = _WATCHED.rows(user.is_staff, user_pk=user.pk, ids=list(ids))
    return prepared.cards_from_rows(_WATCHED_ANNOTATIONS, rows)


_WATCHED_ANNOTATIONS = ["credits_available", "credits_held"]


def _watched(is_staff, user_pk, ids):
    user = prepared.member(user_pk, is_staff)
    visible = Generation.objects.visible_to(user).filter(pk__in=ids)
    columns = prepared.card_columns(_WATCHED_ANNOTATIONS)
    return credits.with_balances_of(visible, user).values_list(*columns)


_WATCHED = prepared.Read(
    Generation, _watched, user_pk=Generation._meta.get_field("owner"), ids=Generation._meta.pk
)


def _in_flight(is_staff, user_pk):
    user = prepared.member(user_pk, is_staff)
    # Their ids, not COUNT(*): a handful of rows, and a query that can be prepared.
    return history_for(user).in_flight().order_by().values_list("pk")


_IN_FLIGHT = prepared.Read(Generation, _in_flight, user_pk=Generation._meta.get_field("owner"))


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
    queryset = queryset.search(filters.get("q"))
    if filters.get("newest_versions"):
        queryset = threads.newest_of_each_thread(queryset)
    return queryset


def cursor_of(generation):
    """Where the page after this card starts: its (created_at, pk), as URL-safe text."""
    return f"{generation.created_at.isoformat()}~{generation.pk}"


def _parse_cursor(text):
    try:
        created, pk = (text or "").split("~")
        return datetime.fromisoformat(created), uuid.UUID(pk)
    except ValueError:
        return None


def card_page(user, mode, filters=None, cursor=None, size=None):
    """One page of a gallery ("history", the member's own, or "team"), newest first, after
    `cursor` (the first page without one), with everything its cards need, from one query;
    and whether another page follows. Keyset paging: page 300 costs what page 1 does (no
    OFFSET), and no COUNT query. A malformed cursor means the first page. Without filters,
    as most pages are, the query is prepared once per process (prepared.py)."""
    size = size or settings.BANANA_GALLERY_PAGE_SIZE
    created, pk = _parse_cursor(cursor) or (None, None)
    filters = {name: value for name, value in (filters or {}).items() if value}
    shape = (mode, user.is_staff, size + 1)
    if filters:
        rows = _page_query(shape, user.pk, created, pk, filters)
    else:
        rows = _PAGES.rows(shape, user_pk=user.pk, created=created, pk=pk)
    owner = user if mode == "history" else None
    generations = prepared.cards_from_rows(["is_favourite"], rows, owner=owner)[: size + 1]
    threads.label_cards(user, generations[:size])
    return generations[:size], len(generations) > size


def _page_query(shape, user_pk, created=None, pk=None, filters=None):
    mode, is_staff, limit = shape
    user = prepared.member(user_pk, is_staff)
    queryset = history_for(user) if mode == "history" else team_gallery_for(user)
    queryset = apply_filters(queryset, filters or {}, user).order_by("-created_at", "-pk")
    if created is not None:
        # The first condition alone lets the database seek in the created_at index; the
        # second breaks ties between rows made in the same instant.
        queryset = queryset.filter(created_at__lte=created).filter(
            Q(created_at__lt=created) | Q(created_at=created, pk__lt=pk)
        )
    page = Generation.objects.filter(pk__in=queryset.values("pk")[:limit])
    columns = prepared.card_columns(["is_favourite"], owner_name=mode != "history")
    return _with_favourite(page, user).order_by("-created_at", "-pk").values_list(*columns)


_PAGES = prepared.Read(
    Generation,
    _page_query,
    user_pk=Generation._meta.get_field("owner"),
    created=Generation._meta.get_field("created_at"),
    pk=Generation._meta.pk,
)


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


RECENT_PROMPTS = 8


def recent_prompts(user, limit: int = RECENT_PROMPTS) -> list[str]:
    """The member's own latest prompts, newest first, each once (the composer's list)."""
    seen: dict[str, None] = {}
    rows = (
        Generation.objects.filter(owner=user, deleted_at__isnull=True)
        .order_by("-created_at")
        .values_list("prompt", flat=True)[: limit * 8]
    )
    for prompt in rows:
        seen.setdefault(prompt.strip(), None)
        if len(seen) == limit:
            break
    return list(seen)


def images_in_job(generation: Generation) -> int:
    """How many images the submit that made this generation asked for."""
    if generation.job_id is None:
        return 1
    return Generation.objects.filter(job_id=generation.job_id).count()
