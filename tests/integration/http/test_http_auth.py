"""HMAC authentication: every way a request can fail to prove who sent it is a 401 problem."""

from __future__ import annotations

import json
import re

import pytest
from http_api_support import (
    CLIENT_SECRET,
    INACTIVE_CLIENT_ID,
    INACTIVE_CLIENT_SECRET,
    OTHER_CLIENT_SECRET,
    HookWorld,
    SignedClient,
    assert_problem,
    pay_body,
    signed_headers,
)
from litestar.testing import TestClient

pytestmark = pytest.mark.integration

PAY = "/api/v1/pay"


def _post(api: SignedClient, headers: dict[str, str], body: bytes, path: str = PAY) -> dict[str, object]:
    response = api.http.post(path, content=body, headers={**headers, "Content-Type": "application/json"})
    problem = assert_problem(response, 401)
    assert problem["title"] == "Unauthorized"
    return problem


def _body() -> bytes:
    return json.dumps(pay_body()).encode()


def test_a_correctly_signed_request_is_accepted(api: SignedClient) -> None:
    response = api.post(PAY, pay_body())
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("header", ["X-Client-Id", "X-Timestamp", "X-HMAC"])
def test_each_missing_header_is_refused_and_named(api: SignedClient, header: str) -> None:
    body = _body()
    headers = signed_headers("POST", PAY, body, timestamp=api.now(), key="k")
    del headers[header]
    problem = _post(api, headers, body)
    assert header in str(problem["detail"])
    assert api.world.store.payments == {}


def test_no_headers_at_all(api: SignedClient) -> None:
    response = api.http.get("/api/v1/transaction/whatever/status")
    problem = assert_problem(response, 401)
    assert "X-Client-Id" in str(problem["detail"])


def test_unknown_client_is_refused_without_saying_which_part_was_wrong(api: SignedClient) -> None:
    body = _body()
    headers = signed_headers("POST", PAY, body, client_id="cl_nobody", timestamp=api.now(), key="k")
    problem = _post(api, headers, body)
    assert problem["detail"] == "invalid client credentials or signature"


def test_inactive_client_is_refused(api: SignedClient) -> None:
    body = _body()
    headers = signed_headers(
        "POST", PAY, body, client_id=INACTIVE_CLIENT_ID, secret=INACTIVE_CLIENT_SECRET, timestamp=api.now(), key="k"
    )
    _post(api, headers, body)


def test_signature_made_with_another_clients_secret_is_refused(api: SignedClient) -> None:
    body = _body()
    headers = signed_headers("POST", PAY, body, secret=OTHER_CLIENT_SECRET, timestamp=api.now(), key="k")
    problem = _post(api, headers, body)
    assert problem["detail"] == "invalid client credentials or signature"


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86400])
def test_stale_or_future_timestamp_is_refused(api: SignedClient, offset: int) -> None:
    body = _body()
    headers = signed_headers("POST", PAY, body, timestamp=api.now() + offset, key="k")
    problem = _post(api, headers, body)
    assert "X-Timestamp" in str(problem["detail"])


@pytest.mark.parametrize("offset", [-300, 300])
def test_timestamp_at_the_edge_of_the_window_is_accepted(api: SignedClient, offset: int) -> None:
    body = _body()
    headers = signed_headers("POST", PAY, body, timestamp=api.now() + offset, key=f"edge{offset}")
    response = api.http.post(PAY, content=body, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "timestamp", ["abc", "1.5", "-1", "1e9", " 1767268800", "9" * 13, "\N{FULLWIDTH DIGIT ONE}" * 10]
)
def test_malformed_timestamp_is_refused(api: SignedClient, timestamp: str) -> None:
    body = _body()
    headers: dict[str, object] = {**signed_headers("POST", PAY, body, timestamp=api.now(), key="k")}
    headers["X-Timestamp"] = timestamp.encode()  # bytes: sent as is, even when not ASCII
    headers["Content-Type"] = "application/json"
    response = api.http.post(PAY, content=body, headers=headers)  # type: ignore[arg-type]
    assert_problem(response, 401)


def test_tampered_body_is_refused(api: SignedClient) -> None:
    body = _body()
    headers = signed_headers("POST", PAY, body, timestamp=api.now(), key="k")
    tampered = body.replace(b"28.00", b"2800.00")
    _post(api, headers, tampered)
    assert api.world.store.payments == {}


def test_tampered_query_is_refused(api: SignedClient) -> None:
    signed_path = "/api/v1/transaction/x/status?a=1"
    headers = signed_headers("GET", signed_path, timestamp=api.now())
    response = api.http.get("/api/v1/transaction/x/status?a=2", headers=headers)
    assert_problem(response, 401)


def test_query_string_is_signed_exactly_as_sent(api: SignedClient) -> None:
    path = "/api/v1/transaction/not-a-payment/status?b=2&a=1"
    headers = signed_headers("GET", path, timestamp=api.now())
    response = api.http.get(path, headers=headers)
    assert_problem(response, 404)  # authenticated, then simply not found


def test_tampered_idempotency_key_is_refused(api: SignedClient) -> None:
    body = _body()
    headers = signed_headers("POST", PAY, body, timestamp=api.now(), key="signed-key")
    headers["Idempotency-Key"] = "other-key"
    _post(api, headers, body)


def test_signature_for_another_path_is_refused(api: SignedClient) -> None:
    body = _body()
    headers = signed_headers("POST", "/api/v1/collect", body, timestamp=api.now(), key="k")
    _post(api, headers, body)


def test_signature_for_another_method_is_refused(api: SignedClient) -> None:
    path = "/api/v1/transaction/x/status"
    headers = signed_headers("POST", path, timestamp=api.now())
    assert_problem(api.http.get(path, headers=headers), 401)


def test_garbage_signature_is_refused(api: SignedClient) -> None:
    body = _body()
    headers = signed_headers("POST", PAY, body, timestamp=api.now(), key="k")
    sent: dict[str, object] = {**headers, "X-HMAC": "not base64 at all ✓".encode(), "Content-Type": "application/json"}
    response = api.http.post(PAY, content=body, headers=sent)  # type: ignore[arg-type]
    assert_problem(response, 401)


def test_authentication_comes_before_validation(api: SignedClient) -> None:
    """An unsigned request learns nothing about its body, and nothing is stored."""
    response = api.http.post(PAY, content=b"{not json", headers={"Content-Type": "text/plain"})
    assert_problem(response, 401)
    assert api.world.store.commits == 0


def test_no_response_reveals_the_secret(api: SignedClient) -> None:
    body = _body()
    headers = signed_headers("POST", PAY, body, secret=CLIENT_SECRET + "x", timestamp=api.now(), key="k")
    response = api.http.post(PAY, content=body, headers={**headers, "Content-Type": "application/json"})
    assert_problem(response, 401)  # which also asserts that no secret appears
    assert CLIENT_SECRET not in response.text and "sk_" not in response.text


def test_every_api_route_and_method_refuses_an_unsigned_request() -> None:
    """Authentication is the ``/api/v1`` router's ``before_request`` hook (ADR 0024), and Litestar runs
    only the closest layer's hook: a handler or router that set its own would serve unsigned requests."""
    app = HookWorld().app()
    served = [
        (method, route.path)
        for route in app.routes
        if route.path.startswith("/api/")
        for method in sorted(getattr(route, "methods", ()))
    ]
    assert len(served) > 15  # the webhook routes included
    with TestClient(app) as client:
        for method, path in served:
            target = re.sub(r"\{(\w+):\w+\}", "x", path)
            response = client.request(method, target, content=b"{}", headers={"Content-Type": "application/json"})
            assert response.status_code == 401, (method, path, response.status_code)
            # the hook's refusal, not the client_id dependency's fallback (which would hide a bypassed hook)
            assert "missing authentication header" in response.json()["detail"], (method, path)
