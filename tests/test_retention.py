"""The retention policy removes exactly the originals nobody keeps: older than
BANANA_RETENTION_DAYS, not a favourite, in no collection, shared by no live link. Thumbnails
and display variants stay, and pages say the original was removed."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from generations import quota, retention, tasks
from generations.boards import add_to_collection, create_collection
from generations.models import Favourite, ResultImage
from generations.sharing import create_share_link, revoke_share_link

from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def aged(owner, days, **extra):
    return make_generation(owner, created_at=NOW - timedelta(days=days), **extra)


def original_of(generation):
    return ResultImage.objects.get(generation=generation).file.name


def test_retention_removes_exactly_the_old_originals_nobody_keeps(member, teammate):
    old = aged(member, 40)
    favourite = aged(member, 40)
    Favourite.objects.create(user=teammate, generation=favourite)
    collected = aged(member, 40)
    add_to_collection(create_collection(teammate, "Keepers"), collected)
    shared = aged(member, 40)
    create_share_link(member, generation=shared)
    in_shared_collection = aged(member, 40)
    shared_collection = create_collection(member, "Shared")
    add_to_collection(shared_collection, in_shared_collection)
    create_share_link(member, collection=shared_collection)
    expired_share = aged(member, 40)
    with_expired_link = create_share_link(member, generation=expired_share)
    with_expired_link.expires_at = NOW - timedelta(days=1)
    with_expired_link.save()
    revoked_share = aged(member, 40)
    revoke_share_link(create_share_link(member, generation=revoked_share))
    recent = aged(member, 10)
    deleted = aged(member, 40, deleted_at=NOW - timedelta(days=35))
    everything = [
        old,
        favourite,
        collected,
        shared,
        in_shared_collection,
        expired_share,
        revoked_share,
        recent,
        deleted,
    ]
    originals = {g.pk: original_of(g) for g in everything}

    counts = retention.apply(NOW, days=30)

    removed = {g for g in everything if not original_of(g)}
    assert removed == {old, expired_share, revoked_share}
    assert counts["originals_removed"] == 3
    for g in everything:
        assert default_storage.exists(originals[g.pk]) == (g not in removed), g.prompt


def test_a_removed_original_leaves_its_display_variant_and_thumbnail(member):
    g = aged(member, 40)
    result = g.results.get()
    assert not result.display  # stored before display variants existed

    counts = retention.apply(NOW, days=30)

    result.refresh_from_db()
    assert counts["displays_made"] == 1
    assert result.file == "" and result.original_removed_at == NOW
    assert default_storage.exists(result.thumbnail.name)
    with default_storage.open(result.display.name) as handle:
        display = Image.open(handle)
        assert display.format == "WEBP"
        assert display.size == (64, 48) == (result.display_width, result.display_height)


def test_pages_say_the_original_was_removed_and_show_the_display_variant(
    member_client, member, settings
):
    settings.BANANA_RETENTION_DAYS = 30
    g = aged(member, 40)
    retention.apply(NOW)
    result = g.results.get()

    card = member_client.get(reverse("history")).text
    detail = member_client.get(reverse("generation_detail", args=[g.pk])).text

    assert "Original removed after 30 days" in card
    assert "Original removed after 30 days" in detail
    assert "Download original" not in detail
    assert f"/{result.display.name}" in detail
    assert member_client.get(reverse("result_image", args=[g.pk, 0])).status_code == 404
    display = member_client.get(reverse("result_display", args=[g.pk, 0]))
    assert display["Content-Type"] == "image/webp"


def test_a_later_share_shows_the_display_variant_in_place_of_the_removed_original(client, member):
    g = aged(member, 40)
    retention.apply(NOW, days=30)
    link = create_share_link(member, generation=g)

    response = client.get(reverse("share_image", args=[link.token, g.pk, 0]))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"


def test_removed_originals_no_longer_count_against_the_quota(member):
    g = aged(member, 40)
    ResultImage.objects.filter(generation=g).update(byte_size=5_000_000, thumbnail_byte_size=100)
    before = quota.used_by(member)

    retention.apply(NOW, days=30)

    display = ResultImage.objects.get(generation=g).display_byte_size
    assert quota.used_by(member) == before - 5_000_000 + display


def test_zero_days_keeps_every_original(member):
    g = aged(member, 4000)

    assert retention.apply(NOW, days=0)["originals_removed"] == 0
    assert original_of(g)


def test_an_original_that_cannot_be_read_is_kept(member):
    g = aged(member, 40)
    name = original_of(g)
    with default_storage.open(name, "wb") as handle:
        handle.write(b"no longer an image")

    counts = retention.apply(NOW, days=30)

    assert counts == {"originals_removed": 0, "displays_made": 0, "kept_unreadable": 1}
    assert original_of(g) == name


def test_the_worker_task_applies_the_configured_policy(member, settings):
    settings.BANANA_RETENTION_DAYS = 30
    old, recent = aged(member, 40), aged(member, 1)

    tasks.apply_retention.enqueue()

    assert not original_of(old)
    assert original_of(recent)
