"""A collection downloads as one ZIP, streamed file by file, holding exactly the images the
member may see."""

import io
import os
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from generations import archive
from generations.boards import add_to_collection, create_collection

from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db


def unzip(response):
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.testzip() is None
    return {info.filename: archive.read(info) for info in archive.infolist()}


def test_a_collection_downloads_as_a_zip_of_its_originals(member_client, member):
    collection = create_collection(member, "Moon landing")
    first, second = make_generation(member, prompt="moon one"), make_generation(member)
    for g in (first, second):
        add_to_collection(collection, g)

    response = member_client.get(reverse("collection_download", args=[collection.pk]))

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="moon-landing.zip"'
    assert unzip(response) == {
        f"banana-moon-one-{str(first.pk)[:8]}-1.png": first.results.get().file.read(),
        f"banana-a-banana-{str(second.pk)[:8]}-1.png": second.results.get().file.read(),
    }


def test_the_zip_leaves_out_what_the_member_may_not_see(client, member, teammate):
    collection = create_collection(teammate, "Team picks")
    visible = make_generation(teammate)
    private = make_generation(teammate, visibility="private")
    deleted = make_generation(teammate, deleted_at=timezone.now())
    for g in (visible, private, deleted):
        add_to_collection(collection, g)
    client.force_login(member)

    names = unzip(client.get(reverse("collection_download", args=[collection.pk])))

    assert list(names) == [f"banana-a-banana-{str(visible.pk)[:8]}-1.png"]


def test_a_private_collection_of_another_member_answers_404(client, member, teammate):
    collection = create_collection(teammate, "Mine only", visibility="private")
    client.force_login(member)

    assert client.get(reverse("collection_download", args=[collection.pk])).status_code == 404


def test_a_file_gone_from_storage_is_left_out_and_the_zip_stays_whole(member_client, member):
    collection = create_collection(member, "Gaps")
    kept, gone = make_generation(member, prompt="kept"), make_generation(member, prompt="gone")
    for g in (kept, gone):
        add_to_collection(collection, g)
    result = gone.results.get()
    result.file.storage.delete(result.file.name)

    names = unzip(member_client.get(reverse("collection_download", args=[collection.pk])))

    assert list(names) == [f"banana-kept-{str(kept.pk)[:8]}-1.png"]


def test_the_collection_page_links_its_zip(member_client, member):
    collection = create_collection(member, "Linked")

    page = member_client.get(reverse("collection_detail", args=[collection.pk]))

    assert reverse("collection_download", args=[collection.pk]) in page.text


def test_the_zip_is_sent_in_small_chunks_as_files_are_read(member_client, member):
    collection = create_collection(member, "Big")
    g = make_generation(member)
    add_to_collection(collection, g)
    result = g.results.get()
    big = os.urandom(1024 * 1024)  # stands for a large original
    result.file.save("big.png", ContentFile(big))

    response = member_client.get(reverse("collection_download", args=[collection.pk]))
    chunks = list(response.streaming_content)

    assert len(chunks) > 10
    assert max(len(chunk) for chunk in chunks) <= archive.CHUNK + 1024
    assert (
        zipfile.ZipFile(io.BytesIO(b"".join(chunks))).read(f"banana-a-banana-{str(g.pk)[:8]}-1.png")
        == big
    )
