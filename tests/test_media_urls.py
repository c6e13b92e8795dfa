"""Images served cheaply and safely: pages carry signed, expiring, content-addressed URLs that
are checked without the database and cached for good; the permission-checked routes cost one
query; browsers that hold an image get a 304."""

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generations import storage
from generations.boards import add_to_collection, create_collection
from generations.sharing import create_share_link, revoke_share_link
from operations.redaction import redact_secrets

from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db

IMMUTABLE = "private, max-age=31536000, immutable"


def signed_urls_in(response):
    return re.findall(r'src="(/i/[^"]+)"', response.text)


def test_gallery_thumbnails_are_signed_urls_served_without_a_database_query(
    member_client, member, django_assert_num_queries
):
    g = make_generation(member)
    (url,) = signed_urls_in(member_client.get(reverse("gallery")))

    with django_assert_num_queries(0):
        response = member_client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert b"".join(response.streaming_content) == g.results.get().thumbnail.read()


def test_a_signed_url_is_cached_for_good_and_a_browser_holding_it_gets_a_304(member_client, member):
    g = make_generation(member)
    url = storage.signed_url(g.results.get().thumbnail.name)

    first = member_client.get(url)
    again = member_client.get(url, headers={"If-None-Match": first["ETag"]})

    assert first["Cache-Control"] == IMMUTABLE
    assert first["X-Content-Type-Options"] == "nosniff"
    assert again.status_code == 304
    assert again["ETag"] == first["ETag"]
    assert not again.content


def test_a_signed_url_names_the_stored_file_so_new_bytes_get_a_new_url(member):
    g = make_generation(member)
    result = g.results.get()

    assert storage.signed_url(result.thumbnail.name).endswith("/" + result.thumbnail.name)
    assert storage.signed_url(result.file.name) != storage.signed_url(result.thumbnail.name)


def test_signed_urls_stay_the_same_within_a_window_so_browsers_reuse_them(member, settings):
    settings.BANANA_MEDIA_URL_TTL = 3600
    name = make_generation(member).results.get().thumbnail.name
    start = 1_800_000_000  # the start of an hour

    same = {storage.signed_url(name, now=start + offset) for offset in (0, 1200, 3599)}
    renewed = storage.signed_url(name, now=start + 3600)

    assert len(same) == 1
    assert renewed not in same


def test_a_signed_url_expires_within_two_windows(client, member, settings):
    settings.BANANA_MEDIA_URL_TTL = 3600
    url = storage.signed_url(make_generation(member).results.get().thumbnail.name)

    with time_machine.travel(timezone.now() + timedelta(minutes=59)):
        assert client.get(url).status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=2, seconds=1)):
        assert client.get(url).status_code == 404


def test_a_tampered_signed_url_answers_404(client, member):
    g = make_generation(member)
    result = g.results.get()
    url = storage.signed_url(result.thumbnail.name)
    _, _, signature, expires, _ = url.split("/", 4)

    for forged in [
        url.replace(result.thumbnail.name, result.file.name),  # another file
        url.replace(f"/{expires}/", f"/{int(expires) + 3600}/"),  # a later expiry
        url.replace(signature, signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")),
    ]:
        assert client.get(forged).status_code == 404, forged


def test_a_private_image_is_never_signed_into_a_teammates_page(client, member, teammate):
    private = make_generation(member, visibility="private").results.get().thumbnail.name
    public = make_generation(member).results.get().thumbnail.name
    client.force_login(member)
    assert f"/{private}" in client.get(reverse("history")).text

    client.force_login(teammate)
    page = client.get(reverse("gallery")).text

    assert f"/{public}" in page
    assert private not in page


def test_signatures_in_image_urls_are_kept_out_of_logs(member):
    url = storage.signed_url(make_generation(member).results.get().thumbnail.name)
    signature = url.split("/")[2]

    line = redact_secrets(f'"GET {url} HTTP/1.1" 200')

    assert signature not in line
    assert "/i/[redacted]/" in line


def test_result_routes_check_permission_with_one_query(member_client, member):
    g = make_generation(member)

    for name in ("result_image", "result_display", "result_thumbnail"):
        with CaptureQueriesContext(connection) as queries:
            response = member_client.get(reverse(name, args=[g.pk, 0]))
        assert response.status_code == 200, name
        ours = [q["sql"] for q in queries if "generations_" in q["sql"]]
        assert len(ours) == 1, (name, ours)


def test_a_route_answers_304_to_a_browser_that_holds_the_image(member_client, member):
    g = make_generation(member)
    url = reverse("result_thumbnail", args=[g.pk, 0])

    first = member_client.get(url)
    again = member_client.get(url, headers={"If-None-Match": first["ETag"]})

    assert first["Cache-Control"] == "private, max-age=3600"
    assert again.status_code == 304


def test_the_display_route_falls_back_to_the_original_for_rows_without_a_display_variant(
    member_client, member
):
    g = make_generation(member)
    result = g.results.get()
    assert not result.display

    response = member_client.get(reverse("result_display", args=[g.pk, 0]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == result.file.read()


def test_the_detail_page_shows_the_display_variant_and_links_the_original(member_client, member):
    g = make_generation(member)
    result = g.results.get()
    result.display.save("display.webp", result.thumbnail, save=False)
    result.display_width, result.display_height = 32, 24
    result.save()

    text = member_client.get(reverse("generation_detail", args=[g.pk])).text

    display = re.search(r'<img src="(/i/[^"]+)"[^>]*class="result"', text, re.DOTALL)
    assert display and display[1].endswith("/" + result.display.name)
    assert 'width="32" height="24"' in text
    assert f'href="{reverse("result_image", args=[g.pk, 0])}"' in text
    assert reverse("result_image", args=[g.pk, 0]) + "?download=1" in text
    shown = member_client.get(display[1])
    assert shown["Content-Type"] == "image/webp"


def test_a_shared_image_revalidates_every_time_and_stops_once_revoked(client, member):
    g = make_generation(member)
    link = create_share_link(member, generation=g)
    url = reverse("share_thumbnail", args=[link.token, g.pk, 0])

    first = client.get(url)
    again = client.get(url, headers={"If-None-Match": first["ETag"]})
    assert first["Cache-Control"] == "private, no-cache"
    assert again.status_code == 304

    revoke_share_link(link)
    assert client.get(url, headers={"If-None-Match": first["ETag"]}).status_code == 404


def test_a_shared_collection_serves_only_its_own_shareable_images(client, member, teammate):
    collection = create_collection(member, "Moons")
    mine, theirs, outside = (
        make_generation(member),
        make_generation(teammate),
        make_generation(member),
    )
    add_to_collection(collection, mine)
    add_to_collection(collection, theirs)
    link = create_share_link(member, collection=collection)

    def image(g):
        return client.get(reverse("share_image", args=[link.token, g.pk, 0])).status_code

    assert image(mine) == 200
    assert image(theirs) == 404
    assert image(outside) == 404
