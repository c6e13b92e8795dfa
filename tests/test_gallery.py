"""History, team gallery, detail page, favourites, visibility, delete, remix."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generations.models import Favourite, Generation, ReferenceImage, ResultImage

from .sharing_builders import add_reference, bulk_generations, make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def teammate_client(client, teammate):
    client.force_login(teammate)
    return client


def ids_in(response):
    return {g.pk for g in response.context["generations"]}


# --- History and team gallery --------------------------------------------------------------


def test_history_shows_only_my_generations_including_in_flight_newest_first(
    member_client, member, teammate
):
    now = timezone.now()
    old = make_generation(member, prompt="old one", created_at=now - timedelta(hours=2))
    running = make_generation(member, prompt="running", status="in_progress", created_at=now)
    make_generation(teammate, prompt="theirs")

    response = member_client.get(reverse("history"))

    assert response.status_code == 200
    assert [g.pk for g in response.context["generations"]] == [running.pk, old.pk]
    # The in-flight card is watched by the page's one poll, like on the studio page.
    assert f'value="{running.pk}:{running.poll_token}" data-poll-id' in response.text
    assert response.text.count('hx-trigger="every 2s"') == 1


def test_team_gallery_shows_finished_team_images_of_everyone_but_not_others_private(
    member_client, member, teammate
):
    mine_private = make_generation(member, visibility="private")
    theirs = make_generation(teammate)
    theirs_private = make_generation(teammate, visibility="private", prompt="secret plan")
    make_generation(teammate, status="in_progress")
    make_generation(teammate, status="failed")

    response = member_client.get(reverse("gallery"))

    assert ids_in(response) == {mine_private.pk, theirs.pk}
    assert str(theirs_private.pk) not in response.text
    assert "secret plan" not in response.text


def test_gallery_cards_use_lazy_thumbnails_with_dimensions(member_client, member):
    g = make_generation(member)

    response = member_client.get(reverse("gallery"))

    thumbnail = g.results.get().thumbnail.name
    assert re.search(rf'src="/i/[\w-]+/\d+/{re.escape(thumbnail)}"', response.text)
    assert 'loading="lazy"' in response.text
    assert 'width="64" height="48"' in response.text


def test_gallery_filters_by_member_model_status_and_date(member_client, member, teammate):
    now = timezone.now()
    a = make_generation(member, model="google/nano-banana", created_at=now - timedelta(days=10))
    b = make_generation(teammate, model="google/gempix2", created_at=now)
    c = make_generation(teammate, model="google/nano-banana", created_at=now)
    url = reverse("gallery")

    assert ids_in(member_client.get(url, {"member": teammate.pk})) == {b.pk, c.pk}
    assert ids_in(member_client.get(url, {"model": "google/nano-banana"})) == {a.pk, c.pk}
    recent = {"date_from": (now - timedelta(days=1)).date().isoformat()}
    assert ids_in(member_client.get(url, recent)) == {b.pk, c.pk}
    older = {"date_to": (now - timedelta(days=5)).date().isoformat()}
    assert ids_in(member_client.get(url, older)) == {a.pk}
    both = {"member": teammate.pk, "model": "google/gempix2"}
    assert ids_in(member_client.get(url, both)) == {b.pk}


def test_history_filters_by_status(member_client, member):
    done = make_generation(member)
    failed = make_generation(member, status="failed")
    url = reverse("history")

    assert ids_in(member_client.get(url, {"status": "failed"})) == {failed.pk}
    assert ids_in(member_client.get(url, {"status": "success"})) == {done.pk}


def test_search_text_is_never_query_syntax(member_client, member):
    quoted = make_generation(member, prompt='He said "moon" OR NOT')
    make_generation(member, prompt="A red apple in a bowl")

    for q in ['"moon" OR', "moon*", "NEAR(moon", "-apple", "moon)", '"', "((("]:
        response = member_client.get(reverse("gallery"), {"q": q})
        assert response.status_code == 200
    assert ids_in(member_client.get(reverse("gallery"), {"q": '"moon" OR'})) == {quoted.pk}


def test_search_matches_words_of_the_prompt(member_client, member):
    banana = make_generation(member, prompt="A yellow banana on the moon")
    make_generation(member, prompt="A red apple in a bowl")

    response = member_client.get(reverse("gallery"), {"q": "banana"})

    assert ids_in(response) == {banana.pk}


def test_search_is_full_text_with_stemming(member_client, member):
    bananas = make_generation(member, prompt="Two bananas dancing")
    make_generation(member, prompt="A red apple in a bowl")

    response = member_client.get(reverse("gallery"), {"q": "banana dance"})

    assert ids_in(response) == {bananas.pk}


def test_favourites_filter_shows_only_my_favourites(member_client, member, teammate):
    liked = make_generation(teammate)
    make_generation(teammate)
    Favourite.objects.create(user=member, generation=liked)

    response = member_client.get(reverse("gallery"), {"favourites": "on"})

    assert ids_in(response) == {liked.pk}


def test_paging_returns_each_row_once_and_htmx_gets_a_fragment(member_client, member, settings):
    settings.BANANA_GALLERY_PAGE_SIZE = 3
    rows = bulk_generations(member, 7)
    expected = [g.pk for g in rows]  # bulk rows are created newest first

    first = member_client.get(reverse("gallery"))
    assert [g.pk for g in first.context["generations"]] == expected[:3]
    assert first.context["has_more"]
    assert 'class="load-more' in first.text
    assert "after=" in first.context["next_url"]

    second = member_client.get(
        first.context["next_url"], headers={"HX-Request": "true", "HX-Target": "load-more"}
    )
    assert [g.pk for g in second.context["generations"]] == expected[3:6]
    assert "<html" not in second.text
    assert "<form" not in second.text.split("card-")[0]  # the filter form is not repeated
    assert 'hx-swap="outerHTML"' in second.text

    third = member_client.get(second.context["next_url"])
    assert [g.pk for g in third.context["generations"]] == expected[6:]
    assert not third.context["has_more"]
    assert "load-more" not in third.text


def test_filter_form_over_htmx_answers_the_results_fragment(member_client, member):
    make_generation(member, prompt="moon")

    response = member_client.get(
        reverse("gallery"),
        {"q": "moon"},
        headers={"HX-Request": "true", "HX-Target": "gallery-results"},
    )

    assert response.status_code == 200
    assert 'id="gallery-results"' in response.text
    assert "<html" not in response.text


def _count_queries(client, url):
    client.get(url)  # warm up: per-session and per-month bookkeeping happen once
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url_name", ["gallery", "history"])
def test_gallery_queries_do_not_grow_with_rows(member_client, member, teammate, url_name):
    Favourite.objects.create(user=member, generation=bulk_generations(member, 10)[0])
    few = _count_queries(member_client, reverse(url_name))

    bulk_generations(member, 990, start=timezone.now() - timedelta(days=1))
    bulk_generations(teammate, 10)
    many = _count_queries(member_client, reverse(url_name))

    assert Generation.objects.count() == 1010
    assert few == many


# --- Visibility ----------------------------------------------------------------------------


def test_teammate_sees_a_team_generation_page_and_images(teammate_client, member):
    g = make_generation(member)
    add_reference(g)

    assert teammate_client.get(reverse("generation_detail", args=[g.pk])).status_code == 200
    assert teammate_client.get(reverse("result_image", args=[g.pk, 0])).status_code == 200
    assert teammate_client.get(reverse("result_thumbnail", args=[g.pk, 0])).status_code == 200
    assert teammate_client.get(reverse("reference_image", args=[g.pk, 0])).status_code == 200


def test_another_members_private_generation_is_unreachable_by_url(teammate_client, member):
    g = make_generation(member, visibility="private")
    add_reference(g)

    for url in [
        reverse("generation_detail", args=[g.pk]),
        reverse("result_image", args=[g.pk, 0]),
        reverse("result_image", args=[g.pk, 0]) + "?download=1",
        reverse("result_thumbnail", args=[g.pk, 0]),
        reverse("reference_image", args=[g.pk, 0]),
        reverse("generation_remix", args=[g.pk]),
        reverse("generation_use_as_reference", args=[g.pk, 0]),
    ]:
        assert teammate_client.get(url).status_code == 404, url
    for name in ["generation_favourite", "generation_delete", "generation_visibility"]:
        assert teammate_client.post(reverse(name, args=[g.pk])).status_code == 404, name


def test_owner_and_admin_see_a_private_generation(client, member, admin_user):
    g = make_generation(member, visibility="private")
    for user in (member, admin_user):
        client.force_login(user)
        assert client.get(reverse("generation_detail", args=[g.pk])).status_code == 200
        assert client.get(reverse("result_image", args=[g.pk, 0])).status_code == 200


def test_anonymous_visitors_reach_no_page_and_no_image(client, member):
    g = make_generation(member)
    add_reference(g)

    for url in [
        reverse("history"),
        reverse("gallery"),
        reverse("generation_detail", args=[g.pk]),
        reverse("result_image", args=[g.pk, 0]),
        reverse("result_thumbnail", args=[g.pk, 0]),
        reverse("reference_image", args=[g.pk, 0]),
        reverse("collections"),
        reverse("share_links"),
    ]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_media_files_are_not_served_from_a_public_path(client, member, settings):
    g = make_generation(member)
    name = g.results.get().file.name

    for prefix in ("/media/", "/"):
        assert client.get(prefix + name).status_code in (302, 404)


def test_owner_toggles_visibility_and_teammate_loses_access(client, member, teammate):
    g = make_generation(member)
    client.force_login(member)

    response = client.post(
        reverse("generation_visibility", args=[g.pk]),
        {"visibility": "private"},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert 'id="visibility"' in response.text
    assert "Share with the team" in response.text
    g.refresh_from_db()
    assert g.visibility == "private"
    client.force_login(teammate)
    assert client.get(reverse("generation_detail", args=[g.pk])).status_code == 404


def test_teammate_may_not_change_visibility_of_a_team_generation(teammate_client, member):
    g = make_generation(member)

    response = teammate_client.post(
        reverse("generation_visibility", args=[g.pk]), {"visibility": "private"}
    )

    assert response.status_code == 403
    g.refresh_from_db()
    assert g.visibility == "team"


def test_teammate_may_not_retry_a_team_generation(teammate_client, member):
    g = make_generation(member, status="failed")

    assert teammate_client.post(reverse("generation_retry", args=[g.pk])).status_code == 403
    assert Generation.objects.count() == 1


def test_default_visibility_follows_the_setting(member, settings):
    settings.BANANA_DEFAULT_VISIBILITY = "private"
    g = Generation.objects.create(owner=member, model="m", prompt="p", webhook_secret_hash="x" * 64)
    assert g.visibility == "private"


def test_compose_form_offers_visibility_and_the_new_generation_keeps_it(member_client, emulator):
    response = member_client.get(reverse("home"))
    assert 'name="visibility"' in response.text

    member_client.post(
        reverse("generate"),
        {"prompt": "quiet", "model": "google/gempix2", "visibility": "private"},
        headers={"HX-Request": "true"},
    )

    assert Generation.objects.get(prompt="quiet").visibility == "private"


# --- Detail page, favourites, delete -------------------------------------------------------


def test_detail_page_shows_everything_about_a_generation(member_client, member):
    g = make_generation(member, prompt="A banana boat", aspect_ratio="16:9", image_size="2k")
    g.credits_consumed = "1.5"
    g.save()
    add_reference(g)

    response = member_client.get(reverse("generation_detail", args=[g.pk]))

    text = response.text
    assert "A banana boat" in text
    assert "Nano Banana (gempix2)" in text and "16:9" in text and "2K" in text
    assert "mina" in text
    assert "1.5 credits" in text
    assert reverse("result_image", args=[g.pk, 0]) + "?download=1" in text
    assert reverse("reference_image", args=[g.pk, 0]) in text
    assert reverse("generation_remix", args=[g.pk]) in text
    assert ">Remix<" in text
    assert reverse("generation_use_as_reference", args=[g.pk, 0]) in text


def test_download_has_a_sensible_file_name(member_client, member):
    g = make_generation(member, prompt="A banana boat")

    response = member_client.get(reverse("result_image", args=[g.pk, 0]), {"download": "1"})

    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert f"banana-a-banana-boat-{str(g.pk)[:8]}-1.png" in disposition


def test_favourite_toggles_over_htmx(member_client, member, teammate):
    g = make_generation(teammate)
    url = reverse("generation_favourite", args=[g.pk])

    on = member_client.post(url, headers={"HX-Request": "true"})
    assert 'aria-pressed="true"' in on.text
    assert Favourite.objects.filter(user=member, generation=g).exists()

    off = member_client.post(url, headers={"HX-Request": "true"})
    assert 'aria-pressed="false"' in off.text
    assert not Favourite.objects.exists()


def test_owner_deletes_a_generation_its_files_go_and_the_row_stays(
    member_client, member, django_capture_on_commit_callbacks
):
    g = make_generation(member)
    add_reference(g)
    result = g.results.get()
    storage = result.file.storage
    names = [result.file.name, result.thumbnail.name, g.references.get().file.name]

    confirm = member_client.get(reverse("generation_delete", args=[g.pk]))
    assert confirm.status_code == 200
    assert "Yes, delete it" in confirm.text

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(reverse("generation_delete", args=[g.pk]))

    assert response.status_code == 302
    g.refresh_from_db()
    assert g.deleted_at is not None
    assert not any(storage.exists(name) for name in names)
    assert not ReferenceImage.objects.filter(generation=g).exists()
    assert ResultImage.objects.get(generation=g).file == ""
    assert member_client.get(reverse("generation_detail", args=[g.pk])).status_code == 404
    assert member_client.get(reverse("result_image", args=[g.pk, 0])).status_code == 404
    assert g.pk not in ids_in(member_client.get(reverse("history")))


def test_admin_may_delete_and_teammate_may_not(client, member, teammate, admin_user):
    g = make_generation(member)
    client.force_login(teammate)
    assert client.post(reverse("generation_delete", args=[g.pk])).status_code == 403
    g.refresh_from_db()
    assert g.deleted_at is None

    client.force_login(admin_user)
    assert client.post(reverse("generation_delete", args=[g.pk])).status_code == 302
    g.refresh_from_db()
    assert g.deleted_at is not None


# --- Remix and "use as reference" ----------------------------------------------------------


def test_remix_prefills_the_form_and_copies_references_server_side(
    member_client, member, teammate, emulator
):
    original = make_generation(teammate, prompt="A banana boat", aspect_ratio="16:9")
    add_reference(original)

    form = member_client.get(reverse("generation_remix", args=[original.pk]))
    assert "A banana boat" in form.text
    assert f'name="remix_of" value="{original.pk}"' in form.text

    response = member_client.post(
        reverse("generate"),
        {
            "prompt": "A banana boat, at night",
            "model": "google/gempix2",
            "aspect_ratio": "16:9",
            "remix_of": str(original.pk),
        },
    )

    assert response.status_code == 302
    remix = Generation.objects.get(prompt="A banana boat, at night")
    assert remix.owner == member
    reference = remix.references.get()
    assert reference.file.read() == original.references.get().file.open("rb").read()


def test_remix_of_a_generation_the_member_may_not_see_is_refused(member_client, teammate, emulator):
    private = make_generation(teammate, visibility="private")
    add_reference(private)

    response = member_client.post(
        reverse("generate"),
        {"prompt": "steal", "model": "google/gempix2", "remix_of": str(private.pk)},
    )

    assert response.status_code == 400
    assert not Generation.objects.filter(prompt="steal").exists()


def test_use_as_reference_makes_the_result_the_new_generations_reference(
    member_client, member, emulator
):
    source = make_generation(member)
    form = member_client.get(reverse("generation_use_as_reference", args=[source.pk, 0]))
    assert f'name="reference_from" value="{source.pk}"' in form.text

    member_client.post(
        reverse("generate"),
        {
            "prompt": "again",
            "model": "google/gempix2",
            "reference_from": str(source.pk),
            "reference_position": "0",
        },
    )

    new = Generation.objects.get(prompt="again")
    reference = new.references.get()
    assert reference.file.read() == source.results.get().file.open("rb").read()


def test_detail_page_of_an_in_flight_generation_polls(member_client, member):
    g = make_generation(member, status="in_progress")

    response = member_client.get(reverse("generation_detail", args=[g.pk]))

    assert response.status_code == 200
    assert f'name="watch" value="{g.pk}:{g.poll_token}" data-poll-id>' in response.text
    # Without JavaScript the page refreshes itself instead.
    assert '<noscript><meta http-equiv="refresh"' in response.text


def test_detail_page_of_a_finished_generation_does_not_refresh(member_client, member):
    g = make_generation(member)

    response = member_client.get(reverse("generation_detail", args=[g.pk]))

    assert 'http-equiv="refresh"' not in response.text


def test_remix_and_use_as_reference_of_a_teammates_team_image_render_the_compose_form(
    member_client, teammate
):
    g = make_generation(teammate, prompt="their banana")

    remix = member_client.get(reverse("generation_remix", args=[g.pk]))
    use = member_client.get(reverse("generation_use_as_reference", args=[g.pk, 0]))

    assert remix.status_code == use.status_code == 200
    assert 'id="compose"' in remix.text and "their banana" in remix.text
    assert 'name="reference_position" value="0"' in use.text


@pytest.mark.parametrize("url_name", ["gallery", "history"])
def test_htmx_history_restore_gets_the_full_page(member_client, member, url_name):
    make_generation(member)

    response = member_client.get(
        reverse(url_name),
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )

    assert response.status_code == 200
    assert "<html" in response.text
    assert 'id="gallery-results"' in response.text


@pytest.mark.parametrize(
    "cursor", [str(10**30), "abc", "~", "2026-01-01T00:00:00~not-a-uuid", "x~y~z", "\x00"]
)
def test_malformed_page_cursors_mean_the_first_page(member_client, member, cursor):
    g = make_generation(member)

    response = member_client.get(reverse("gallery"), {"after": cursor})

    assert response.status_code == 200
    assert [row.pk for row in response.context["generations"]] == [g.pk]
    assert not response.context["has_more"]


def test_rows_created_in_the_same_instant_are_each_shown_once(member_client, member, settings):
    settings.BANANA_GALLERY_PAGE_SIZE = 2
    rows = bulk_generations(member, 5)
    Generation.objects.update(created_at=rows[0].created_at)
    seen, url = [], reverse("gallery")
    while url:
        response = member_client.get(url)
        seen += [g.pk for g in response.context["generations"]]
        url = response.context["next_url"] if response.context["has_more"] else None
    assert sorted(seen) == sorted(g.pk for g in rows)
