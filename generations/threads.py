"""Edit threads: an image edited by a follow-up prompt becomes the next version of a thread.

An edit is an ordinary generation (same price, same hold, made by `services.create_job`)
whose first reference is a copy of its parent's image and which records its `parent`; all
versions share a `thread_id` (the first version's id). A version whose parent is removed
keeps its copy of the parent's image, and the thread its other versions.

What a member sees of a thread follows `Generation.objects.visible_to`, like everything
else: another member's private versions are left out, of the versions, the branches and
the counts alike; a version is numbered by its place among the versions the viewer sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from generations import services
from generations.models import Generation, ResultImage

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from generations.models import ApiKey, StylePreset


class EditRefused(Exception):
    """The image cannot be edited by this member; str() is for the member."""


def may_edit(user: User | AnonymousUser, generation: Generation) -> bool:
    """Whether a viewer who sees `generation` may make its next version: their own or a
    team-visible one, finished (the rule `editable_image` applies, without a query; it
    also needs the image stored). Cards and the lightbox offer Edit by it."""
    if not user.is_authenticated or generation.status != Generation.Status.SUCCESS:
        return False
    return generation.owner_id == user.pk or generation.visibility == Generation.Visibility.TEAM


def editable_image(
    user: User | AnonymousUser, generation_id: services.GenerationId, position: int = 0
) -> Generation:
    """The generation whose stored image (at `position`) this member may edit: their own or
    a team-visible one, finished with that image stored. Raises EditRefused otherwise
    (with no hint that an image they may not see exists)."""
    try:
        uuid.UUID(str(generation_id))
    except ValueError:
        raise EditRefused(_("The image to edit is no longer available.")) from None
    stored = ResultImage.objects.filter(
        generation=OuterRef("pk"), position=position, state=ResultImage.State.STORED
    ).exclude(file="")
    generation = (
        Generation.objects.reusable_by(user)
        .filter(pk=generation_id, status=Generation.Status.SUCCESS)
        .filter(Exists(stored))
        .first()
    )
    if generation is None:
        raise EditRefused(_("The image to edit is no longer available."))
    return generation


def create_edit(
    user: User,
    parent: Generation,
    *,
    prompt: str,
    references: Iterable[services.ReferenceInput] = (),
    position: int = 0,
    count: int = 1,
    model: str | None = None,
    aspect_ratio: str | None = None,
    image_size: str | None = None,
    visibility: str | None = None,
    api_key: ApiKey | None = None,
    callback_url: str = "",
    base_url: str = "",
    preset: StylePreset | None = None,
    member_prompt: str = "",
) -> list[Generation]:
    """The next version(s) of `parent`'s image: its image first, then the member's own
    references (within the upstream's limit), the parent's settings unless given. Priced,
    held and sent exactly as any generation (`services.create_job`). Raises EditRefused,
    services.ReferencesRefused, credits.CreditError or members.ModelNotAllowed."""
    parent = editable_image(user, parent.pk, position)
    all_references = services.references_for_submit(
        user, references, reference_from=parent.pk, position=position
    )
    return services.create_job(
        user,
        count=count,
        model=model or parent.model,
        prompt=prompt,
        aspect_ratio=parent.aspect_ratio if aspect_ratio is None else aspect_ratio,
        image_size=parent.image_size if image_size is None else image_size,
        references=all_references,
        parent=parent,
        visibility=visibility or parent.visibility,
        api_key=api_key,
        callback_url=callback_url,
        base_url=base_url,
        preset=preset,
        member_prompt=member_prompt,
    )


@dataclass
class Version:
    generation: Generation
    number: int
    # A later version whose parent this viewer cannot see: removed, or private to another.
    parent_missing: bool = False
    branches: list[Generation] = field(default_factory=list)


@dataclass
class Thread:
    """One version's thread as a viewer sees it."""

    current: Generation
    # From the first version the viewer sees to `current`.
    lineage: list[Version]
    # Every version the viewer sees, oldest first.
    versions: list[Generation]

    @property
    def size(self) -> int:
        return len(self.versions)

    @property
    def number(self) -> int:
        return self.lineage[-1].number if self.lineage else 1

    @property
    def parent(self) -> Generation | None:
        return self.lineage[-2].generation if len(self.lineage) > 1 else None

    @property
    def is_thread(self) -> bool:
        return self.size > 1


def _parents_in(thread_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID | None]:
    """Every version of the threads (whoever may see it) with its parent: ids only, to
    link a version to its nearest ancestor the viewer sees past hidden or removed ones."""
    return dict(
        Generation.objects.filter(thread_id__in=list(thread_ids)).values_list("pk", "parent_id")
    )


def _nearest_visible(
    generation: Generation,
    parents: dict[uuid.UUID, uuid.UUID | None],
    visible: dict[uuid.UUID, Generation],
) -> Generation | None:
    ancestor = generation.parent_id
    while ancestor is not None and ancestor not in visible:
        ancestor = parents.get(ancestor)
    return visible.get(ancestor) if ancestor is not None else None


def _numbered(
    rows: Sequence[Generation], parents: dict[uuid.UUID, uuid.UUID | None]
) -> dict[uuid.UUID, int]:
    """Each visible version's number: one more than its nearest visible ancestor's, so the
    numbers count only what the viewer sees."""
    visible = {g.pk: g for g in rows}
    numbers: dict[uuid.UUID, int] = {}
    for generation in rows:  # oldest first: an ancestor is numbered before its descendants
        ancestor = _nearest_visible(generation, parents, visible)
        numbers[generation.pk] = numbers.get(ancestor.pk, 0) + 1 if ancestor is not None else 1
    return numbers


def thread_for(user: User | AnonymousUser, generation: Generation) -> Thread:
    """The thread of `generation` (which the viewer may see) as the viewer may see it."""
    if generation.thread_id is None:
        return Thread(generation, [Version(generation, 1)], [generation])
    rows = list(
        Generation.objects.visible_to(user)
        .filter(thread_id=generation.thread_id)
        .select_related("owner")
        .prefetch_related("results")
        .order_by("created_at", "pk")
    )
    if not any(g.pk == generation.pk for g in rows):
        rows.append(generation)
    parents = _parents_in([generation.thread_id])
    visible = {g.pk: g for g in rows}
    numbers = _numbered(rows, parents)
    up = {g.pk: _nearest_visible(g, parents, visible) for g in rows}
    children: dict[uuid.UUID, list[Generation]] = {}
    for g in rows:
        ancestor = up[g.pk]
        if ancestor is not None:
            children.setdefault(ancestor.pk, []).append(g)
    chain = [generation]
    while (ancestor := up[chain[-1].pk]) is not None:
        chain.append(ancestor)
    chain.reverse()
    lineage = []
    for index, g in enumerate(chain):
        on_path = chain[index + 1].pk if index + 1 < len(chain) else None
        lineage.append(
            Version(
                g,
                numbers[g.pk],
                # Its own parent is gone for this viewer (removed, or another's private one).
                parent_missing=g.pk != g.thread_id and g.parent_id not in visible,
                branches=[c for c in children.get(g.pk, []) if c.pk != on_path],
            )
        )
    return Thread(generation, lineage, rows)


def label_cards(user: User | AnonymousUser, generations: Sequence[Generation]) -> None:
    """Sets `thread_number` and `thread_size` ("v3 of 5") on the cards of thread versions,
    as this viewer sees the threads, with two queries for the page (none without threads)."""
    thread_ids = {g.thread_id for g in generations if g.thread_id}
    for generation in generations:
        generation.thread_number = generation.thread_size = 0
    if not thread_ids:
        return
    rows = list(
        Generation.objects.visible_to(user)
        .filter(thread_id__in=thread_ids)
        .order_by("created_at", "pk")
        .only("pk", "parent_id", "thread_id", "created_at")
    )
    sizes: dict[uuid.UUID | None, int] = {}
    for row in rows:
        sizes[row.thread_id] = sizes.get(row.thread_id, 0) + 1
    numbers = _numbered(rows, _parents_in(thread_ids))
    for generation in generations:
        size = sizes.get(generation.thread_id, 0) if generation.thread_id else 0
        if size > 1 and generation.pk in numbers:
            generation.thread_number = numbers[generation.pk]
            generation.thread_size = size


def newest_of_each_thread(queryset):
    """A gallery with each thread collapsed to its newest version among the gallery's own
    rows (a newer version it does not show, such as a teammate's edit in one's history or
    an edit still running in the team gallery, hides nothing)."""
    newer = queryset.filter(thread_id=OuterRef("thread_id"), created_at__gt=OuterRef("created_at"))
    return queryset.exclude(Exists(newer))
