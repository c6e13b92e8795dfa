"""Public share links: exactly what was shared, to anyone holding the token, until revoked."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generations.boards import add_to_collection
from generations.models import Collection, ShareLink
from generations.sharing import create_share_link

from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db


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


def test_links_page_lists_my_links_with_visitor_counts_and_revoke(client, member, teammate):
    g = make_generation(member)
    mine = create_share_link(member, generation=g)
    theirs = create_share_link(teammate, generation=make_generation(teammate))
    page(client, mine)
    page(client, mine)
    page(Client(), mine)

    client.force_login(member)
    response = client.get(reverse("share_links"))

    assert mine.token in response.text
    assert theirs.token not in response.text
    assert 'class="views">2<' in response.text
    assert "Browsers that opened the link, each counted once" in response.text
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
    assert gone["Referrer-Policy"] == "same-origin"
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
    collection, one, _two = shared_collection
    other = make_generation(member, prompt="not shared")
    link = create_share_link(member, collection=collection)

    response = page(client, link)

    assert response.status_code == 200
    text = response.text
    assert reverse("share_thumbnail", args=[link.token, one.pk, 0]) in text
    assert str(other.pk) not in text
    assert "secret sauce" not in text
    for name in ("mina", "tae", "mina@example.com", "tae@example.com"):
        assert name not in text
    assert reverse("gallery") not in text and reverse("home") + "g/" not in text
    assert "/g/" not in text and "/history/" not in text and "/collections/" not in text


def test_a_collection_share_never_publishes_a_teammates_image(client, member, shared_collection):
    collection, _one, two = shared_collection
    link = create_share_link(member, collection=collection, show_prompts=True, show_author=True)

    text = page(client, link).text

    assert str(two.pk) not in text
    assert "moon two by tae" not in text and "tae" not in text
    assert client.get(reverse("share_image", args=[link.token, two.pk, 0])).status_code == 404


def test_the_sharer_is_told_which_images_a_collection_share_leaves_out(
    client, member, shared_collection
):
    collection, *_ = shared_collection
    client.force_login(member)

    text = client.get(reverse("collection_detail", args=[collection.pk])).text

    assert "1 image here is a teammate's" in text


def test_public_page_shows_prompts_and_authors_when_the_sharer_chose_so(
    client, shared_collection, member
):
    collection, *_ = shared_collection
    link = create_share_link(member, collection=collection, show_prompts=True, show_author=True)

    text = page(client, link).text

    assert "moon one, secret sauce" in text
    assert "mina" in text
    assert "@example.com" not in text


def test_public_page_sends_privacy_headers_and_preview_tags(client, member, settings):
    settings.PUBLIC_BASE_URL = "https://banana.example.com"
    g = make_generation(member)
    link = create_share_link(member, generation=g)

    response = page(client, link)

    assert response["Referrer-Policy"] == "same-origin"
    assert "noindex" in response["X-Robots-Tag"]
    # The display variant: large enough for a preview card, lighter than the original.
    image_url = "https://banana.example.com" + reverse("share_display", args=[link.token, g.pk, 0])
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
    assert original["Referrer-Policy"] == "same-origin"
    assert "no-cache" in original["Cache-Control"]
    thumb = client.get(reverse("share_thumbnail", args=[link.token, one.pk, 0]))
    assert thumb.status_code == 200
    assert client.get(reverse("share_image", args=[link.token, other.pk, 0])).status_code == 404
    assert client.get(reverse("share_image", args=[link.token, one.pk, 5])).status_code == 404
    # And without the token, nothing.
    assert client.get(reverse("result_image", args=[one.pk, 0])).status_code == 302


def test_deleted_items_disappear_from_a_collection_share(client, member, shared_collection):
    collection, one, _two = shared_collection
    link = create_share_link(member, collection=collection)
    one.deleted_at = timezone.now()
    one.save()

    text = page(client, link).text

    assert str(one.pk) not in text
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


def test_public_page_counts_each_browser_once(client, member):
    link = create_share_link(member, generation=make_generation(member))
    page(client, link)
    page(client, link)
    page(Client(), link)
    link.refresh_from_db()
    assert link.view_count == 2


def test_a_repeat_view_writes_nothing(client, member):
    link = create_share_link(member, generation=make_generation(member))
    first = page(client, link)
    cookie = first.cookies[f"shared_{link.pk.hex}"]
    assert cookie["path"] == reverse("share_page", args=[link.token])
    assert cookie["httponly"] and cookie["samesite"] == "Lax"

    with CaptureQueriesContext(connection) as queries:
        again = page(client, link)

    assert again.status_code == 200
    assert not [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]
    assert f"shared_{link.pk.hex}" not in again.cookies


def test_a_browser_is_counted_once_per_link_and_a_forged_cookie_counts_anyway(client, member):
    one = create_share_link(member, generation=make_generation(member))
    two = create_share_link(member, generation=make_generation(member))
    page(client, one)
    page(client, two)
    page(client, one)
    forger = Client()
    forger.cookies[f"shared_{one.pk.hex}"] = str(one.pk)  # not signed by us
    page(forger, one)

    one.refresh_from_db()
    two.refresh_from_db()
    assert (one.view_count, two.view_count) == (2, 1)


def test_guessing_tokens_is_rate_limited_but_a_valid_token_is_never_refused(
    client, member, settings
):
    settings.BANANA_SHARE_MISSES_PER_MINUTE = 5
    link = create_share_link(member, generation=make_generation(member))

    for i in range(5):
        assert client.get(reverse("share_page", args=[f"guess-{i:040d}"])).status_code == 404

    assert client.get(reverse("share_page", args=["guess-more-" + "x" * 40])).status_code == 429
    # A crowd behind one address (an office, a carrier's NAT) keeps its real links.
    assert page(client, link).status_code == 200


def client_class_for(client):
    return lambda **defaults: type(client)(**defaults)


# --- Review fixes --------------------------------------------------------------------------


def test_teammate_cannot_share_someone_elses_image(client, member, teammate):
    g = make_generation(member, visibility="team")
    client.force_login(teammate)

    assert client.get(reverse("generation_detail", args=[g.pk])).status_code == 200
    response = client.post(reverse("share_create"), {"generation": g.pk})

    assert response.status_code == 403
    assert not ShareLink.objects.exists()


def test_only_the_owner_may_share_a_generation_admins_included(client, member, admin_user):
    g = make_generation(member)
    client.force_login(admin_user)
    assert client.post(reverse("share_create"), {"generation": g.pk}).status_code == 403
    client.force_login(member)
    assert client.post(reverse("share_create"), {"generation": g.pk}).status_code == 302
    assert list(ShareLink.objects.values_list("owner", flat=True)) == [member.pk]


def test_share_form_is_shown_only_to_the_owner(client, member, teammate, admin_user):
    g = make_generation(member)
    for user in (teammate, admin_user):
        client.force_login(user)
        detail = client.get(reverse("generation_detail", args=[g.pk])).text
        assert reverse("share_create") not in detail
    client.force_login(member)
    assert reverse("share_create") in client.get(reverse("generation_detail", args=[g.pk])).text


def test_admins_collection_share_shows_only_their_own_images(client, member, admin_user):
    collection = Collection.objects.create(owner=admin_user, name="Picks")
    theirs = make_generation(member, prompt="member's moon")
    own_private = make_generation(admin_user, prompt="boss's own", visibility="private")
    for g in (theirs, own_private):
        add_to_collection(collection, g)
    link = create_share_link(admin_user, collection=collection)

    text = page(client, link).text

    assert str(theirs.pk) not in text
    assert str(own_private.pk) in text  # the sharer's own private image, shared on purpose
    assert client.get(reverse("share_image", args=[link.token, theirs.pk, 0])).status_code == 404


def test_links_of_a_deactivated_member_stop_working(client, member):
    g = make_generation(member)
    link = create_share_link(member, generation=g)
    assert page(client, link).status_code == 200

    member.is_active = False
    member.save()

    assert page(client, link).status_code == 404
    assert client.get(reverse("share_image", args=[link.token, g.pk, 0])).status_code == 404


def test_links_page_hides_the_prompt_of_an_image_i_may_no_longer_see(client, member, teammate):
    # Links made before the one-owner rule, or by a member who later lost the image.
    g = make_generation(member, prompt="member's secret plan")
    gone = make_generation(member, prompt="deleted dream")
    link = create_share_link(teammate, generation=g)
    gone_link = create_share_link(teammate, generation=gone)
    g.visibility = "private"
    g.save()
    gone.deleted_at = timezone.now()
    gone.save()

    client.force_login(teammate)
    text = client.get(reverse("share_links")).text

    assert "secret plan" not in text and "deleted dream" not in text
    assert reverse("generation_detail", args=[g.pk]) not in text
    assert link.token not in text and gone_link.token not in text
    assert text.count("Unavailable") == 2
    assert ">Live<" not in text
    assert ">Revoke<" in text


def test_links_page_marks_a_collection_share_that_shows_nothing(client, member, teammate):
    collection = Collection.objects.create(owner=teammate, name="Mine then borrowed")
    own = make_generation(teammate)
    add_to_collection(collection, make_generation(member))
    add_to_collection(collection, own)
    live = create_share_link(teammate, collection=collection)
    client.force_login(teammate)
    assert ">Live<" in client.get(reverse("share_links")).text

    own.deleted_at = timezone.now()
    own.save()

    text = client.get(reverse("share_links")).text
    assert "Unavailable" in text and ">Live<" not in text
    assert live.token not in text


def test_links_page_queries_do_not_grow_with_links(client, member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(member)
    collection = Collection.objects.create(owner=member, name="C")
    add_to_collection(collection, make_generation(member))
    create_share_link(member, generation=make_generation(member))
    create_share_link(member, collection=collection)

    def count():
        client.get(reverse("share_links"))
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("share_links")).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for _ in range(5):
        create_share_link(member, generation=make_generation(member))
        create_share_link(member, collection=collection)
    assert count() == few


def test_client_address_uses_the_proxys_forwarded_for_only_behind_the_proxy(rf, settings):
    from generations.ratelimit import client_address

    request = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.TRUSTED_PROXIES = []
    assert client_address(request) == "10.0.0.1"
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_address(request) == "203.0.113.7"  # the spoofable left part is ignored
    assert client_address(rf.get("/", REMOTE_ADDR="10.0.0.1")) == "10.0.0.1"
    junk = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="not an address")
    assert client_address(junk) == "10.0.0.1"


def test_rate_limit_behind_the_proxy_is_per_visitor(client, member, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    settings.BANANA_SHARE_MISSES_PER_MINUTE = 3
    create_share_link(member, generation=make_generation(member))
    guesser = {"X-Forwarded-For": "198.51.100.1"}
    visitor = {"X-Forwarded-For": "198.51.100.2"}

    for i in range(3):
        client.get(reverse("share_page", args=[f"guess-{i:040d}"]), headers=guesser)

    guess = reverse("share_page", args=["guess-more-" + "x" * 40])
    assert client.get(guess, headers=guesser).status_code == 429
    assert client.get(guess, headers=visitor).status_code == 404


def test_the_share_form_offers_downloads_and_the_link_keeps_the_choice(member, member_client):
    g = make_generation(member)

    member_client.post(reverse("share_create"), {"generation": g.pk, "allow_download": "on"})
    member_client.post(reverse("share_create"), {"generation": g.pk})

    assert sorted(ShareLink.objects.values_list("allow_download", flat=True)) == [False, True]


def test_the_display_variant_is_checked_against_the_link_like_the_original(client, member):
    shared = make_generation(member)
    other = make_generation(member, prompt="not shared")
    link = create_share_link(member, generation=shared)

    def status(generation):
        url = reverse("share_display", args=[link.token, generation.pk, 0])
        return client.get(url).status_code

    assert status(shared) == 200
    assert status(other) == 404
    link.revoked_at = timezone.now()
    link.save()
    assert status(shared) == 404


@pytest.mark.parametrize("show_prompts", [False, True])
def test_a_download_names_its_file_after_the_prompt_only_where_the_link_shows_it(
    client, member, show_prompts
):
    g = make_generation(member, prompt="Secret launch of the Q3 banana")
    link = create_share_link(member, generation=g, show_prompts=show_prompts)
    link.allow_download = True
    link.save()

    url = reverse("share_image", args=[link.token, g.pk, 0]) + "?download=1"
    disposition = client.get(url)["Content-Disposition"]

    assert disposition.startswith("attachment")
    assert ("secret-launch" in disposition) is show_prompts
