"""Reference URLs the upstream will fetch pass the same address policy as our own
downloads: no loopback, private, link-local (cloud metadata) or reserved targets."""

import pytest

from generations.forms import GenerationForm

pytestmark = pytest.mark.django_db


def form_with(urls):
    return GenerationForm({"prompt": "a moon", "model": "google/gempix2", "reference_urls": urls})


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/x.png",
        "https://192.168.1.1/x.png",
        "https://127.0.0.1/x.png",
        "https://localhost/x.png",
        "https://[::1]/x.png",
        "https://[fd00::1]/x.png",
        "https://0x7f000001/x.png",
        "https://2130706433/x.png",
        "https://0.0.0.0/x.png",
    ],
)
def test_private_and_reserved_reference_urls_are_refused_in_production(settings, url):
    settings.BANANA_FETCH_ALLOW_PRIVATE = False
    settings.BANANA_FETCH_REQUIRE_HTTPS = False

    form = form_with(url)

    assert not form.is_valid()
    assert "reference_urls" in form.errors  # (odd IPv4 spellings fail as malformed URLs)


def test_a_public_reference_url_is_accepted(settings):
    settings.BANANA_FETCH_ALLOW_PRIVATE = False
    settings.BANANA_FETCH_ALLOWED_HOSTS = ["cdn.provider.example"]  # for results, not refs

    form = form_with("https://93.184.215.14/moon.png")

    assert form.is_valid(), form.errors


def test_plain_http_references_are_refused_where_https_is_required(settings):
    settings.BANANA_FETCH_REQUIRE_HTTPS = True

    assert not form_with("http://93.184.215.14/moon.png").is_valid()


def test_the_refusal_says_why_in_words_a_member_understands(settings):
    settings.BANANA_FETCH_ALLOW_PRIVATE = False
    form = form_with("http://169.254.169.254/latest/meta-data/")
    form.is_valid()
    assert "does not point at a public web address" in form.errors["reference_urls"][0]
