"""The studio's server side (issue 8): jobs of several images, what a failure costs and says,
cancel while queued, vary, the card menu, an expired session under htmx, bulk actions and
the streamed ZIP."""

import io
import zipfile
from decimal import Decimal

import pytest
from django.urls import reverse

from generations import boards, credits, services
from generations.models import CreditAccount, Generation

from .conftest import make_user, refresh_now
from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def balance(user):
    return CreditAccount.objects.get(user=user).balance


# --- Several images per submit -----------------------------------------------------------


def test_a_submit_of_four_images_makes_four_runs_of_one_job_each_with_its_own_hold(
    member, member_client, emulator, committed
):
    with committed():
        response = member_client.post(
            reverse("generate"),
            {"prompt": "Four of them", "model": "google/gempix2", "image_size": "4k", "count": 4},
            headers=HTMX,
        )
    assert response.status_code == 200
    generations = list(Generation.objects.all())
    assert len(generations) == 4
    assert len({g.job_id for g in generations}) == 1
    assert all(g.hold_amount == Decimal("1.0") for g in generations)
    assert emulator.submit_count == 4
    assert balance(member) == Decimal("996")
    # One job card with four tiles, put in front of the others.
    assert response.text.count('class="tile"') == 4
    assert 'hx-swap-oob="afterbegin:#cards"' in response.text
    assert response["HX-Trigger"] == '{"banana:submitted": {"count": 4}}'


def test_a_job_whose_holds_do_not_all_fit_holds_nothing(emulator, committed):
    poor = make_user("poor")
    credits.grant(poor, "1.2", reason="enough for two")
    with pytest.raises(credits.NotEnoughCredits), committed():
        services.create_job(poor, count=3, model="google/gempix2", prompt="three")
    assert not Generation.objects.exists()
    assert balance(poor) == Decimal("1.2")
    assert emulator.submit_count == 0


def test_the_studio_shows_a_jobs_images_together(member, member_client):
    job = services.create_job(member, count=2, model="google/gempix2", prompt="pair")
    single = make_generation(member, prompt="alone")

    text = member_client.get(reverse("home")).text

    assert text.count('class="card job job-of-2"') == 1
    assert text.count('class="card job job-of-1"') == 1
    assert f'id="job-{job[0].job_id}"' in text
    assert f'id="job-{single.job_key}"' in text


def test_a_refused_submit_swaps_only_the_messages_and_clears_those_that_no_longer_apply(
    member_client,
):
    refused = member_client.post(reverse("generate"), {"prompt": " "}, headers=HTMX)
    assert 'id="errors-prompt" hx-swap-oob="true"' in refused.text
    assert "This field is required." in refused.text or "Write a prompt." in refused.text
    assert 'id="compose"' not in refused.text

    refused = member_client.post(
        reverse("generate"), {"prompt": "fine now", "model": "nope"}, headers=HTMX
    )
    prompt_slot = refused.text.split('id="errors-prompt"')[1].split("</div>")[0]
    assert "error" not in prompt_slot  # the prompt's message is gone
    assert "Select a valid choice" in refused.text.split('id="errors-model"')[1]


def test_a_size_or_ratio_the_model_does_not_take_is_refused(member_client, settings):
    settings.BANANA_MODELS = [
        {"id": "google/gempix2", "label": "G", "sizes": ["1k"], "aspect_ratios": ["1:1"]}
    ]
    refused = member_client.post(
        reverse("generate"),
        {"prompt": "x", "model": "google/gempix2", "image_size": "4k", "aspect_ratio": "16:9"},
        headers=HTMX,
    )
    assert "This model does not take an image size." in refused.text
    assert "This model does not take this aspect ratio." in refused.text
    assert not Generation.objects.exists()


# --- What a failure costs, and says -------------------------------------------------------


def test_a_text_answer_charged_by_the_provider_says_so_plainly(
    member, member_client, emulator, committed
):
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="words")
    generation.refresh_from_db()
    emulator.finish(generation.upstream_task_id, status="text")
    with committed():
        refresh_now(generation.pk)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.credits_charged == Decimal("0.5")
    card = member_client.get(reverse("generation_detail", args=[generation.pk])).text
    assert "charged 0.5 credits by the provider, no image" in card


def test_a_failure_the_provider_did_not_charge_releases_the_hold_and_says_not_charged(
    member, member_client, emulator, committed
):
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="no")
    generation.refresh_from_db()
    emulator.finish(generation.upstream_task_id, status="failed")
    with committed():
        refresh_now(generation.pk)

    generation.refresh_from_db()
    assert generation.credit_state == Generation.CreditState.RELEASED
    assert balance(member) == Decimal("1000")
    card = member_client.get(reverse("generation_detail", args=[generation.pk])).text
    assert "not charged" in card


# --- Cancel, vary, retry ------------------------------------------------------------------


def test_cancel_while_queued_fails_it_and_gives_the_hold_back(member, member_client):
    generation = services.create_generation(member, model="google/gempix2", prompt="wait")
    assert balance(member) == Decimal("999.5")

    response = member_client.post(reverse("generation_cancel", args=[generation.pk]), headers=HTMX)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.credit_state == Generation.CreditState.RELEASED
    assert balance(member) == Decimal("1000")
    assert "not charged" in response.text
    # Once sent, it can no longer be called off.
    assert services.cancel_generation(generation.pk) is False


def test_a_cancelled_job_reads_cancelled_without_an_error_or_a_retry(member, member_client):
    generation = services.create_generation(member, model="google/gempix2", prompt="wait")

    response = member_client.post(reverse("generation_cancel", args=[generation.pk]), headers=HTMX)

    assert '<span class="badge badge-cancelled">Cancelled</span>' in response.text
    assert "badge-failed" not in response.text
    assert 'class="error"' not in response.text
    assert "Retry" not in response.text
    # And so it stays on every page that shows it, in the member's language.
    history = member_client.get(reverse("history"), headers={"Accept-Language": "ko"}).text
    assert "badge-cancelled" in history and "Retry" not in history


def test_cancel_does_nothing_once_the_sender_claimed_it(member, emulator, committed):
    with committed():
        generation = services.create_generation(member, model="google/gempix2", prompt="gone")
    assert services.cancel_generation(generation.pk) is False
    generation.refresh_from_db()
    assert generation.status == Generation.Status.PENDING


def test_a_teammate_may_not_cancel(member, teammate, client):
    generation = services.create_generation(member, model="google/gempix2", prompt="mine")
    client.force_login(teammate)
    assert client.post(reverse("generation_cancel", args=[generation.pk])).status_code == 403


def test_vary_runs_a_visible_image_again_as_the_askers_own(teammate, member, client, emulator):
    original = make_generation(member, prompt="Theirs", aspect_ratio="3:2")
    credits.grant(teammate, 5, reason="x")
    client.force_login(teammate)

    response = client.post(
        reverse("generation_vary", args=[original.pk]),
        headers={**HTMX, "HX-Current-URL": "http://testserver/"},
    )

    new = Generation.objects.exclude(pk=original.pk).get()
    assert (new.owner, new.prompt, new.aspect_ratio) == (teammate, "Theirs", "3:2")
    assert new.retry_of is None
    assert 'hx-swap-oob="afterbegin:#cards"' in response.text


def test_retry_from_a_generations_own_page_sends_the_browser_to_the_new_run(
    member, member_client, emulator
):
    failed = make_generation(member, status="failed", error_message="broke")
    page = "http://testserver" + reverse("generation_detail", args=[failed.pk])

    response = member_client.post(
        reverse("generation_retry", args=[failed.pk]), headers={**HTMX, "HX-Current-URL": page}
    )

    new = Generation.objects.exclude(pk=failed.pk).get()
    assert response["HX-Location"] == reverse("generation_detail", args=[new.pk])


# --- The card menu ---------------------------------------------------------------------------


def test_the_card_menu_offers_every_action_and_acts_in_place_in_the_studio(member, member_client):
    generation = make_generation(member, prompt="Menu me")
    boards.create_collection(member, "Picks")
    url = reverse("generation_menu", args=[generation.pk])

    studio = member_client.get(url, headers={**HTMX, "HX-Current-URL": "http://testserver/"})
    elsewhere = member_client.get(
        url, headers={**HTMX, "HX-Current-URL": "http://testserver/gallery/"}
    )

    for label in ("Open", "Download", "Remix", "Vary", "Use as reference", "Copy prompt"):
        assert label in studio.text and label in elsewhere.text
    for label in ("Favourite", "Picks", "Share", "Delete"):
        assert label in studio.text
    assert 'hx-target="#compose"' in studio.text  # remix into the form, no page change
    assert "data-add-reference" in studio.text  # the image joins the form's references
    assert 'hx-target="#compose"' not in elsewhere.text
    assert reverse("generation_use_as_reference", args=[generation.pk, 0]) in elsewhere.text


def test_a_teammates_menu_offers_neither_delete_nor_share(member, teammate, client):
    generation = make_generation(member)
    client.force_login(teammate)
    text = client.get(reverse("generation_menu", args=[generation.pk]), headers=HTMX).text
    assert "Delete" not in text and "Share" not in text


def test_remix_over_htmx_answers_the_form_alone(member, member_client):
    generation = make_generation(member, prompt="Again please")
    response = member_client.get(reverse("generation_remix", args=[generation.pk]), headers=HTMX)
    assert response.text.lstrip().startswith("<form")
    assert "Again please" in response.text


# --- An expired session ----------------------------------------------------------------------


def test_an_anonymous_htmx_request_is_sent_to_the_login_page_with_the_page_it_came_from(client):
    response = client.post(
        reverse("generate"),
        {"prompt": "x"},
        headers={**HTMX, "HX-Current-URL": "http://testserver/history/?q=boat"},
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/history/%3Fq%3Dboat"
    assert "<form" not in response.text


def test_an_anonymous_poll_is_sent_to_the_login_page_too(client):
    response = client.get(
        reverse("generation_statuses"), headers={**HTMX, "HX-Current-URL": "http://testserver/"}
    )
    assert response["HX-Redirect"] == "/login/?next=/"


def test_a_plain_post_without_a_session_comes_back_to_the_page_not_the_post_only_url(client):
    response = client.post(
        reverse("generate"), {"prompt": "x"}, headers={"Referer": "http://testserver/gallery/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/gallery/"


def test_a_next_on_another_site_is_ignored(client):
    response = client.post(
        reverse("generate"), headers={**HTMX, "HX-Current-URL": "https://evil.example/x"}
    )
    assert response["HX-Redirect"] == "/login/?next=/"


# --- Several at once ------------------------------------------------------------------------


def test_bulk_zip_streams_every_selected_image_and_only_what_the_member_may_see(
    member, teammate, member_client
):
    mine = [make_generation(member, prompt=f"Mine {i}") for i in range(2)]
    private = make_generation(teammate, prompt="Hidden", visibility="private")

    response = member_client.post(
        reverse("bulk_download"), {"ids": [str(g.pk) for g in [*mine, private]]}
    )

    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert len(archive.namelist()) == 2
    assert all(archive.read(name).startswith(b"\x89PNG") for name in archive.namelist())


def test_bulk_actions_change_visibility_collect_and_delete(member, member_client):
    rows = [make_generation(member, prompt=f"Row {i}") for i in range(3)]
    ids = [str(g.pk) for g in rows[:2]]
    collection = boards.create_collection(member, "Best")

    member_client.post(reverse("bulk"), {"ids": ids, "action": "visibility:private"})
    member_client.post(
        reverse("bulk"), {"ids": ids, "action": "collect", "collection": str(collection.pk)}
    )
    member_client.post(reverse("bulk"), {"ids": ids, "action": "delete", "next": "/history/"})

    assert set(Generation.objects.filter(visibility="private").values_list("pk", flat=True)) == {
        g.pk for g in rows[:2]
    }
    assert collection.items.count() == 2
    assert Generation.objects.filter(deleted_at__isnull=True).get() == rows[2]


def test_bulk_delete_of_a_teammates_image_is_refused(member, teammate, client):
    theirs = make_generation(member)
    client.force_login(teammate)
    response = client.post(reverse("bulk"), {"ids": [str(theirs.pk)], "action": "delete"})
    assert response.status_code == 403
    assert Generation.objects.filter(deleted_at__isnull=True).exists()


def test_prices_read_the_same_everywhere(member_client, member):
    generation = make_generation(member)
    Generation.objects.filter(pk=generation.pk).update(credits_charged=Decimal("1"))
    text = member_client.get(reverse("generation_detail", args=[generation.pk])).text
    assert "1 credit<" in text
    assert "Nano Banana (gempix2)" in text
