"""The composer's reuse: "Use these settings" on a card fills it with the generation's
prompt, model, ratio, size, visibility, number of images and references; the member's own
recent prompts are listed in it, newest first, each once (issue 19, item 4)."""

import pytest
from django.urls import reverse

from generations import galleries
from generations.models import Generation

from .sharing_builders import add_reference, make_generation

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def job_of(owner, count, **extra):
    first = make_generation(owner, **extra)
    Generation.objects.filter(pk=first.pk).update(job_id=first.pk)
    for _ in range(count - 1):
        make_generation(owner, job_id=first.pk, **extra)
    first.refresh_from_db()
    return first


def test_use_these_settings_fills_every_choice_and_the_references(member_client, member):
    first = job_of(
        member,
        3,
        prompt="A red kite over dunes",
        model="google/nano-banana-pro",
        aspect_ratio="16:9",
        image_size="2k",
        visibility="private",
    )
    add_reference(first, 0)
    add_reference(first, 1)

    response = member_client.get(reverse("generation_reuse", args=[first.pk]), headers=HTMX)

    assert response.status_code == 200
    form = response.context["form"]
    assert form["prompt"].value() == "A red kite over dunes"
    assert form["model"].value() == "google/nano-banana-pro"
    assert form["aspect_ratio"].value() == "16:9"
    assert form["image_size"].value() == "2k"
    assert form["count"].value() == 3
    assert form["visibility"].value() == "private"
    text = response.text
    assert text.count("data-inherited=") == 2  # both references shown, removable
    assert "2 of 4 references" in text
    assert reverse("reference_image", args=[first.pk, 1]) in text


def test_a_teammate_may_reuse_a_team_image_and_gets_it_as_their_own_form(client, member, teammate):
    theirs = make_generation(teammate, prompt="Their team banana")
    client.force_login(member)
    response = client.get(reverse("generation_reuse", args=[theirs.pk]))
    assert response.status_code == 200
    assert "Their team banana" in response.text
    assert 'id="compose"' in response.text


def test_nobody_else_may_reuse_a_private_image(client, member, teammate):
    private = make_generation(teammate, visibility="private", prompt="secret banana")
    client.force_login(member)
    response = client.get(reverse("generation_reuse", args=[private.pk]))
    assert response.status_code == 404


def test_use_these_settings_is_in_every_cards_menu(member_client, member):
    generation = make_generation(member)
    menu = member_client.get(
        reverse("generation_menu", args=[generation.pk]),
        headers={**HTMX, "HX-Current-URL": "http://testserver/"},
    )
    assert reverse("generation_reuse", args=[generation.pk]) in menu.text
    assert "Use these settings" in menu.text


def test_recent_prompts_are_the_members_own_newest_first_each_once(member, teammate):
    for prompt in ("old", "again", "middle", "again ", "newest"):
        make_generation(member, prompt=prompt)
    make_generation(teammate, prompt="not mine")
    gone = make_generation(member, prompt="deleted one")
    Generation.objects.filter(pk=gone.pk).update(deleted_at=gone.created_at)

    assert galleries.recent_prompts(member) == ["newest", "again", "middle", "old"]
    assert galleries.recent_prompts(member, limit=2) == ["newest", "again"]


def test_the_studio_lists_recent_prompts_escaped(member_client, member):
    make_generation(member, prompt='A <b>bold</b> "banana"')
    response = member_client.get(reverse("home"))
    assert "data-recent-prompts" in response.text
    assert "&lt;b&gt;bold&lt;/b&gt;" in response.text
    assert "<b>bold</b>" not in response.text


def test_a_remix_leaves_out_the_references_the_member_removed(member_client, member, teammate):
    original = make_generation(teammate, prompt="Three references")
    for position in range(3):
        add_reference(original, position)

    response = member_client.post(
        reverse("generate"),
        {
            "prompt": "Two of them",
            "model": "google/gempix2",
            "remix_of": str(original.pk),
            "remix_drop": ["1"],
        },
    )

    assert response.status_code == 302
    remix = Generation.objects.get(prompt="Two of them")
    assert remix.references.count() == 2


def test_a_refused_remix_draws_the_references_still_kept(member_client, member, teammate):
    original = make_generation(teammate, prompt="Two references")
    add_reference(original, 0)
    add_reference(original, 1)

    response = member_client.post(
        reverse("generate"),
        {"prompt": "", "model": "google/gempix2", "remix_of": str(original.pk), "remix_drop": "0"},
    )

    assert response.status_code == 400
    assert response.text.count("data-inherited=") == 1
    assert reverse("reference_image", args=[original.pk, 1]) in response.text
    assert 'name="remix_drop" value="0"' in response.text
    assert "data-remix-note" in response.text


def test_the_remix_note_shows_only_when_the_original_had_references(member_client, member):
    plain = make_generation(member, prompt="No references")
    response = member_client.get(reverse("generation_remix", args=[plain.pk]))
    assert "data-remix-note" not in response.text
    assert "0 of 4 references" in response.text


def test_the_model_hint_follows_a_price_an_admin_sets(member_client):
    from generations.models import ModelPrice

    before = member_client.get(reverse("home")).text
    assert "from 0.5 credits" in before
    ModelPrice.objects.create(model="google/gempix2", image_size="", price=2)
    ModelPrice.objects.create(model="google/gempix2", image_size="1k", price=3)
    after = member_client.get(reverse("home")).text
    assert 'data-hint="Detailed images, up to 4K · from 2 credits"' in after
