"""Where Edit is offered (a card's lightbox data, its menu) follows the one rule of
generations/threads.py (`may_edit`): owner, teammate, auditor, anonymous. And the edit form's
style preset: only a preset the member may use, its assets counted within the references'
limit, refused before anything is held."""

import io

import pytest
from django.test import Client
from django.urls import reverse
from PIL import Image

from generations import library, presets, threads
from generations.accounts import members
from generations.models import CreditAccount, Generation, StylePreset

from .conftest import make_user
from .otp_helpers import verified_admin_client
from .sharing_builders import make_generation, png_bytes

pytestmark = [pytest.mark.django_db]


def png(color):
    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), color).save(buffer, "PNG")
    buffer.name = f"{color}.png"
    buffer.seek(0)
    return buffer


def edit_offered(client, generation, page):
    """(the card's lightbox data offers Edit, its menu offers Edit) on `page`."""
    edit = reverse("generation_edit", args=[generation.pk])
    listing = client.get(page).text
    menu = client.get(reverse("generation_menu", args=[generation.pk])).text
    return f'data-edit="{edit}?position=0"' in listing, f'href="{edit}"' in menu


def test_edit_is_offered_on_own_and_team_images_only(client, member_client, member, teammate):
    mine_private = make_generation(member, prompt="mine", visibility="private")
    team = make_generation(teammate, prompt="theirs", visibility="team")
    running = make_generation(member, prompt="running", status="in_progress")
    others_private = make_generation(teammate, prompt="secret", visibility="private")

    assert edit_offered(member_client, mine_private, reverse("history")) == (True, True)
    assert edit_offered(member_client, team, reverse("gallery")) == (True, True)
    assert edit_offered(member_client, running, reverse("history"))[1] is False
    # An auditor (staff) sees another member's private image, and is not offered to edit it.
    auditor = make_user("audra")
    members.set_role(auditor, "auditor")
    auditor_client = verified_admin_client(Client(), auditor)
    assert edit_offered(auditor_client, others_private, reverse("gallery")) == (False, False)
    assert edit_offered(auditor_client, team, reverse("gallery")) == (True, True)
    # Anonymous: no one to edit for.
    anonymous = Client().get(reverse("generation_edit", args=[team.pk]))
    assert anonymous.status_code == 302
    assert threads.may_edit(anonymous.wsgi_request.user, team) is False


def test_the_edit_form_refuses_a_preset_the_member_may_not_use(member_client, member, teammate):
    image = make_generation(member)
    theirs = presets.save(teammate, name="Theirs", template="{prompt}, noir", scope="personal")
    form = member_client.get(reverse("generation_edit", args=[image.pk])).text
    assert f'value="{theirs.pk}"' not in form

    response = member_client.post(
        reverse("generation_edit", args=[image.pk]), {"prompt": "darker", "preset": theirs.pk}
    )

    assert response.status_code == 400
    assert Generation.objects.count() == 1


def test_a_presets_assets_count_within_the_limit_of_an_edit(member_client, member, admin_user):
    logo = library.upload_asset(admin_user, png_bytes("green"), name="Logo")
    team = presets.save(
        admin_user,
        name="Brand",
        template="{prompt}, on brand",
        scope=StylePreset.Scope.TEAM,
        asset_ids=[logo.pk],
    )
    image = make_generation(member)
    before = CreditAccount.objects.values_list("balance", "held").get(user=member)

    # The image, three files and the preset's asset: five, one too many.
    response = member_client.post(
        reverse("generation_edit", args=[image.pk]),
        {
            "prompt": "bluer",
            "preset": team.pk,
            "reference_files": [png(c) for c in ("red", "blue", "white")],
        },
    )

    assert response.status_code == 400
    assert Generation.objects.count() == 1
    assert CreditAccount.objects.values_list("balance", "held").get(user=member) == before
