"""Pages are sent gzipped (with Django's BREACH mitigation); images are not recompressed;
static files are precompressed with Brotli and gzip by collectstatic and served so."""

import gzip

import brotli
import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from .sharing_builders import make_generation

pytestmark = pytest.mark.django_db

GZIP_FNAME_FLAG = 0x08


def test_pages_are_gzipped_with_random_bytes_in_the_gzip_header(member_client):
    response = member_client.get(reverse("home"), headers={"Accept-Encoding": "gzip, br"})
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    page = gzip.decompress(response.content).decode()
    assert "</html>" in page
    # Django's BREACH mitigation ("Heal the Breach"): a random file name in each gzip
    # header, so a compressed length tells nothing about a secret on the page.
    assert response.content[3] & GZIP_FNAME_FLAG


def test_nothing_is_gzipped_for_a_client_that_does_not_ask(member_client):
    response = member_client.get(reverse("home"))
    assert not response.has_header("Content-Encoding")
    assert "</html>" in response.text


def test_images_are_sent_as_they_are(member_client, member):
    generation = make_generation(member)
    response = member_client.get(
        reverse("result_image", args=[generation.pk, 0]), headers={"Accept-Encoding": "gzip"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert not response.has_header("Content-Encoding")
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")


def test_collectstatic_makes_brotli_and_gzip_files_and_whitenoise_serves_them(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, ignore_patterns=["admin"], verbosity=0)

    name = staticfiles_storage.stored_name("css/studio.css")
    css = (settings.STATIC_ROOT / name).read_bytes()
    assert name != "css/studio.css"  # hashed, for far-future caching
    assert brotli.decompress((settings.STATIC_ROOT / f"{name}.br").read_bytes()) == css
    assert gzip.decompress((settings.STATIC_ROOT / f"{name}.gz").read_bytes()) == css

    # A new client loads the middleware anew: WhiteNoise reads this STATIC_ROOT.
    client = Client()
    url = staticfiles_storage.url("css/studio.css")
    best = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert best.status_code == 200
    assert best["Content-Encoding"] == "br"
    assert brotli.decompress(b"".join(best.streaming_content)) == css
    older = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert older["Content-Encoding"] == "gzip"
    assert gzip.decompress(b"".join(older.streaming_content)) == css
    assert "immutable" in older["Cache-Control"]
