"""Uploads are counted and sized before anything is decoded, a reference larger than the
image service can use is refused from its header, and request bodies are capped."""

import io
import tracemalloc

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from generations.forms import GenerationForm
from generations.models import Generation

pytestmark = pytest.mark.django_db


def huge_png():
    """6300 x 6300 pixels in about 100 KB: a decompression bomb in miniature."""
    buffer = io.BytesIO()
    Image.new("1", (6300, 6300)).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


HUGE = huge_png()


def form_with(files, urls=""):
    uploads = [SimpleUploadedFile(f"ref{i}.png", data, "image/png") for i, data in enumerate(files)]
    data = {"prompt": "a moon", "model": "google/gempix2", "reference_urls": urls}
    return GenerationForm(data, {"reference_files": uploads})


def peak_memory_of(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_too_many_references_are_refused_before_any_is_decoded():
    form = form_with([HUGE] * 8)

    peak = peak_memory_of(form.is_valid)

    assert "At most 4 reference images; you gave 8." in form.errors["reference_files"][0]
    assert peak < 20 * 1024 * 1024  # one decoded 6300-pixel-square image alone is ~120 MB


def test_files_and_urls_are_counted_together_before_decoding():
    form = form_with([HUGE] * 3, urls="https://a.example/1.png\nhttps://a.example/2.png")

    peak = peak_memory_of(form.is_valid)

    assert "you gave 5" in form.errors["reference_files"][0]
    assert peak < 20 * 1024 * 1024


def test_a_reference_larger_than_the_service_uses_is_refused_from_its_header():
    form = form_with([HUGE])

    peak = peak_memory_of(form.is_valid)

    assert "too large" in form.errors["reference_files"][0]
    assert peak < 20 * 1024 * 1024


def test_an_oversized_anonymous_body_is_refused_before_it_is_read(client, settings):
    settings.BANANA_ANONYMOUS_MAX_BODY = 1000
    response = client.post(reverse("login"), {"username": "x", "password": "y" * 2000})
    assert response.status_code == 413


def test_a_members_body_may_be_larger_but_not_unbounded(member_client, settings, emulator):
    settings.BANANA_ANONYMOUS_MAX_BODY = 1000
    settings.BANANA_MEMBER_MAX_BODY = 200_000
    ok = member_client.post(reverse("generate"), {"prompt": "p" * 1500, "model": "google/gempix2"})
    assert ok.status_code == 302
    too_big = member_client.post(reverse("generate"), {"prompt": "x", "pad": "y" * 300_000})
    assert too_big.status_code == 413
    assert Generation.objects.count() == 1
