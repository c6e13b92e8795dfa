"""LiteLLM (from PyPI) as a team would point it at us: its OpenAI-compatible image
generation with our /v1 as `api_base` and a member's key, over real HTTP against a live
server with the emulator as our upstream."""

import base64
import io

import pytest
import requests
from PIL import Image

from generations.models import Generation

from .api_helpers import make_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def litellm(monkeypatch):
    # Its price list ships inside the package; without this it would try the network first.
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return pytest.importorskip("litellm")


def test_litellm_generates_through_our_openai_compatible_api(
    litellm, live_server, emulator, member
):
    _, secret = make_key(member)
    api_base = live_server.url + "/v1"

    named = litellm.image_generation(
        model="openai/dall-e-3", prompt="A banana on the moon", api_base=api_base, api_key=secret
    )
    ours = litellm.image_generation(
        model="openai/google/gempix2",
        prompt="A banana on the moon",
        api_base=api_base,
        api_key=secret,
    )

    assert requests.get(named.data[0].url, timeout=10).status_code == 200
    picture = Image.open(io.BytesIO(base64.b64decode(ours.data[0].b64_json)))
    assert picture.format == "PNG"
    assert Generation.objects.filter(owner=member, status="success").count() == 2
