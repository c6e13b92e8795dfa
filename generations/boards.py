"""Collections: named, ordered sets of generations, owned by a member, seen by the team
or by their owner alone. A collection shows only the items its viewer may see."""

from django.db import IntegrityError, router, transaction
from django.db.models import Max, Prefetch
from django.utils.functional import SimpleLazyObject

from generations import prepared
from generations.galleries import with_cards
from generations.models import Collection, CollectionItem, Generation


def create_collection(owner, name, visibility=Collection.Visibility.TEAM):
    return Collection.objects.create(owner=owner, name=name, visibility=visibility)


def to_pick_from(user):
    """The member's collections as the "add to collection" pickers list them (their id and
    name, in the model's order), read only if the page shows a picker."""
    return SimpleLazyObject(lambda: _collections_to_pick(user))


def _collections_to_pick(user):
    if not user.is_authenticated:
        return []
    db = router.db_for_read(Collection)
    return [Collection.from_db(db, ["id", "name"], row) for row in _TO_PICK.rows((), owner=user.pk)]


_TO_PICK = prepared.Read(
    Collection,
    lambda shape, owner: Collection.objects.filter(owner=owner).values_list("id", "name"),
    owner=Collection._meta.get_field("owner"),
)


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
