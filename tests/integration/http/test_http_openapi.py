"""The OpenAPI document and the offline Swagger UI."""

from __future__ import annotations

import re
from typing import Any

import pytest
from http_api_support import SignedClient

pytestmark = pytest.mark.integration

EXTERNAL_URL = re.compile(rb"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)
OPERATIONS = {
    ("/api/v1/pay", "post"): ("initiatePay", "200"),
    ("/api/v1/collect", "post"): ("initiateCollect", "202"),
    ("/api/v1/payments", "post"): ("createPayment", "200"),
    ("/api/v1/transaction/{id}/status", "get"): ("getPaymentStatus", "200"),
}


@pytest.fixture
def document(api: SignedClient) -> dict[str, Any]:
    response = api.http.get("/schema/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_document_is_openapi_3_1_with_the_app_version(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    assert document["info"]["version"] == "9.9.9-test"


@pytest.mark.parametrize(("path", "method"), list(OPERATIONS))
def test_each_operation_is_documented(document: dict[str, Any], path: str, method: str) -> None:
    operation_id, success = OPERATIONS[(path, method)]
    operation = document["paths"][path][method]
    assert operation["operationId"] == operation_id
    assert operation["security"] == [{"ClientId": [], "Timestamp": [], "Signature": []}]
    responses = operation["responses"]
    assert "application/json" in responses[success]["content"]
    for status in ("400", "401", "413", "500", "503"):
        content = responses[status]["content"]
        assert list(content) == ["application/problem+json"]
        assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    if method == "post":
        assert {"409", "415"} <= set(responses)
        key = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
        assert key["in"] == "header" and key["required"] is True
        assert operation["requestBody"]["required"] is True
        assert "Idempotent-Replayed" in responses[success]["headers"]
    else:
        assert "404" in responses


def test_security_headers_are_declared(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert {(s["type"], s["in"], s["name"]) for s in schemes.values()} == {
        ("apiKey", "header", "X-Client-Id"),
        ("apiKey", "header", "X-Timestamp"),
        ("apiKey", "header", "X-HMAC"),
    }


def test_request_schemas_list_the_fields(document: dict[str, Any]) -> None:
    pay = _resolve(
        document, document["paths"]["/api/v1/pay"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    assert set(pay["properties"]) == {"senderUpi", "receiverUpi", "amount", "currency", "note"}
    assert set(pay["required"]) == {"senderUpi", "receiverUpi", "amount"}
    assert pay["additionalProperties"] is False
    collect = document["components"]["schemas"]["CollectRequest"]
    assert collect["properties"]["expiresInMinutes"]["anyOf"][0]["maximum"] == 64800


def test_payments_shows_each_enabled_rails_fields(document: dict[str, Any]) -> None:
    schema = _resolve(
        document, document["paths"]["/api/v1/payments"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    )
    variants = [_resolve(document, v) for v in schema["oneOf"]]
    by_method = {v["properties"]["method"]["enum"][0]: v for v in variants}
    assert set(by_method) == {"UPI", "WALLET"}
    assert {"walletId", "provider", "amount", "currency", "note"} <= set(by_method["WALLET"]["properties"])
    assert set(by_method["WALLET"]["required"]) == {"method", "amount", "walletId"}
    assert set(by_method["UPI"]["required"]) == {"method", "amount", "senderUpi", "receiverUpi"}
    holder_ref = by_method["WALLET"]["properties"]["holder"]["anyOf"][0]
    assert _resolve(document, holder_ref)["properties"] == {"name": {"type": "string"}}


def test_health_endpoints_are_documented_as_text(document: dict[str, Any]) -> None:
    ready = document["paths"]["/health/ready"]["get"]["responses"]
    assert set(ready) == {"200", "503"}
    assert "text/plain" in ready["503"]["content"]
    assert "security" not in document["paths"]["/health"]["get"]


def test_swagger_page_loads_with_local_assets_only(api: SignedClient) -> None:
    page = api.http.get("/swagger-ui.html")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert b"SwaggerUIBundle" in page.content
    assert b"initiatePay" in page.content  # the document is inlined
    assert not EXTERNAL_URL.search(page.content), EXTERNAL_URL.findall(page.content)
    assets = re.findall(rb"""(?:src|href)=['"]([^'"]+)['"]""", page.content)
    assert len(assets) >= 4  # css, bundle, preset, favicon
    for asset in assets:
        assert asset.startswith(b"/"), asset
        response = api.http.get(asset.decode())
        assert response.status_code == 200, asset
        assert len(response.content) > 100


def test_swagger_assets_have_sensible_types(api: SignedClient) -> None:
    assert "javascript" in api.http.get("/swagger-ui-assets/swagger-ui-bundle.js").headers["content-type"]
    assert api.http.get("/swagger-ui-assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert api.http.get("/swagger-ui-assets/../../secret").status_code == 404
