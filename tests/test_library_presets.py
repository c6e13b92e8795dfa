"""The team library and style presets (issue 20): the domain, and every page and action as
owner, teammate, auditor and anonymous; a submit with library assets and a preset against
the emulator over real HTTP."""

import base64
import io

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from PIL import Image

from generations import library, presets, services
from generations.accounts import members
from generations.models import Generation, LibraryAsset, StylePreset, TeamSettings

from .conftest import make_user
from .otp_helpers import verified_admin_client
from .sharing_builders import add_reference, make_generation

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("client_requests_commit")]


def png_bytes(color="red", size=(64, 48)):
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def upload(color="red", name="logo.png"):
    f = io.BytesIO(png_bytes(color))
    f.name = name
    return f


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def auditor(db):
    user = make_user("audra")
    members.set_role(user, "auditor")
    return user


def asset_of(owner, color="red", name="Logo", tags="logo brand", visibility="team"):
    return library.upload_asset(
        owner, png_bytes(color), name=name, tags=tags, visibility=visibility
    )


# --- The domain ---------------------------------------------------------------------------


def test_expand_replaces_the_placeholder_or_appends():
    assert presets.expand("{prompt}, studio photo", "a mug") == "a mug, studio photo"
    assert presets.expand("soft light", "a mug") == "a mug, soft light"
    assert presets.expand("", "a mug") == "a mug"
    assert presets.expand("poster of {prompt} in red", " a mug ") == "poster of a mug in red"


def test_tags_are_normalised():
    assert library.normalise_tags("Logo, brand  #logo mascot") == " logo brand mascot "
    assert library.normalise_tags("  ") == ""


def test_the_same_bytes_are_stored_once(member, teammate):
    first = asset_of(member)
    second = asset_of(teammate, name="Their logo")
    assert first.file.name == second.file.name
    assert first.file.name.startswith("library/")
    assert default_storage.exists(first.file.name)


def test_upload_has_the_checks_of_references(member, settings):
    with pytest.raises(library.ImageRejected):
        library.upload_asset(member, b"not an image", name="x")
    settings.BANANA_UPLOAD_MAX_BYTES = 10
    with pytest.raises(library.ImageRejected):
        library.upload_asset(member, png_bytes(), name="x")


def test_search_by_name_and_tag_sees_only_what_the_member_may(member, teammate, auditor):
    logo = asset_of(member, name="Company logo", tags="brand")
    private = asset_of(member, "blue", name="Secret mascot", tags="mascot", visibility="private")
    assert list(library.search(teammate, "logo")) == [logo]
    assert list(library.search(teammate, "#brand")) == [logo]
    assert list(library.search(teammate, "mascot")) == []
    assert list(library.search(member, "masc")) == [private]
    assert set(library.search(auditor)) == {logo, private}
    assert list(library.search(AnonymousUser())) == []


def test_staff_see_a_private_asset_but_cannot_put_it_into_an_image(member, auditor, admin_user):
    """A private asset in a staff member's generation would show it to the whole team."""
    private = asset_of(member, "blue", name="Secret mascot", visibility="private")
    for staff in (auditor, admin_user):
        assert list(library.search(staff, "mascot", to_use=True)) == []
        with pytest.raises(services.ReferencesRefused):
            library.find_assets(staff, [private.pk])


def test_a_new_asset_keeps_its_file_when_another_of_the_same_bytes_is_deleted_meanwhile(
    member, teammate, committed
):
    """The other asset's deletion looks for users of the file when it commits, which may be
    before the new asset's row is there to see: the new asset writes it again."""
    first = asset_of(member)
    with committed():
        second = asset_of(teammate)
        assert second.file.name == first.file.name  # stored once
        default_storage.delete(first.file.name)  # what the other deletion did meanwhile

    assert default_storage.exists(second.file.name)


def test_deleting_an_asset_keeps_the_file_while_a_generation_uses_it(member, committed):
    asset = asset_of(member)
    name = asset.file.name
    (generation,) = services.create_job(
        member, model="google/gempix2", prompt="x", references=library.as_references([asset])
    )
    reference = generation.references.get()
    assert reference.file.name == name  # named, not copied
    with committed():
        library.delete_asset(asset)
    assert default_storage.exists(name)
    reference.refresh_from_db()
    assert reference.library_asset_id is None
    assert reference.file.name == name
    # The generation's own deletion is the last use: then the file goes.
    with committed():
        services.delete_generation(generation)
    assert not default_storage.exists(name)


def test_after_the_asset_is_gone_the_file_stays_until_the_last_generation_goes(member, committed):
    asset = asset_of(member)
    name = asset.file.name
    first, second = (
        services.create_job(
            member, model="google/gempix2", prompt=p, references=library.as_references([asset])
        )[0]
        for p in ("one", "two")
    )
    with committed():
        library.delete_asset(asset)
    # A retry of a generation whose asset is gone still names the one file.
    (retry,) = services.create_job(
        member, model="google/gempix2", prompt="again", references=services.copy_references(first)
    )
    assert retry.references.get().file.name == name
    for generation in (first, second):
        with committed():
            services.delete_generation(generation)
        assert default_storage.exists(name)
    with committed():
        services.delete_generation(retry)
    assert not default_storage.exists(name)


def test_deleting_one_of_two_assets_of_the_same_bytes_keeps_the_file(member, teammate, committed):
    first, second = asset_of(member), asset_of(teammate)
    with committed():
        library.delete_asset(first)
    assert default_storage.exists(second.file.name)
    with committed():
        library.delete_asset(second)
    assert not default_storage.exists(second.file.name)


def test_a_job_whose_asset_was_deleted_meanwhile_is_refused_and_holds_nothing(member, committed):
    asset = asset_of(member)
    references = library.as_references([asset])
    with committed():
        library.delete_asset(asset)
    with pytest.raises(services.ReferencesRefused):
        services.create_job(member, model="google/gempix2", prompt="x", references=references)
    assert not Generation.objects.exists()
    assert member.credit_account.entries.filter(kind="hold").count() == 0


def test_each_job_counts_one_use(member):
    asset = asset_of(member)
    services.create_job(
        member,
        count=2,
        model="google/gempix2",
        prompt="x",
        references=library.as_references([asset]),
    )
    asset.refresh_from_db()
    assert asset.use_count == 1


def test_team_presets_are_for_admins_unless_the_team_allows_members(member, admin_user, auditor):
    assert presets.may_make_team_presets(admin_user)
    assert not presets.may_make_team_presets(member)
    assert not presets.may_make_team_presets(auditor)
    with pytest.raises(presets.PresetRefused):
        presets.save(member, name="House", template="x", scope="team")
    settings_row = TeamSettings.current()
    settings_row.members_make_team_presets = True
    settings_row.save()
    assert presets.may_make_team_presets(member)
    assert not presets.may_make_team_presets(auditor)
    assert presets.save(member, name="House", template="x", scope="team").scope == "team"


def test_find_prefers_the_members_own_preset_by_name(member, teammate, admin_user):
    team = presets.save(admin_user, name="Studio", template="team {prompt}", scope="team")
    own = presets.save(member, name="Studio", template="mine {prompt}", scope="personal")
    theirs = presets.save(teammate, name="Theirs", template="x", scope="personal")
    assert presets.find(member, "Studio") == own
    assert presets.find(teammate, "Studio") == team
    assert presets.find(member, str(team.pk)) == team
    with pytest.raises(presets.PresetRefused):
        presets.find(member, theirs.pk)


# --- Pages, as owner, teammate, auditor and anonymous ----------------------------------


def test_library_page_upload_search_and_delete(member, teammate):
    owner = client_for(member)
    response = owner.post(
        reverse("library"),
        {
            "asset-image": upload(),
            "asset-name": "Logo",
            "asset-tags": "brand",
            "asset-visibility": "team",
        },
    )
    assert response.status_code == 302
    asset = LibraryAsset.objects.get()
    assert asset.owner == member and asset.tags == " brand "
    page = client_for(teammate).get(reverse("library"), {"q": "#brand"})
    assert "Logo" in page.text and "Added by mina" in page.text
    assert "Delete “Logo”" not in page.text
    # A teammate may not delete it: 403, and it stays.
    assert client_for(teammate).post(reverse("library_delete", args=[asset.pk])).status_code == 403
    assert owner.post(reverse("library_delete", args=[asset.pk])).status_code == 302
    assert not LibraryAsset.objects.exists()


def test_library_upload_refuses_what_references_refuse(member):
    bad = io.BytesIO(b"GIF89a not really")
    bad.name = "x.gif"
    response = client_for(member).post(
        reverse("library"), {"asset-image": bad, "asset-name": "x", "asset-visibility": "team"}
    )
    assert response.status_code == 400
    assert not LibraryAsset.objects.exists()


def test_private_assets_are_hidden_from_teammates(member, teammate):
    asset = asset_of(member, visibility="private", name="Hidden thing")
    assert "Hidden thing" not in client_for(teammate).get(reverse("library")).text
    assert client_for(teammate).post(reverse("library_delete", args=[asset.pk])).status_code == 404
    picker = client_for(teammate).get(reverse("library_picker"))
    assert "Hidden thing" not in picker.text


def test_auditor_sees_every_asset_and_deletes_none(member, auditor):
    asset = asset_of(member, visibility="private", name="Hidden thing")
    client = client_for(auditor)
    assert "Hidden thing" in client.get(reverse("library")).text
    assert client.post(reverse("library_delete", args=[asset.pk])).status_code == 403
    assert LibraryAsset.objects.filter(pk=asset.pk).exists()


def test_admin_deletes_a_shared_asset(member, admin_user):
    asset = asset_of(member)
    assert (
        client_for(admin_user).post(reverse("library_delete", args=[asset.pk])).status_code == 302
    )
    assert not LibraryAsset.objects.exists()


@pytest.mark.parametrize(
    "name",
    ["library", "library_picker", "presets", "preset_preview"],
)
def test_anonymous_is_sent_to_sign_in(db, name):
    response = Client().get(reverse(name))
    assert response.status_code == 302 and "/login" in response["Location"]


def test_anonymous_posts_change_nothing(member):
    asset = asset_of(member)
    client = Client()
    assert client.post(reverse("library_delete", args=[asset.pk])).status_code == 302
    assert client.post(reverse("library_save"), {}).status_code == 302
    assert LibraryAsset.objects.count() == 1


def test_library_posts_need_csrf(member):
    asset = asset_of(member)
    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    assert client.post(reverse("library_delete", args=[asset.pk])).status_code == 403
    assert LibraryAsset.objects.count() == 1


def test_save_a_teammates_result_and_reference_to_the_library(member, teammate):
    generation = make_generation(member, visibility="team")
    add_reference(generation)
    client = client_for(teammate)
    for kind in ("result", "reference"):
        response = client.post(
            reverse("library_save"),
            {
                "kind": kind,
                "generation": generation.pk,
                "position": 0,
                "name": kind,
                "visibility": "team",
            },
            headers={"HX-Request": "true"},
        )
        assert "was added to the library" in response.text
    assert set(LibraryAsset.objects.values_list("name", "owner")) == {
        ("result", teammate.pk),
        ("reference", teammate.pk),
    }


def test_a_private_image_cannot_be_saved_by_a_teammate(member, teammate):
    generation = make_generation(member, visibility="private")
    response = client_for(teammate).post(
        reverse("library_save"),
        {
            "kind": "result",
            "generation": generation.pk,
            "position": 0,
            "name": "x",
            "visibility": "team",
        },
        headers={"HX-Request": "true"},
    )
    assert "no longer available" in response.text
    assert not LibraryAsset.objects.exists()


def test_staff_cannot_keep_a_members_private_image_in_the_library(member, auditor, admin_user):
    generation = make_generation(member, visibility="private")
    add_reference(generation)
    for user in (auditor, admin_user):
        for kind in ("result", "reference"):
            response = client_for(user).post(
                reverse("library_save"),
                {
                    "kind": kind,
                    "generation": generation.pk,
                    "position": 0,
                    "name": "x",
                    "visibility": "team",
                },
                headers={"HX-Request": "true"},
            )
            assert "no longer available" in response.text
    assert not LibraryAsset.objects.exists()
    # The owner may.
    response = client_for(member).post(
        reverse("library_save"),
        {
            "kind": "result",
            "generation": generation.pk,
            "position": 0,
            "name": "x",
            "visibility": "private",
        },
    )
    assert response.status_code == 302
    assert LibraryAsset.objects.get().visibility == "private"


def test_anonymous_cannot_touch_presets(member):
    preset = presets.save(member, name="Mine", template="x", scope="personal")
    client = Client()
    data = {"preset-name": "X", "preset-template": "x", "preset-scope": "personal"}
    assert client.post(reverse("presets"), data).status_code == 302
    assert client.post(reverse("preset_edit", args=[preset.pk]), data).status_code == 302
    assert client.post(reverse("preset_delete", args=[preset.pk])).status_code == 302
    assert list(StylePreset.objects.values_list("name", flat=True)) == ["Mine"]


def test_detail_page_offers_save_to_library(member):
    generation = make_generation(member)
    page = client_for(member).get(reverse("generation_detail", args=[generation.pk]))
    assert reverse("library_save") in page.text


def test_presets_page_permissions(member, teammate, admin_user, auditor):
    data = {
        "preset-name": "House",
        "preset-template": "{prompt}, soft light",
        "preset-scope": "team",
    }
    # A member may not make a team preset (the scope is not offered; a forged one is refused).
    assert client_for(member).post(reverse("presets"), data).status_code == 400
    assert client_for(auditor).post(reverse("presets"), data).status_code == 400
    assert client_for(admin_user).post(reverse("presets"), data).status_code == 302
    preset = StylePreset.objects.get()
    # Everyone signed in sees it; only admins change it.
    assert "House" in client_for(teammate).get(reverse("presets")).text
    edit = {**data, "preset-name": "Renamed"}
    assert (
        client_for(member).post(reverse("preset_edit", args=[preset.pk]), edit).status_code == 403
    )
    assert client_for(auditor).post(reverse("preset_delete", args=[preset.pk])).status_code == 403
    assert (
        client_for(admin_user).post(reverse("preset_edit", args=[preset.pk]), edit).status_code
        == 302
    )
    preset.refresh_from_db()
    assert preset.name == "Renamed"
    # A personal preset is its owner's alone: others get a 404.
    personal = {"preset-name": "Mine", "preset-template": "x", "preset-scope": "personal"}
    assert client_for(member).post(reverse("presets"), personal).status_code == 302
    mine = StylePreset.objects.get(name="Mine")
    assert "Mine" not in client_for(teammate).get(reverse("presets")).text
    assert client_for(teammate).post(reverse("preset_delete", args=[mine.pk])).status_code == 404
    assert client_for(member).post(reverse("preset_delete", args=[mine.pk])).status_code == 302
    assert not StylePreset.objects.filter(name="Mine").exists()


def test_preview_shows_the_final_prompt(member, admin_user):
    preset = presets.save(admin_user, name="House", template="{prompt}, soft light", scope="team")
    response = client_for(member).get(
        reverse("preset_preview"), {"prompt": "a <mug>", "preset": preset.pk}
    )
    assert "a &lt;mug&gt;, soft light" in response.text
    logo = asset_of(admin_user, name="Logo &amp; co")
    presets.save(
        admin_user, preset=preset, name="House", template="x", scope="team", asset_ids=[logo.pk]
    )
    response = client_for(member).get(reverse("preset_preview"), {"prompt": "a", "preset": "House"})
    assert "Logo &amp;amp; co" in response.text


# --- A submit, against the emulator --------------------------------------------------------


def test_studio_shows_the_pickers(member, admin_user):
    presets.save(admin_user, name="House", template="x", scope="team")
    page = client_for(member).get(reverse("home"))
    assert "data-apply-preset=" in page.text and "House" in page.text
    assert reverse("library_picker") in page.text


def test_a_submit_with_a_teammates_asset_and_a_team_preset(
    member, teammate, admin_user, emulator, committed
):
    asset = asset_of(teammate, "green", name="Mascot")
    preset = presets.save(
        admin_user, name="House", template="{prompt}, studio photo", scope="team", asset_ids=[]
    )
    with committed():
        response = client_for(member).post(
            reverse("generate"),
            {
                "prompt": "a mug",
                "model": "google/gempix2",
                "preset": preset.pk,
                "library_asset": [asset.pk],
            },
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200, response.content
    generation = Generation.objects.get()
    assert generation.prompt == "a mug, studio photo"
    assert generation.member_prompt == "a mug"
    assert (generation.preset, generation.preset_name) == (preset, "House")
    task = emulator.tasks[generation.upstream_task_id]
    assert task["prompt"] == "a mug, studio photo"
    (image,) = task["images"]
    with asset.file.open("rb") as fh:
        assert image == "data:image/png;base64," + base64.b64encode(fh.read()).decode()
    asset.refresh_from_db()
    assert asset.use_count == 1
    page = client_for(member).get(reverse("generation_detail", args=[generation.pk]))
    assert "Your words" in page.text and "House" in page.text and "a mug, studio photo" in page.text


def test_a_preset_adds_its_assets_and_a_private_asset_of_another_is_refused(
    member, teammate, admin_user, emulator
):
    shared = asset_of(admin_user, "green", name="Logo")
    presets.save(
        admin_user, name="Branded", template="with logo", scope="team", asset_ids=[shared.pk]
    )
    client = client_for(member)
    response = client.post(
        reverse("generate"),
        {"prompt": "a mug", "model": "google/gempix2", "preset": "Branded"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    generation = Generation.objects.get()
    assert generation.prompt == "a mug, with logo"
    assert generation.references.get().library_asset == shared
    private = asset_of(teammate, "blue", name="Theirs", visibility="private")
    response = client.post(
        reverse("generate"),
        {"prompt": "a mug", "model": "google/gempix2", "library_asset": [private.pk]},
        headers={"HX-Request": "true"},
    )
    assert "not available" in response.text
    assert Generation.objects.count() == 1


def test_with_the_switch_on_a_member_makes_and_changes_team_presets(member, teammate):
    row = TeamSettings.current()
    row.members_make_team_presets = True
    row.save()
    data = {"preset-name": "House", "preset-template": "{prompt}", "preset-scope": "team"}
    assert client_for(member).post(reverse("presets"), data).status_code == 302
    preset = StylePreset.objects.get()
    assert preset.scope == "team"
    renamed = {**data, "preset-name": "Renamed"}
    assert (
        client_for(teammate).post(reverse("preset_edit", args=[preset.pk]), renamed).status_code
        == 302
    )
    preset.refresh_from_db()
    assert preset.name == "Renamed"


def test_admins_see_and_remove_any_asset_in_the_admin(member, admin_user, committed):
    asset = asset_of(member, visibility="private", name="Hidden thing")
    client = verified_admin_client(Client(), admin_user)
    listing = client.get(reverse("admin:generations_libraryasset_changelist"))
    assert "Hidden thing" in listing.text
    with committed():
        response = client.post(
            reverse("admin:generations_libraryasset_delete", args=[asset.pk]), {"post": "yes"}
        )
    assert response.status_code == 302
    assert not LibraryAsset.objects.exists()
    assert not default_storage.exists(asset.file.name)


def test_uploads_can_also_be_kept_in_the_library(member, emulator, committed):
    with committed():
        response = client_for(member).post(
            reverse("generate"),
            {
                "prompt": "a mug",
                "model": "google/gempix2",
                "reference_files": [upload("blue", "brand-logo.png")],
                "save_uploads_to_library": "1",
            },
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200
    asset = LibraryAsset.objects.get()
    assert (asset.name, asset.owner, asset.visibility) == ("brand-logo", member, "team")
    # Without the box, nothing is kept.
    with committed():
        client_for(member).post(
            reverse("generate"),
            {"prompt": "a mug", "model": "google/gempix2", "reference_files": [upload("red")]},
            headers={"HX-Request": "true"},
        )
    assert LibraryAsset.objects.count() == 1
