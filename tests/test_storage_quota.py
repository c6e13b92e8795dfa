"""Each member's storage quota: what their images take, shown to them and to admins, and a
member whose images fill it cannot submit until they free room."""

import pytest
from django.urls import reverse
from django.utils import timezone

from generations import quota
from generations.models import CreditAccount, Generation, ResultImage, TeamSettings

from .otp_helpers import verified_admin_client
from .polling import poll, settled
from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def stored(owner, *, original=0, display=0, thumbnail=0, **extra):
    g = make_generation(owner, **extra)
    ResultImage.objects.filter(generation=g).update(
        byte_size=original,
        display=f"results/{g.pk}/d.webp" if display else "",
        display_byte_size=display,
        thumbnail_byte_size=thumbnail,
    )
    return g


def submit(client):
    return client.post(
        reverse("generate"),
        {"prompt": "One more banana", "model": "google/gempix2"},
        headers={"HX-Request": "true"},
    )


def test_usage_counts_every_kept_file_of_the_members_live_images(member, teammate):
    stored(member, original=3 * MB, display=MB, thumbnail=100)
    removed = stored(member, original=5 * MB, display=MB, thumbnail=100)
    ResultImage.objects.filter(generation=removed).update(
        file="", original_removed_at=timezone.now()
    )
    stored(member, original=7 * MB, deleted_at=timezone.now())
    stored(teammate, original=9 * MB)

    assert quota.used_by(member) == 3 * MB + MB + 100 + MB + 100


def test_sizes_read_well():
    assert quota.format_bytes(512) == "512 B"
    assert quota.format_bytes(120 * MB) == "120 MB"
    assert quota.format_bytes(1024 * MB) == "1 GB"
    assert quota.format_bytes(1536 * MB) == "1.5 GB"


def test_a_member_whose_images_fill_the_quota_cannot_submit_and_is_told_why(
    member_client, member, emulator, settings
):
    settings.BANANA_STORAGE_QUOTA = 10 * MB
    stored(member, original=10 * MB)
    held_before = CreditAccount.objects.get(user=member).held

    response = submit(member_client)

    assert "Your storage is full (10 MB of 10 MB)" in response.text
    assert "Delete images you no longer need" in response.text
    assert Generation.objects.filter(owner=member).count() == 1
    assert CreditAccount.objects.get(user=member).held == held_before


def test_a_member_under_the_quota_submits(member_client, member, emulator, settings):
    settings.BANANA_STORAGE_QUOTA = 10 * MB
    stored(member, original=9 * MB)

    submit(member_client)

    assert Generation.objects.filter(owner=member).count() == 2


def test_the_members_own_quota_beats_the_teams_which_beats_the_servers(member, settings):
    settings.BANANA_STORAGE_QUOTA = 10 * MB
    assert quota.usage_of(member).quota == 10 * MB

    TeamSettings.objects.update_or_create(pk=1, defaults={"default_storage_quota_mb": 50})
    assert quota.usage_of(member).quota == 50 * MB

    CreditAccount.objects.filter(user=member).update(storage_quota_mb=200)
    assert quota.usage_of(member).quota == 200 * MB

    CreditAccount.objects.filter(user=member).update(storage_quota_mb=0)
    assert quota.usage_of(member).quota is None  # 0: no limit


def test_no_quota_by_default(member):
    assert quota.usage_of(member).quota is None
    assert not quota.usage_of(member).full


@pytest.mark.usefixtures("client_requests_commit")
def test_results_of_a_generation_already_sent_are_stored_even_past_the_quota(
    member_client, member, emulator, settings
):
    settings.BANANA_POLL_INTERVAL = 0
    settings.BANANA_STORAGE_QUOTA = 10 * MB
    submit(member_client)
    generation = Generation.objects.get(owner=member)
    stored(member, original=20 * MB)  # the quota filled up while it ran

    assert any(settled(poll(member_client, generation)) for _ in range(50))

    result = ResultImage.objects.get(generation=generation)
    assert result.state == ResultImage.State.STORED
    assert result.file and result.display and result.thumbnail


def test_the_credits_page_shows_the_members_storage(member_client, member, settings):
    settings.BANANA_STORAGE_QUOTA = 1024 * MB
    stored(member, original=120 * MB)

    page = member_client.get(reverse("credit_ledger"))

    assert "Storage: 120 MB of 1 GB" in page.text


def test_the_credits_page_says_when_storage_is_full(member_client, member, settings):
    settings.BANANA_STORAGE_QUOTA = 10 * MB
    stored(member, original=12 * MB)

    page = member_client.get(reverse("credit_ledger"))

    assert "Storage: 12 MB of 10 MB" in page.text
    assert "Full: delete images to submit again." in page.text


def test_admins_see_storage_per_member(client, admin_user, member, teammate, settings):
    settings.BANANA_STORAGE_QUOTA = 1024 * MB
    stored(member, original=120 * MB)
    stored(teammate, original=3 * MB)
    CreditAccount.objects.get_or_create(user=teammate)
    CreditAccount.objects.filter(user=teammate).update(storage_quota_mb=0)
    verified = verified_admin_client(client, admin_user)
    page = verified.get(reverse("admin:generations_creditaccount_changelist"))

    assert page.status_code == 200
    assert "120 MB of 1 GB" in page.text
    assert "3 MB (no limit)" in page.text
