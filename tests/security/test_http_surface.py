"""What every response says about itself, what an unauthenticated client can make the server log,
and the signing of an empty query string (issue 10's table)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from litestar.testing import TestClient

from flosspay.adapters.http.security_headers import swagger_policy
from tests.integration.http.http_api_support import (
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    SignedClient,
    World,
    assert_problem,
    pay_body,
    signed_headers,
)

pytestmark = pytest.mark.security


@pytest.mark.parametrize("path", ["/health", "/api/v1/ledger/head", "/api/v1/nowhere", "/schema/openapi.json"])
def test_every_response_carries_the_security_headers(api: SignedClient, path: str) -> None:
    response = api.http.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]


def test_a_signed_api_answer_is_never_cached(api: SignedClient) -> None:
    response = api.post("/api/v1/pay", pay_body())
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_swagger_page_may_load_only_its_own_assets(api: SignedClient) -> None:
    response = api.http.get("/swagger-ui.html")
    policy = response.headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    for name in ("script-src", "style-src"):
        sources = directives[name].split()
        assert sources[0] == "'self'"
        assert all(s.startswith("'sha256-") for s in sources[1:]) and len(sources) >= 2
        assert "'unsafe-inline'" not in sources
    assert "http" not in policy  # no other origin at all
    assert swagger_policy(response.text) == policy  # the hashes are those of this very page
    assert response.headers["x-frame-options"] == "DENY"


def test_swagger_assets_may_be_cached_but_not_sniffed(api: SignedClient) -> None:
    response = api.http.get("/swagger-ui-assets/swagger-ui.css")
    assert response.status_code == 200
    assert "cache-control" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def _post_and_hang_up(world: World, headers: dict[str, str], sent: bytes) -> list[dict[str, Any]]:
    """Send ``Content-Length: 1000`` but only ``sent``, then disconnect; return what the server sent."""
    app = world.app()
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/pay",
        "raw_path": b"/api/v1/pay",
        "query_string": b"",
        "root_path": "",
        "headers": [*raw_headers, (b"content-length", b"1000"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
    }
    events = [{"type": "http.request", "body": sent, "more_body": True}, {"type": "http.disconnect"}]
    sent_messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return events.pop(0) if events else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent_messages.append(message)

    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return sent_messages


@pytest.mark.parametrize("client_id", ["cl_unknown", "cl_alpha"])
def test_a_client_hanging_up_mid_body_is_one_warning_without_a_traceback(
    world: World, client_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"X-Client-Id": client_id, "X-Timestamp": str(int(world.clock.now().timestamp())), "X-HMAC": "AAAA"}
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            _post_and_hang_up(world, headers, b'{"a')
    serious = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert serious == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3  # one line per hang-up, never more
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in warnings)


def test_unauthenticated_junk_writes_no_error_lines(api: SignedClient, caplog: pytest.LogCaptureFixture) -> None:
    junk: list[dict[str, Any]] = [
        {"headers": {"X-Client-Id": "x" * 5000, "X-Timestamp": "1", "X-HMAC": "?"}},
        {"headers": {"X-Client-Id": "cl_nobody", "X-Timestamp": str(api.now()), "X-HMAC": "A" * 10_000}},
        {
            "headers": {"X-Client-Id": "\u00e9".encode("latin-1"), "X-Timestamp": "9" * 40, "X-HMAC": "=="},
            "content": b"\xff",
        },
        {"headers": {"Content-Type": "application/json; charset=utf-16"}, "content": b"{}"},
    ]
    with caplog.at_level(logging.DEBUG):
        for request in junk:
            response = api.http.post("/api/v1/pay", **request)
            assert 400 <= response.status_code < 500
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_an_empty_trailing_question_mark_may_be_signed_as_sent(api: SignedClient) -> None:
    """README: the path with its query "exactly as sent"; ``/path?`` and ``/path`` both verify."""
    for signed_as in ("/api/v1/ledger/head?", "/api/v1/ledger/head"):
        headers = signed_headers("GET", signed_as, timestamp=api.now())
        response = api.http.get("/api/v1/ledger/head?", headers=headers)
        assert response.status_code == 200, (signed_as, response.text)
        response = api.http.get("/api/v1/ledger/head", headers=headers)
        assert response.status_code == 200, (signed_as, response.text)


def test_a_non_empty_query_must_be_signed_exactly(api: SignedClient) -> None:
    headers = signed_headers("GET", "/api/v1/ledger/head?", timestamp=api.now())
    assert_problem(api.http.get("/api/v1/ledger/head?x=1", headers=headers), 401)


def test_another_clients_payment_is_looked_up_in_the_same_one_query_as_a_missing_one(world: World) -> None:
    """Timing cannot tell them apart when the repository is asked one question that answers both."""
    calls: list[tuple[str, str]] = []
    with TestClient(world.app()) as http:
        api = SignedClient(http, world)
        payment_id = api.post("/api/v1/pay", pay_body()).json()["id"]
        repo_type = type(world.uow_factory().payments)
        original_get_owned, original_get = repo_type.get_owned, repo_type.get

        def spy_owned(self: Any, client_id: str, pid: uuid.UUID) -> Any:
            calls.append(("get_owned", client_id))
            return original_get_owned(self, client_id, pid)

        def spy_get(self: Any, pid: uuid.UUID) -> Any:
            calls.append(("get", str(pid)))
            return original_get(self, pid)

        repo_type.get_owned, repo_type.get = spy_owned, spy_get
        try:
            theirs = api.get(
                f"/api/v1/transaction/{payment_id}/status", client_id=OTHER_CLIENT_ID, secret=OTHER_CLIENT_SECRET
            )
            missing = api.get(
                f"/api/v1/transaction/{uuid.uuid4()}/status", client_id=OTHER_CLIENT_ID, secret=OTHER_CLIENT_SECRET
            )
        finally:
            repo_type.get_owned, repo_type.get = original_get_owned, original_get
    assert_problem(theirs, 404)
    assert_problem(missing, 404)
    assert calls == [("get_owned", OTHER_CLIENT_ID), ("get_owned", OTHER_CLIENT_ID)]
