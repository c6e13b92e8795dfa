"""Edit threads: an edit is a generation made from a finished image, against the emulator
over real HTTP; the thread as each viewer may see it (owner, teammate, auditor, anonymous)."""

import io

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from generations import credits, services, threads
from generations.accounts import members
from generations.models import Generation, ShareLink

from .conftest import make_user
from .otp_helpers import verified_admin_client
from .polling import poll_until_settled
from .sharing_builders import make_generation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("client_requests_commit")]


@pytest.fixture(autouse=True)
def _fast(settings, emulator):
    settings.BANANA_POLL_INTERVAL = 0
    return emulator


@pytest.fixture
def teammate_client(teammate, committed):
    """The teammate's browser; each request's on-commit work done (as client_requests_commit)."""
    credits.grant(teammate, 1000, reason="test budget")
    client = Client()
    client.force_login(teammate)
    request = client.request

    def request_then_commit(**kwargs):
        with committed():
            return request(**kwargs)

    client.request = request_then_commit
    return client


def png(color="red", size=(48, 48)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    buffer.name = f"{color}.png"
    buffer.seek(0)
    return buffer


def generate(client, prompt="A yellow mug", **extra):
    data = {"prompt": prompt, "model": "google/gempix2", "visibility": "team", **extra}
    response = client.post(reverse("generate"), data, headers={"HX-Request": "true"})
    assert response.status_code == 200, response.content
    generation = Generation.objects.latest("created_at")
    poll_until_settled(client, generation)
    generation.refresh_from_db()
    assert generation.is_success
    return generation


def edit(client, generation, prompt, *, settle=True, **extra):
    response = client.post(
        reverse("generation_edit", args=[generation.pk]),
        {"prompt": prompt, **extra},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 204, response.content
    made = Generation.objects.latest("created_at")
    assert response["HX-Location"] == reverse("generation_detail", args=[made.pk])
    if settle:
        poll_until_settled(client, made)
        made.refresh_from_db()
    return made


def test_an_edit_sends_the_image_first_and_records_its_parent(member_client, member, emulator):
    first = generate(member_client)

    second = edit(member_client, first, "make the mug purple")

    first.refresh_from_db()
    assert second.parent_id == first.pk
    assert second.thread_id == first.pk == first.thread_id
    assert second.owner == member
    assert (second.model, second.visibility) == (first.model, first.visibility)
    sent = emulator.tasks[second.upstream_task_id]
    assert sent["prompt"] == "make the mug purple"
    assert len(sent["images"]) == 1
    with first.results.get().file.open("rb") as mine, second.references.get().file.open("rb") as r:
        assert Image.open(mine).tobytes() == Image.open(r).tobytes()
    # Priced and charged as any generation.
    assert second.credits_charged == credits.price_for(second.model, second.image_size)
    with second.results.get().file.open("rb") as a, first.results.get().file.open("rb") as b:
        assert a.read() != b.read()  # the emulator drew the prompt and the reference


def test_an_edit_adds_the_members_references_after_the_image(member_client, emulator):
    first = generate(member_client)

    second = edit(member_client, first, "put it on a table", reference_files=[png("green")])

    assert len(emulator.tasks[second.upstream_task_id]["images"]) == 2
    assert [r.position for r in second.references.all()] == [0, 1]


def test_an_edit_with_too_many_references_is_refused_and_costs_nothing(member_client, member):
    first = generate(member_client)
    before = Generation.objects.count()
    balance = credits.summary_for(member)

    response = member_client.post(
        reverse("generation_edit", args=[first.pk]),
        {"prompt": "more", "reference_files": [png(c) for c in ("red", "green", "blue", "gray")]},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200  # the form comes back in place, with why
    assert "At most 4 reference images in all." in response.text
    assert Generation.objects.count() == before
    assert credits.summary_for(member) == balance


def test_the_edit_form_opens_in_place_and_on_a_page_of_its_own(member_client):
    first = generate(member_client)

    in_place = member_client.get(
        reverse("generation_edit", args=[first.pk]), headers={"HX-Request": "true"}
    )
    page = member_client.get(reverse("generation_edit", args=[first.pk]))

    assert 'class="edit-form"' in in_place.text
    assert "<html" not in in_place.text
    assert "<html" in page.text and 'class="edit-form"' in page.text


def test_the_image_page_shows_the_thread_its_branches_and_version_numbers(member_client):
    v1 = generate(member_client, "A red car")
    v2 = edit(member_client, v1, "make it blue")
    v3 = edit(member_client, v2, "add snow")
    branch = edit(member_client, v1, "make it a truck")

    page = member_client.get(reverse("generation_detail", args=[v3.pk])).text
    thread = threads.thread_for(v3.owner, v3)

    assert [(v.generation, v.number) for v in thread.lineage] == [(v1, 1), (v2, 2), (v3, 3)]
    assert thread.lineage[0].branches == [branch]
    assert (thread.number, thread.size) == (3, 4)
    assert "v3 of 4" in page
    for version in (v1, v2):
        assert reverse("generation_detail", args=[version.pk]) in page
    assert reverse("generation_detail", args=[branch.pk]) in page  # a branch off v1
    assert reverse("generation_compare", args=[v3.pk]) in page
    assert reverse("generation_edit", args=[v1.pk]) in page  # continue from v1


def test_cards_say_which_version_they_are_and_a_thread_collapses_to_its_newest(member_client):
    v1 = generate(member_client, "A lamp")
    v2 = edit(member_client, v1, "turn it on")
    alone = generate(member_client, "A chair")

    history = member_client.get(reverse("history")).text
    collapsed = member_client.get(reverse("history"), {"newest_versions": "on"}).text

    assert "v1 of 2" in history and "v2 of 2" in history
    assert f'id="item-{v1.pk}"' in history
    assert f'id="item-{v1.pk}"' not in collapsed
    assert f'id="item-{v2.pk}"' in collapsed and f'id="item-{alone.pk}"' in collapsed


def test_a_teammates_edit_does_not_hide_my_thread_from_my_collapsed_history(
    member_client, teammate_client
):
    """The newest version is the newest the page itself lists: my history does not list a
    teammate's edit of my image, so my own newest version stays."""
    v1 = generate(member_client, "A kite")
    theirs = edit(teammate_client, v1, "make it red")

    mine = member_client.get(reverse("history"), {"newest_versions": "on"}).text
    gallery = member_client.get(reverse("gallery"), {"newest_versions": "on"}).text

    assert f'id="item-{v1.pk}"' in mine
    assert f'id="item-{v1.pk}"' not in gallery and f'id="item-{theirs.pk}"' in gallery


def test_a_teammate_edits_a_team_image_and_never_sees_private_versions(
    member_client, member, teammate_client, teammate
):
    v1 = generate(member_client, "A mascot")
    private = edit(member_client, v1, "secret idea", settle=False)
    Generation.objects.filter(pk=private.pk).update(visibility="private")
    theirs = edit(teammate_client, v1, "give it a hat")

    assert theirs.owner == teammate and theirs.parent_id == v1.pk
    teammate_page = teammate_client.get(reverse("generation_detail", args=[theirs.pk])).text
    owner_page = member_client.get(reverse("generation_detail", args=[theirs.pk])).text
    assert "secret idea" not in teammate_page
    assert "v2 of 2" in teammate_page  # counts leave the private version out
    assert "v2 of 3" in owner_page and "secret idea" in owner_page
    history = teammate_client.get(reverse("gallery")).text
    assert "secret idea" not in history and "of 3" not in history
    # A private version (the member's, or one of a thread) cannot be edited by others.
    refused = teammate_client.post(reverse("generation_edit", args=[private.pk]), {"prompt": "x"})
    assert refused.status_code == 404


def test_an_auditor_sees_a_whole_thread_and_cannot_edit_a_private_image(client, member_client):
    v1 = generate(member_client, "A logo")
    v2 = edit(member_client, v1, "flat colours")
    Generation.objects.filter(pk=v2.pk).update(visibility="private")
    auditor = make_user("audra")
    members.set_role(auditor, "auditor")
    auditor_client = verified_admin_client(client, auditor)

    page = auditor_client.get(reverse("generation_detail", args=[v1.pk]))
    refused = auditor_client.post(reverse("generation_edit", args=[v2.pk]), {"prompt": "x"})

    assert reverse("generation_detail", args=[v2.pk]) in page.text
    assert refused.status_code == 404
    assert Generation.objects.count() == 2


def test_anonymous_visitors_are_sent_to_sign_in_and_nothing_is_made(member_client):
    v1 = generate(member_client)
    v2 = edit(member_client, v1, "brighter")
    anonymous = Client()

    for response in (
        anonymous.get(reverse("generation_edit", args=[v1.pk])),
        anonymous.post(reverse("generation_edit", args=[v1.pk]), {"prompt": "x"}),
        anonymous.get(reverse("generation_compare", args=[v2.pk])),
    ):
        assert response.status_code == 302
        assert reverse("login") in response["Location"]
    assert Generation.objects.count() == 2


def test_an_unfinished_or_unseen_image_cannot_be_edited(member_client, member, teammate):
    running = make_generation(member, status="in_progress")
    hidden = make_generation(teammate, visibility="private")

    for target in (running, hidden):
        response = member_client.post(reverse("generation_edit", args=[target.pk]), {"prompt": "x"})
        assert response.status_code == 404
    with pytest.raises(threads.EditRefused):
        threads.create_edit(member, hidden, prompt="x")


def test_compare_shows_both_versions_side_by_side_and_with_a_slider(member_client):
    v1 = generate(member_client, "A boat")
    v2 = edit(member_client, v1, "at sunset")

    page = member_client.get(reverse("generation_compare", args=[v2.pk]))
    first = member_client.get(reverse("generation_compare", args=[v1.pk]))

    assert page.status_code == 200
    assert 'type="range"' in page.text and "data-compare-range" in page.text
    assert v1.results.get().display.name in page.text or v1.results.get().file.name in page.text
    assert first.status_code == 302  # the first version has nothing to compare with


def test_a_thread_survives_deleting_a_middle_version(member_client):
    v1 = generate(member_client, "A house")
    v2 = edit(member_client, v1, "red roof")
    v3 = edit(member_client, v2, "add a garden")

    services.delete_generation(v2)
    page = member_client.get(reverse("generation_detail", args=[v3.pk])).text
    thread = threads.thread_for(v3.owner, v3)

    assert "The previous version was removed or is not visible to you." in page
    assert [(v.generation, v.number) for v in thread.lineage] == [(v1, 1), (v3, 2)]
    assert v3.references.get().file  # its own copy of the removed version's image
    with v3.references.get().file.open("rb") as fh:
        assert Image.open(fh).size


def test_a_version_removed_for_good_leaves_its_children_in_the_thread(member_client):
    v1 = generate(member_client, "A tree")
    v2 = edit(member_client, v1, "autumn")
    v3 = edit(member_client, v2, "winter")

    Generation.objects.filter(pk=v2.pk).delete()
    v3.refresh_from_db()

    assert v3.parent_id is None and v3.thread_id == v1.pk
    assert (
        "The previous version was removed"
        in member_client.get(reverse("generation_detail", args=[v3.pk])).text
    )


def test_a_failed_step_is_retried_in_place_and_stays_in_the_thread(member_client, member):
    v1 = generate(member_client)
    failed = make_generation(
        member, status="failed", parent=v1, thread_id=v1.pk, prompt="make it glow"
    )

    response = member_client.post(
        reverse("generation_retry", args=[failed.pk]), headers={"HX-Request": "true"}
    )

    assert response.status_code in (200, 204)
    again = Generation.objects.get(retry_of=failed)
    assert again.parent_id == v1.pk and again.thread_id == v1.pk
    assert again.prompt == "make it glow"


def test_a_thread_share_link_shows_the_sharers_versions_in_order(
    member_client, member, teammate_client
):
    v1 = generate(member_client, "A cup")
    v2 = edit(teammate_client, v1, "teammate's saucer")
    v3 = edit(member_client, v2, "steam rising")

    response = member_client.post(
        reverse("share_create"),
        {"generation": v3.pk, "whole_thread": "on", "show_prompts": "on"},
    )
    assert response.status_code == 302
    link = ShareLink.objects.get()
    assert link.whole_thread
    public = Client()
    page = public.get(reverse("share_page", args=[link.token])).text

    assert page.index("A cup") < page.index("steam rising")
    assert "saucer" not in page
    own = public.get(reverse("share_image", args=[link.token, v1.pk, 0]))
    theirs = public.get(reverse("share_image", args=[link.token, v2.pk, 0]))
    assert own.status_code == 200
    assert theirs.status_code == 404


def test_a_share_link_without_the_thread_shows_only_the_image(member_client):
    v1 = generate(member_client, "A plate")
    v2 = edit(member_client, v1, "with fruit")

    member_client.post(reverse("share_create"), {"generation": v2.pk, "show_prompts": "on"})
    link = ShareLink.objects.get()
    page = Client().get(reverse("share_page", args=[link.token])).text

    assert "with fruit" in page and "A plate" not in page
    assert Client().get(reverse("share_image", args=[link.token, v1.pk, 0])).status_code == 404


def test_a_private_version_in_the_middle_is_skipped_for_a_teammate(
    member_client, member, teammate_client, teammate
):
    v1 = generate(member_client, "A kite")
    v2 = edit(member_client, v1, "secret colours")
    v3 = edit(member_client, v2, "in a storm")
    Generation.objects.filter(pk=v2.pk).update(visibility="private")

    thread = threads.thread_for(teammate, v3)
    page = teammate_client.get(reverse("generation_detail", args=[v3.pk])).text
    compare = teammate_client.get(reverse("generation_compare", args=[v3.pk]))

    assert [(v.generation, v.number) for v in thread.lineage] == [(v1, 1), (v3, 2)]
    assert thread.lineage[1].parent_missing and thread.size == 2
    assert "v2 of 2" in page and "secret colours" not in page
    assert "The previous version was removed or is not visible to you." in page
    assert reverse("generation_compare", args=[v3.pk]) not in page
    assert compare.status_code == 302  # no parent this member may see
    assert "v3 of 3" in member_client.get(reverse("generation_detail", args=[v3.pk])).text


def test_without_javascript_the_edit_posts_and_redirects_to_the_new_version(member_client):
    v1 = generate(member_client)

    made = member_client.post(reverse("generation_edit", args=[v1.pk]), {"prompt": "in blue"})
    refused = member_client.post(reverse("generation_edit", args=[v1.pk]), {"prompt": " "})

    v2 = Generation.objects.get(parent=v1)
    assert made.status_code == 302
    assert made["Location"] == reverse("generation_detail", args=[v2.pk])
    assert refused.status_code == 400 and "This field is required." in refused.text
    assert Generation.objects.count() == 2


def test_the_card_menu_offers_edit_for_a_finished_image_only(member_client, member):
    done = make_generation(member)
    failed = make_generation(member, status="failed")

    done_menu = member_client.get(reverse("generation_menu", args=[done.pk])).text
    failed_menu = member_client.get(reverse("generation_menu", args=[failed.pk])).text

    assert reverse("generation_edit", args=[done.pk]) in done_menu
    assert reverse("generation_edit", args=[failed.pk]) not in failed_menu
