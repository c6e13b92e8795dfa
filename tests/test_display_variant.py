"""Every stored result has three files: the original, a display variant (WebP, long side at
most BANANA_DISPLAY_SIZE) that pages show, and a thumbnail. Their names carry a hash of their
bytes, so a name always means the same bytes."""

import io

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from generations.images import ImageRejected, make_display, process_image
from generations.models import Generation, ResultImage

from .polling import poll, settled

pytestmark = pytest.mark.django_db


def encoded(size, fmt="PNG", mode="RGB", colour=(200, 30, 30)):
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, fmt)
    return buffer.getvalue()


def reopened(data):
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_process_image_makes_a_webp_display_variant_with_a_long_side_of_1600():
    processed = process_image(encoded((4000, 2000)), display_size=1600)

    display = reopened(processed.display)
    assert display.format == "WEBP"
    assert display.size == (1600, 800) == (processed.display_width, processed.display_height)
    assert (processed.width, processed.height) == (4000, 2000)
    assert len(processed.display) < len(processed.content)


def test_the_display_variant_is_never_enlarged_and_keeps_transparency():
    processed = process_image(
        encoded((300, 200), mode="RGBA", colour=(0, 0, 0, 0)), display_size=1600
    )

    display = reopened(processed.display)
    assert display.size == (300, 200)
    assert display.mode == "RGBA"
    assert display.getpixel((5, 5))[3] == 0


def test_without_a_display_size_no_display_variant_is_made():
    processed = process_image(encoded((64, 48)))
    assert processed.display is None and processed.display_width is None


def test_make_display_turns_a_stored_original_into_a_display_variant():
    content, width, height = make_display(encoded((900, 1800), fmt="JPEG"), display_size=600)

    assert (width, height) == (300, 600)
    assert reopened(content).format == "WEBP"
    with pytest.raises(ImageRejected):
        make_display(b"not an image", display_size=600)


@pytest.mark.usefixtures("client_requests_commit")
def test_stored_results_have_three_files_named_by_their_content(member_client, emulator, settings):
    settings.BANANA_POLL_INTERVAL = 0
    settings.BANANA_DISPLAY_SIZE = 200
    member_client.post(
        reverse("generate"),
        {"prompt": "A wide banana", "model": "google/gempix2", "aspect_ratio": "16:9"},
        headers={"HX-Request": "true"},
    )
    generation = Generation.objects.get()
    assert any(settled(poll(member_client, generation)) for _ in range(50))

    result = ResultImage.objects.get(generation=generation)
    prefix = f"results/{generation.pk}/{generation.pk}-0-"
    assert result.file.name.startswith(prefix) and result.file.name.endswith(".png")
    assert result.display.name.startswith(prefix) and result.display.name.endswith("-display.webp")
    assert result.thumbnail.name.startswith(prefix) and result.thumbnail.name.endswith(
        "-thumb.webp"
    )
    with result.display.open("rb") as handle:
        display = reopened(handle.read())
    assert display.size == (200, 113) == (result.display_width, result.display_height)
    assert result.display_byte_size == result.display.size
    assert result.thumbnail_byte_size == result.thumbnail.size
    assert result.byte_size == result.file.size
    names = [result.file.name, result.display.name, result.thumbnail.name]

    member_client.post(reverse("generation_delete", args=[generation.pk]))

    assert not any(default_storage.exists(name) for name in names)
    assert ResultImage.objects.get(generation=generation).display == ""
