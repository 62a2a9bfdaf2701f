"""The webhook operations that take a body read it with the one JSON reader too (issue 10).

The hostile schemathesis run covers the payment operations on an app without webhooks; these are
the same three hostile bodies (a repeated key, a huge number, a charset other than UTF-8) sent to
every webhook operation that takes a body, each of which must be refused clearly, never a 500.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.http.http_api_support import (
    SignedClient,
    assert_problem,
    field_errors,
    signed_headers,
    webhook_api,
)

pytestmark = pytest.mark.security

PUBLIC = "https://hooks.example.com/flosspay"


@pytest.fixture
def hooks(tmp_path: Path) -> Iterator[SignedClient]:
    with webhook_api(tmp_path / "api.db") as api:
        yield api


def test_registering_an_endpoint_refuses_a_repeated_key(hooks: SignedClient) -> None:
    raw = f'{{"url":"{PUBLIC}","url":"http://127.0.0.1:9/steal"}}'.encode()
    response = hooks.post("/api/v1/webhook-endpoints", raw=raw, key="dup-1")
    assert_problem(response, 400)
    assert "url" in field_errors(response.json())
    listed = hooks.get("/api/v1/webhook-endpoints")
    assert listed.status_code == 200 and listed.json() == []


def test_registering_an_endpoint_refuses_a_repeated_nested_key_and_a_huge_number(hooks: SignedClient) -> None:
    nested = f'{{"url":"{PUBLIC}","events":["payment.completed"],"description":"a","description":"b"}}'.encode()
    assert_problem(hooks.post("/api/v1/webhook-endpoints", raw=nested, key="dup-2"), 400)
    huge = f'{{"url":"{PUBLIC}","description":{"9" * 5000}}}'.encode()
    response = hooks.post("/api/v1/webhook-endpoints", raw=huge, key="huge-1")
    assert response.status_code in (400, 413), response.text
    assert_problem(response, response.status_code)


def test_registering_an_endpoint_refuses_a_charset_other_than_utf8(hooks: SignedClient) -> None:
    body = f'{{"url":"{PUBLIC}"}}'.encode("utf-16")
    response = hooks.post(
        "/api/v1/webhook-endpoints", raw=body, key="cs-1", content_type="application/json; charset=utf-16"
    )
    assert_problem(response, 415)


def test_updating_an_endpoint_refuses_a_repeated_key(hooks: SignedClient) -> None:
    created = hooks.post("/api/v1/webhook-endpoints", {"url": PUBLIC}, key="ep-1")
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    raw = b'{"enabled":true,"enabled":false}'
    path = f"/api/v1/webhook-endpoints/{endpoint_id}"
    headers = signed_headers("PATCH", path, raw, timestamp=hooks.now())
    headers["Content-Type"] = "application/json"
    response = hooks.http.patch(path, content=raw, headers=headers)
    assert_problem(response, 400)
    assert "enabled" in field_errors(response.json())
    shown = hooks.get(path)
    assert shown.status_code == 200 and shown.json()["enabled"] is True
