"""Property-based conformance: schemathesis drives the in-process app from its own OpenAPI document.

Requests are signed like a merchant's, so generated cases reach validation and the use cases; the
checks demand no 5xx and only documented status codes, content types, headers and bodies.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from http_api_support import CLIENT_ID, CLIENT_SECRET, World
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from flosspay.adapters.http.signature import canonical_request, sign

pytestmark = pytest.mark.integration

WORLD = World()
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20260101,
        "generation": {"max-examples": 8},
        "phases": {"stateful": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", WORLD.app(), config=CONFIG)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class MerchantSignature(requests.auth.AuthBase):
    """Signs the request exactly as it goes on the wire (path, query, key header, body bytes)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body: Any = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        timestamp = str(int(WORLD.clock.now().timestamp()))
        key = request.headers.get("Idempotency-Key", "")
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        canonical = canonical_request(request.method or "GET", request.path_url, timestamp, key, body)
        request.headers["X-Client-Id"] = CLIENT_ID
        request.headers["X-Timestamp"] = timestamp
        request.headers["X-HMAC"] = sign(CLIENT_SECRET, canonical)
        return request


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case: schemathesis.Case) -> None:
    response = case.call(auth=MerchantSignature())
    case.validate_response(response, checks=CHECKS)
