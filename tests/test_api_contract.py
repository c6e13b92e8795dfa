"""The running server keeps the contract it publishes: schemathesis generates requests from
our OpenAPI document (/api/openapi.json, made from generations/api/schemas.py) and checks
every answer with all of its checks: no 5xx; every status, content type, header and body
as documented; data the document allows is accepted, and data it forbids is refused.

Bounded: a few examples per operation and mode, against the live server with the emulator
as upstream. Every URL a generated request names is on loopback: the reference, callback
and upload fields are narrowed, for generation only, to loopback URLs and real images (the
document itself is unchanged, and its own patterns still judge the answers).
"""

import base64
import copy

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from generations.api import schemas, views

from .api_helpers import bearer, make_key, png_bytes

PNG = png_bytes("teal", (8, 8))
DATA_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
LOOPBACK_IMAGE = rf"^({DATA_URI}|http://127\.0\.0\.1:9/[a-z]{{1,8}}\.png)$"
LOOPBACK_HOOK = r"^http://127\.0\.0\.1:9/[a-z]{0,8}$"
schemathesis.openapi.format("banana-png", st.just(PNG))


def loopback_only(document):
    document = copy.deepcopy(document)
    components = document["components"]["schemas"]
    submit = components["ProviderSubmitRequest"]["properties"]
    submit["images"]["anyOf"][0]["items"] = {"type": "string", "pattern": LOOPBACK_IMAGE}
    submit["callback_url"]["anyOf"][0] = {"type": "string", "pattern": LOOPBACK_HOOK}
    edit = components["OpenAIImageEditRequest"]["properties"]
    edit["image"]["items"] = {
        "type": "string",
        "format": "banana-png",
        "contentMediaType": "application/octet-stream",
    }
    return document


def published():
    return schemas.document("http://testserver", retry_schedule=views.retry_schedule())


schema = schemathesis.openapi.from_dict(loopback_only(published()))


@pytest.fixture
def secret(transactional_db, member):
    return make_key(member, "schemathesis")[1]


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_conforms_to_the_openapi_document(case, live_server, emulator, secret):
    response = case.call(base_url=live_server.url, headers=bearer(secret), timeout=60)
    case.validate_response(response)


def test_the_served_document_is_the_one_under_test(client, db):
    served = client.get("/api/openapi.json").json()
    assert served == published()
