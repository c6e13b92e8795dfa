"""Collections: create, rename, add, remove, reorder; who sees what."""

import pytest
from django.urls import reverse

from generations.boards import add_to_collection
from generations.models import Collection, CollectionItem

from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def collection(member):
    return Collection.objects.create(owner=member, name="Moons")


def order_of(collection):
    return list(collection.items.order_by("position", "pk").values_list("generation_id", flat=True))


def test_member_creates_a_collection(member_client, member):
    response = member_client.post(reverse("collections"), {"name": "Bananas", "visibility": "team"})

    collection = Collection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("collection_detail", args=[collection.pk])
    assert collection.owner == member


def test_owner_renames_a_collection_and_teammate_cannot(client, member, teammate, collection):
    client.force_login(member)
    url = reverse("collection_rename", args=[collection.pk])
    assert client.post(url, {"name": "Suns", "visibility": "team"}).status_code == 302
    collection.refresh_from_db()
    assert collection.name == "Suns"

    client.force_login(teammate)
    assert client.post(url, {"name": "Mine now", "visibility": "team"}).status_code == 404
    collection.refresh_from_db()
    assert collection.name == "Suns"


def test_add_over_htmx_from_a_gallery_card_answers_a_status(member_client, member, collection):
    g = make_generation(member)

    response = member_client.post(
        reverse("collection_add"),
        {"collection": collection.pk, "generation_id": str(g.pk)},
        headers={"HX-Request": "true", "HX-Target": "add-status"},
    )

    assert response.status_code == 200
    assert "Added to" in response.text
    assert "<html" not in response.text
    assert order_of(collection) == [g.pk]
    again = member_client.post(
        reverse("collection_add"),
        {"collection": collection.pk, "generation_id": str(g.pk)},
        headers={"HX-Request": "true"},
    )
    assert "Already in" in again.text
    assert collection.items.count() == 1


def test_add_and_remove_from_the_detail_page_rerender_its_collections_box(
    member_client, member, collection
):
    g = make_generation(member)
    headers = {"HX-Request": "true", "HX-Target": "collections-box"}

    added = member_client.post(
        reverse("collection_add"),
        {"collection": collection.pk, "generation_id": str(g.pk)},
        headers=headers,
    )
    assert 'id="collections-box"' in added.text
    assert reverse("collection_remove", args=[collection.pk, g.pk]) in added.text

    removed = member_client.post(
        reverse("collection_remove", args=[collection.pk, g.pk]), headers=headers
    )
    assert 'id="collections-box"' in removed.text
    assert not collection.items.exists()


def test_add_without_javascript_redirects_back(member_client, member, collection):
    g = make_generation(member)

    response = member_client.post(
        reverse("collection_add"),
        {"collection": collection.pk, "generation_id": str(g.pk), "next": "https://evil.example/"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("generation_detail", args=[g.pk])


def test_cannot_add_to_someone_elses_collection_or_add_an_unseen_image(
    client, member, teammate, collection
):
    private = make_generation(teammate, visibility="private")
    mine = make_generation(member)

    client.force_login(member)
    data = {"collection": collection.pk, "generation_id": str(private.pk)}
    assert client.post(reverse("collection_add"), data).status_code == 404
    client.force_login(teammate)
    data = {"collection": collection.pk, "generation_id": str(mine.pk)}
    assert client.post(reverse("collection_add"), data).status_code == 404
    assert client.post(reverse("collection_add"), {"collection": "x"}).status_code == 404
    assert not CollectionItem.objects.exists()


def test_reorder_moves_an_item_up_and_down(member_client, member, collection):
    a, b, c = (make_generation(member, prompt=p) for p in "abc")
    for g in (a, b, c):
        add_to_collection(collection, g)

    member_client.post(reverse("collection_move", args=[collection.pk, c.pk]), {"direction": "up"})
    assert order_of(collection) == [a.pk, c.pk, b.pk]

    response = member_client.post(
        reverse("collection_move", args=[collection.pk, a.pk]),
        {"direction": "down"},
        headers={"HX-Request": "true"},
    )
    assert order_of(collection) == [c.pk, a.pk, b.pk]
    assert 'id="collection-items"' in response.text

    member_client.post(reverse("collection_move", args=[collection.pk, c.pk]), {"direction": "up"})
    assert order_of(collection) == [c.pk, a.pk, b.pk]


def test_remove_over_htmx_answers_nothing_to_swap_in(member_client, member, collection):
    g = make_generation(member)
    add_to_collection(collection, g)

    response = member_client.post(
        reverse("collection_remove", args=[collection.pk, g.pk]),
        headers={"HX-Request": "true", "HX-Target": f"item-{g.pk}"},
    )

    assert response.status_code == 200
    assert response.text == ""
    assert not collection.items.exists()


def test_teammate_views_a_team_collection_but_not_a_private_one(
    client, member, teammate, collection
):
    secret = Collection.objects.create(owner=member, name="Secret", visibility="private")
    client.force_login(teammate)

    assert client.get(reverse("collection_detail", args=[collection.pk])).status_code == 200
    assert client.get(reverse("collection_detail", args=[secret.pk])).status_code == 404
    listing = client.get(reverse("collections"))
    assert "Moons" in listing.text
    assert "Secret" not in listing.text


def test_collection_shows_viewers_only_items_they_may_see(client, member, teammate, admin_user):
    collection = Collection.objects.create(owner=teammate, name="Mixed")
    shown = make_generation(member, prompt="team image")
    hidden = make_generation(teammate, prompt="private image", visibility="private")
    gone = make_generation(teammate, prompt="deleted image")
    for g in (shown, hidden, gone):
        add_to_collection(collection, g)
    gone.deleted_at = gone.created_at
    gone.save()

    client.force_login(member)
    text = client.get(reverse("collection_detail", args=[collection.pk])).text
    assert "team image" in text
    assert "private image" not in text and str(hidden.pk) not in text
    assert "deleted image" not in text

    client.force_login(teammate)
    text = client.get(reverse("collection_detail", args=[collection.pk])).text
    assert "private image" in text
    assert "deleted image" not in text


def test_anonymous_cannot_see_a_collection(client, collection):
    response = client.get(reverse("collection_detail", args=[collection.pk]))
    assert response.status_code == 302


def test_owner_deletes_a_collection_but_not_the_images(member_client, member, collection):
    g = make_generation(member)
    add_to_collection(collection, g)

    member_client.post(reverse("collection_delete", args=[collection.pk]))

    assert not Collection.objects.exists()
    g.refresh_from_db()
    assert g.deleted_at is None
