"""The API keys page (create, show once, revoke, signing secrets), who may reach it, the
admin's view of every key, and the small rules of the API layer."""

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from generations.api import callbacks, jobs, keys
from generations.models import ApiKey

from .api_helpers import make_key
from .otp_helpers import verified_admin_client

KEY_RE = re.compile(r"bsk_[A-Za-z0-9_-]{43}")


@pytest.mark.django_db
def test_a_member_creates_a_key_that_is_shown_once_and_stored_hashed(member_client, member):
    created = member_client.post(reverse("api_keys"), {"name": "n8n"})

    assert created.status_code == 200
    assert created["Cache-Control"].startswith("max-age=0")
    (secret,) = set(KEY_RE.findall(created.content.decode()))
    key = ApiKey.objects.get(user=member)
    assert key.name == "n8n"
    assert key.prefix == secret[:12]
    assert key.key_hash == keys.hash_key(secret)
    assert secret not in {key.key_hash, key.prefix, key.signing_secret}
    assert key.signing_secret.startswith("whsec_")
    again = member_client.get(reverse("api_keys")).content.decode()
    assert secret not in again
    assert key.prefix in again
    assert key.signing_secret in again  # the member's own signing secret, to verify callbacks
    assert keys.key_from_secret(secret) == key


@pytest.mark.django_db
def test_a_key_keeps_its_budget_and_allowed_models(member_client, member):
    member_client.post(
        reverse("api_keys"),
        {"name": "tight", "monthly_budget": "2.5", "allowed_models": ["google/nano-banana"]},
    )

    key = ApiKey.objects.get(user=member)
    assert key.monthly_budget == Decimal("2.5")
    assert key.allowed_models == ["google/nano-banana"]
    page = member_client.get(reverse("api_keys")).content.decode()
    assert "0 of 2.5 credits this month" in page
    assert "Nano Banana" in page


@pytest.mark.django_db
def test_a_key_needs_a_name(member_client, member):
    refused = member_client.post(reverse("api_keys"), {"name": "  "})

    assert refused.status_code == 400
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_the_owner_revokes_a_key_and_it_stops_working_at_once(member_client, member):
    key, secret = make_key(member, "old script")

    answer = member_client.post(reverse("api_key_revoke", args=[key.pk]))

    assert answer.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert key.revoked_by == member
    assert keys.key_from_secret(secret) is None
    page = member_client.get(reverse("api_keys")).content.decode()
    assert "Revoked" in page
    assert key.signing_secret not in page


@pytest.mark.django_db
def test_a_teammate_can_neither_see_nor_revoke_my_keys(client, member, teammate):
    key, secret = make_key(member, "mina's secret script")
    client.force_login(teammate)

    page = client.get(reverse("api_keys")).content.decode()
    revoke = client.post(reverse("api_key_revoke", args=[key.pk]))

    assert "mina's secret script" not in page
    assert key.prefix not in page
    assert key.signing_secret not in page
    assert revoke.status_code == 404
    assert keys.key_from_secret(secret) == key


@pytest.mark.django_db
def test_anonymous_visitors_are_sent_to_log_in_from_the_keys_pages(client, member):
    key, _ = make_key(member)
    for response in (
        client.get(reverse("api_keys")),
        client.post(reverse("api_keys"), {"name": "x"}),
        client.post(reverse("api_key_revoke", args=[key.pk])),
        client.get(reverse("api_docs")),
    ):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    assert ApiKey.objects.count() == 1


@pytest.mark.django_db
def test_the_keys_forms_need_a_csrf_token(member):
    key, _ = make_key(member)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member)

    forged_create = browser.post(reverse("api_keys"), {"name": "forged"})
    forged_revoke = browser.post(reverse("api_key_revoke", args=[key.pk]))
    page = browser.get(reverse("api_keys")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    real = browser.post(reverse("api_keys"), {"name": "real", "csrfmiddlewaretoken": token})

    assert forged_create.status_code == 403
    assert forged_revoke.status_code == 403
    assert real.status_code == 200
    assert sorted(ApiKey.objects.values_list("name", flat=True)) == ["real", "script"]
    key.refresh_from_db()
    assert key.revoked_at is None


@pytest.mark.django_db
def test_a_member_has_at_most_twenty_active_keys(member_client, member):
    for i in range(keys.MAX_ACTIVE_KEYS):
        make_key(member, f"k{i}")

    refused = member_client.post(reverse("api_keys"), {"name": "one too many"})

    assert refused.status_code == 400
    assert "revoke one first" in refused.content.decode()


@pytest.mark.django_db
def test_an_admin_sees_every_key_and_revokes_any(client, admin_user, member, teammate):
    mine, mine_secret = make_key(member, "mina's")
    theirs, _ = make_key(teammate, "tae's")
    verified_admin_client(client, admin_user)
    changelist = reverse("admin:generations_apikey_changelist")

    listed = client.get(changelist).content.decode()
    revoked = client.post(
        changelist, {"action": "revoke_keys", "_selected_action": [str(mine.pk)]}, follow=True
    )

    assert "mina&#x27;s" in listed and "tae&#x27;s" in listed
    assert mine.key_hash not in listed
    assert "1 key revoked." in revoked.content.decode()
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_by == admin_user
    assert theirs.revoked_at is None
    assert keys.key_from_secret(mine_secret) is None


@pytest.mark.django_db
def test_the_docs_page_shows_the_members_base_url(member_client, settings):
    settings.PUBLIC_BASE_URL = "https://banana.example.com"

    page = member_client.get(reverse("api_docs")).content.decode()

    assert "curl -s https://banana.example.com/api/image/gen" in page
    assert 'base_url="https://banana.example.com/v1"' in page
    assert reverse("api_openapi") in page


@pytest.mark.django_db
def test_the_openapi_document_is_public_and_describes_every_api_route(client):
    document = client.get(reverse("api_openapi")).json()

    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/api/image/gen",
        "/api/task/query",
        "/api/balance",
        "/v1/images/generations",
        "/v1/images/edits",
        "/v1/models",
        "/api/results/{token}",
    }
    models = document["components"]["schemas"]["ProviderSubmitRequest"]["properties"]["model"]
    assert "google/gempix2" in models["enum"]


@pytest.mark.django_db
def test_last_use_is_written_at_most_once_a_minute(member):
    key, secret = make_key(member)
    assert key.last_used_at is None

    keys.key_from_secret(secret)
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    keys.key_from_secret(secret)

    assert first is not None
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    assert timezone.now() - first < keys.LAST_USED_EVERY


@pytest.mark.django_db
def test_a_use_a_minute_after_the_last_is_written(member):
    key, secret = make_key(member)
    an_hour_ago = timezone.now() - timedelta(hours=1)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=an_hour_ago)

    keys.key_from_secret(secret)

    assert ApiKey.objects.get(pk=key.pk).last_used_at > an_hour_ago + keys.LAST_USED_EVERY


@pytest.mark.django_db
def test_a_keys_month_starts_at_its_first_submit_and_refuses_past_its_budget(
    client, member, settings
):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    key, secret = make_key(member, monthly_budget=Decimal("1"))
    under_one_image, under_secret = make_key(member, "tiny", monthly_budget=Decimal("0.1"))

    def submit(secret):
        return client.post(
            reverse("api_image_gen"),
            {"model": "google/gempix2", "prompt": "A banana"},
            content_type="application/json",
            headers={"Authorization": f"Bearer {secret}"},
        )

    answers = [submit(secret).status_code for _ in range(3)]
    refused = submit(under_secret)

    assert answers == [200, 200, 400]
    # The refused first submit's month row went with its rollback.
    assert keys.committed_this_month([key, under_one_image]) == {key.pk: Decimal("1")}
    assert "has used its budget" in refused.json()["detail"]


def test_malformed_keys_are_refused_without_a_lookup():
    # No database in this test: a query would raise.
    assert keys.key_from_header("Bearer dk-1234567890abcdef") is None
    assert keys.key_from_header("Basic Zm9vOmJhcg==") is None
    assert keys.key_from_header("") is None


def test_our_callback_signature_is_the_reference_implementations():
    secret = keys.new_signing_secret()
    body = json.dumps({"status": "success"})
    now = timezone.now()

    headers = callbacks.signed_headers(secret, "msg_1", body, now=now.timestamp())

    assert headers["webhook-signature"] == Webhook(secret).sign("msg_1", now, body)
    assert Webhook(secret).verify(body, headers) == {"status": "success"}


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ("auto", ("", "")),
        ("1024x1024", ("1:1", "1k")),
        ("1536x1024", ("3:2", "1k")),
        ("1024x1536", ("2:3", "1k")),
        ("1792x1024", ("16:9", "1k")),
        ("2048x2048", ("1:1", "2k")),
        ("4096x2304", ("16:9", "4k")),
        ("256x256", ("1:1", "1k")),
    ],
)
def test_openai_sizes_map_to_the_nearest_ratio_and_size(size, expected):
    assert jobs.size_choice("google/gempix2", size) == expected


def test_models_without_sizes_get_only_the_ratio():
    assert jobs.size_choice("google/nano-banana", "2048x1024") == ("16:9", "")


def test_retries_last_about_a_day_then_give_up():
    total = sum(callbacks.RETRY_DELAYS, timedelta())
    assert timedelta(hours=20) < total <= timedelta(hours=25)
    assert list(callbacks.RETRY_DELAYS) == sorted(callbacks.RETRY_DELAYS)
