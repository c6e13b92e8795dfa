"""Share links: public, revocable links to one generation or one collection.

What a public link shows follows its own, stricter rule (`shareable`), with no exception
for staff.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, F, OuterRef, Prefetch, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from generations.models import CollectionItem, Generation, ResultImage, ShareLink

# How long a new link lives: the form's choices and the lifetimes, in one place.
LINK_LIFETIMES = {
    "": (gettext_lazy("Never"), None),
    "1": (gettext_lazy("In a day"), timedelta(days=1)),
    "7": (gettext_lazy("In a week"), timedelta(days=7)),
    "30": (gettext_lazy("In 30 days"), timedelta(days=30)),
}


def lifetime_choices():
    return [(key, label) for key, (label, _lifetime) in LINK_LIFETIMES.items()]


def lifetime_of(choice):
    return LINK_LIFETIMES.get(choice, (None, None))[1]


def create_share_link(
    owner,
    *,
    generation=None,
    collection=None,
    expires_in=None,
    show_prompts=False,
    show_author=False,
    whole_thread=False,
    allow_download=False,
):
    return ShareLink.objects.create(
        owner=owner,
        generation=generation,
        collection=collection,
        expires_at=timezone.now() + expires_in if expires_in else None,
        show_prompts=show_prompts,
        show_author=show_author,
        # Only a version of an edit thread has versions that led to it.
        whole_thread=whole_thread and generation is not None and generation.thread_id is not None,
        allow_download=allow_download,
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
    """The one rule for what a link of `owner` may show, for an image and a collection
    alike: the sharer's own generations (private ones too: they chose to share them),
    finished and not deleted. Nobody publishes a teammate's image, admins included; a
    collection with teammates' images shows only the sharer's. As a Q on Generation (or,
    with a prefix such as "generation__", on a model pointing at one); `owner` may be a
    user, a pk or an OuterRef."""

    def field(name):
        return prefix + name

    return Q(
        **{
            field("deleted_at__isnull"): True,
            field("status"): Generation.Status.SUCCESS,
            field("owner"): owner,
        }
    )


def may_share(user, generation):
    return user.is_authenticated and generation.owner_id == user.pk


def left_out_of_share(collection, owner):
    """How many of a collection's finished images a share of `owner` would not show."""
    items = collection.items.filter(
        generation__deleted_at__isnull=True, generation__status=Generation.Status.SUCCESS
    )
    return items.exclude(shareable(owner, prefix="generation__")).count()


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
    if link.generation_id and link.whole_thread:
        return _shared_thread(link, visible)
    if link.generation_id:
        return list(visible.filter(pk=link.generation_id))
    ordered = link.collection.items.order_by("position", "pk").values_list(
        "generation_id", flat=True
    )
    rows = visible.in_bulk(list(ordered))
    return [rows[pk] for pk in ordered if pk in rows]


def _shared_thread(link, visible):
    """An edit thread's link (generations/threads.py): the versions from the first to the
    shared one, oldest first, the sharer's own only (as a collection shows them)."""
    thread_id = link.generation.thread_id
    parents = dict(Generation.objects.filter(thread_id=thread_id).values_list("pk", "parent_id"))
    path = [link.generation_id]
    while parents.get(path[-1]):
        path.append(parents[path[-1]])
    rows = visible.in_bulk(path)
    if link.generation_id not in rows:
        return []  # the shared version itself is gone: so is the link's page
    return [rows[pk] for pk in reversed(path) if pk in rows]


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


# A browser that opened a link carries a signed cookie for it, scoped to the link's path, so
# its later views write nothing: `view_count` counts visitors (browsers), not page loads.
VISITOR_COOKIE_SALT = "generations.share_visitor"
VISITOR_COOKIE_MAX_AGE = int(timedelta(days=365).total_seconds())


def visitor_cookie_name(link):
    return f"shared_{link.pk.hex}"


def note_share_visitor(link):
    """Count a browser opening the link for the first time."""
    ShareLink.objects.filter(pk=link.pk).update(view_count=F("view_count") + 1)
