"""Public share links: exactly what was shared, to anyone holding the token, until revoked."""

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from generations.models import Collection, ShareLink
from generations.sharing import add_to_collection, create_share_link

from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shared_collection(member, teammate):
    collection = Collection.objects.create(owner=member, name="Best moons")
    one = make_generation(member, prompt="moon one, secret sauce")
    two = make_generation(teammate, prompt="moon two by tae")
    for g in (one, two):
        add_to_collection(collection, g)
    return collection, one, two


def page(client, link):
    return client.get(reverse("share_page", args=[link.token]))


# --- Creating, listing, revoking -----------------------------------------------------------


def test_member_shares_a_collection_and_gets_the_link(member_client, member, shared_collection):
    collection, *_ = shared_collection

    response = member_client.post(
        reverse("share_create"),
        {"collection": collection.pk, "expires_in": "7", "show_prompts": "on"},
        headers={"HX-Request": "true"},
    )

    link = ShareLink.objects.get()
    assert link.owner == member and link.collection == collection
    assert link.show_prompts and not link.show_author
    assert link.expires_at > timezone.now() + timedelta(days=6)
    assert 'class="share-url"' in response.text
    assert reverse("share_page", args=[link.token]) in response.text


def test_share_link_url_uses_the_public_base_url(member_client, member, settings):
    settings.PUBLIC_BASE_URL = "https://banana.example.com"
    g = make_generation(member)
    link = create_share_link(member, generation=g)

    response = member_client.get(reverse("share_links"))

    assert f"https://banana.example.com/s/{link.token}/" in response.text


def test_collection_page_has_a_share_form_for_its_owner(member_client, shared_collection):
    collection, *_ = shared_collection
    response = member_client.get(reverse("collection_detail", args=[collection.pk]))
    assert reverse("share_create") in response.text
    assert f'name="collection" value="{collection.pk}"' in response.text


def test_member_cannot_share_what_they_may_not_see(member_client, teammate):
    private = make_generation(teammate, visibility="private")
    theirs = Collection.objects.create(owner=teammate, name="Theirs")

    assert (
        member_client.post(reverse("share_create"), {"generation": private.pk}).status_code == 404
    )
    assert member_client.post(reverse("share_create"), {"collection": theirs.pk}).status_code == 404
    assert member_client.post(reverse("share_create"), {}).status_code == 400
    assert not ShareLink.objects.exists()


def test_links_page_lists_my_links_with_view_counts_and_revoke(client, member, teammate):
    g = make_generation(member)
    mine = create_share_link(member, generation=g)
    theirs = create_share_link(teammate, generation=make_generation(teammate))
    page(client, mine)
    page(client, mine)

    client.force_login(member)
    response = client.get(reverse("share_links"))

    assert mine.token in response.text
    assert theirs.token not in response.text
    assert 'class="views">2<' in response.text
    assert ">Revoke<" in response.text


def test_revoked_link_answers_404_at_once(client, member):
    link = create_share_link(member, generation=make_generation(member))
    assert page(client, link).status_code == 200

    client.force_login(member)
    client.post(reverse("share_revoke", args=[link.pk]))
    client.logout()

    gone = page(client, link)
    assert gone.status_code == 404
    assert "Not found" in gone.text
    assert gone["Referrer-Policy"] == "no-referrer"
    image = client.get(reverse("share_image", args=[link.token, link.generation_id, 0]))
    assert image.status_code == 404


def test_only_the_owner_may_revoke_a_link(client, member, teammate):
    link = create_share_link(member, generation=make_generation(member))
    client.force_login(teammate)

    assert client.post(reverse("share_revoke", args=[link.pk])).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None


def test_expired_link_fails(client, member):
    link = create_share_link(
        member, generation=make_generation(member), expires_in=timedelta(days=1)
    )
    assert page(client, link).status_code == 200

    with time_machine.travel(timezone.now() + timedelta(days=1, seconds=1)):
        assert page(client, link).status_code == 404
        thumb = client.get(reverse("share_thumbnail", args=[link.token, link.generation_id, 0]))
        assert thumb.status_code == 404


def test_tokens_are_long_unique_and_random(member):
    g = make_generation(member)
    tokens = {create_share_link(member, generation=g).token for _ in range(50)}

    assert len(tokens) == 50
    # token_urlsafe(32): 32 random bytes, 256 bits, 43 characters.
    assert all(len(t) >= 43 for t in tokens)


# --- The public page -----------------------------------------------------------------------


def test_public_page_shows_exactly_the_shared_collection_and_withholds_fields(
    client, member, teammate, shared_collection
):
    collection, one, two = shared_collection
    other = make_generation(member, prompt="not shared")
    link = create_share_link(member, collection=collection)

    response = page(client, link)

    assert response.status_code == 200
    text = response.text
    for g in (one, two):
        assert reverse("share_thumbnail", args=[link.token, g.pk, 0]) in text
    assert str(other.pk) not in text
    assert "secret sauce" not in text and "moon two by tae" not in text
    for name in ("mina", "tae", "mina@example.com", "tae@example.com"):
        assert name not in text
    assert reverse("gallery") not in text and reverse("home") + "g/" not in text
    assert "/g/" not in text and "/history/" not in text and "/collections/" not in text


def test_public_page_shows_prompts_and_authors_when_the_sharer_chose_so(
    client, shared_collection, member
):
    collection, *_ = shared_collection
    link = create_share_link(member, collection=collection, show_prompts=True, show_author=True)

    text = page(client, link).text

    assert "moon one, secret sauce" in text
    assert "tae" in text and "mina" in text
    assert "@example.com" not in text


def test_public_page_sends_privacy_headers_and_preview_tags(client, member, settings):
    settings.PUBLIC_BASE_URL = "https://banana.example.com"
    g = make_generation(member)
    link = create_share_link(member, generation=g)

    response = page(client, link)

    assert response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"]
    image_url = "https://banana.example.com" + reverse("share_image", args=[link.token, g.pk, 0])
    assert f'<meta property="og:image" content="{image_url}">' in response.text
    assert f'<meta name="twitter:image" content="{image_url}">' in response.text
    assert 'name="twitter:card" content="summary_large_image"' in response.text


def test_public_page_does_not_use_the_apps_navigation(client, member):
    link = create_share_link(member, generation=make_generation(member))
    text = page(client, link).text
    assert "Log out" not in text
    assert reverse("logout") not in text


def test_shared_images_are_served_through_the_token_only_for_shared_generations(
    client, member, shared_collection
):
    collection, one, _ = shared_collection
    other = make_generation(member)
    link = create_share_link(member, collection=collection)

    original = client.get(reverse("share_image", args=[link.token, one.pk, 0]))
    assert original.status_code == 200
    assert original["Content-Type"] == "image/png"
    assert original["Referrer-Policy"] == "no-referrer"
    assert "no-cache" in original["Cache-Control"]
    thumb = client.get(reverse("share_thumbnail", args=[link.token, one.pk, 0]))
    assert thumb.status_code == 200
    assert client.get(reverse("share_image", args=[link.token, other.pk, 0])).status_code == 404
    assert client.get(reverse("share_image", args=[link.token, one.pk, 5])).status_code == 404
    # And without the token, nothing.
    assert client.get(reverse("result_image", args=[one.pk, 0])).status_code == 302


def test_deleted_items_disappear_from_a_collection_share(client, member, shared_collection):
    collection, one, two = shared_collection
    link = create_share_link(member, collection=collection)
    one.deleted_at = timezone.now()
    one.save()

    text = page(client, link).text

    assert str(one.pk) not in text
    assert str(two.pk) in text
    assert client.get(reverse("share_image", args=[link.token, one.pk, 0])).status_code == 404


def test_private_generation_shared_by_its_owner_stays_visible(client, member):
    g = make_generation(member, visibility="private")
    link = create_share_link(member, generation=g)

    assert page(client, link).status_code == 200
    assert client.get(reverse("share_image", args=[link.token, g.pk, 0])).status_code == 200


def test_share_of_a_deleted_generation_answers_404(client, member):
    g = make_generation(member)
    link = create_share_link(member, generation=g)
    g.deleted_at = timezone.now()
    g.save()

    assert page(client, link).status_code == 404


def test_teammates_share_stops_when_the_owner_makes_the_image_private(client, member, teammate):
    g = make_generation(member)
    link = create_share_link(teammate, generation=g)
    g.visibility = "private"
    g.save()

    assert page(client, link).status_code == 404


def test_public_page_counts_views(client, member):
    link = create_share_link(member, generation=make_generation(member))
    page(client, link)
    page(client, link)
    link.refresh_from_db()
    assert link.view_count == 2


def test_guessing_tokens_is_rate_limited(client, member, settings):
    settings.BANANA_SHARE_MISSES_PER_MINUTE = 5
    link = create_share_link(member, generation=make_generation(member))

    for i in range(5):
        assert client.get(reverse("share_page", args=[f"guess{i}"])).status_code == 404

    assert client.get(reverse("share_page", args=["guess-more"])).status_code == 429
    # Even a real token waits until the minute is over: the guesser learns nothing.
    assert page(client, link).status_code == 429
    other_client = client_class_for(client)(REMOTE_ADDR="10.0.0.9")
    assert page(other_client, link).status_code == 200


def client_class_for(client):
    return lambda **defaults: type(client)(**defaults)
