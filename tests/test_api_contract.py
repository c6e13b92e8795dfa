"""The running server keeps the contract it publishes: schemathesis generates requests from
our OpenAPI document (/api/openapi.json) and checks every answer against it: no 5xx, and
every status, content type, header and body as documented.

Bounded: a few examples per operation, against the live server with the emulator as
upstream; every URL a generated request names is on loopback (the reference and callback
URL fields are narrowed to 127.0.0.1 for generation; the document itself is unchanged).
"""

import copy

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from generations.api import schemas

from .api_helpers import bearer, make_key

LOOPBACK_IMAGE = (
    r"^(data:image/png;base64,[A-Za-z0-9+/]{0,16}|http://127\.0\.0\.1:9/[a-z]{1,8}\.png)$"
)
LOOPBACK_HOOK = r"^http://127\.0\.0\.1:9/[a-z]{0,8}$"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def loopback_only(document):
    document = copy.deepcopy(document)
    submit = document["components"]["schemas"]["ProviderSubmitRequest"]["properties"]
    submit["images"]["items"] = {"type": "string", "pattern": LOOPBACK_IMAGE}
    submit["callback_url"] = {"type": "string", "pattern": LOOPBACK_HOOK}
    return document


schema = schemathesis.openapi.from_dict(loopback_only(schemas.document("http://testserver")))


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
    case.validate_response(response, checks=CHECKS)


def test_the_served_document_is_the_one_under_test(client, db):
    served = client.get("/api/openapi.json").json()
    assert served["paths"] == schemas.document("http://testserver")["paths"]
