"""Per-request observability: the request id (X-Request-Id in and out) and the HTTP latency histogram.

A pure ASGI middleware, so the cost per request is a perf_counter pair, a contextvar and one
histogram observation (measured: ``python3 scripts/dev.py bench intake``, ADR 0010). The id
comes from the client's ``X-Request-Id`` when it is a sane token, else it is generated; every
response carries it (``before_send`` also covers answers Litestar gives before routing, e.g. 404).

Every header FlossPay adds to a response (request id, rate limit, security) is added by one
``before_send`` hook, which also notes the status for the histogram: one pass over the response
start instead of a send wrapper per concern (ADR 0021).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from flosspay.adapters.http.hmac_auth import RATE_LIMIT_STATE_KEY
from flosspay.adapters.http.rate_limit_headers import rate_limit_headers
from flosspay.adapters.http.security_headers import security_headers
from flosspay.adapters.logs import request_id_var
from flosspay.adapters.metrics import HTTP_LATENCY, child
from flosspay.domain.bucket import BucketDecision

REQUEST_ID_HEADER = "X-Request-Id"
_HEADER = b"x-request-id"
_STATE_KEY = "flosspay_request_id"
_STATUS_KEY = "flosspay_status"
_SANE = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")


def _request_id(scope: Scope) -> str:
    """The id of this request: already chosen, the client's (if sane), or a new one; kept on the scope."""
    state: dict[str, Any] = scope.setdefault("state", {})
    chosen = state.get(_STATE_KEY)
    if chosen is None:
        chosen = (
            next(
                (v.decode() for k, v in scope.get("headers", ()) if k == _HEADER and _SANE.fullmatch(v)),
                None,
            )
            or uuid.uuid4().hex
        )
        state[_STATE_KEY] = chosen
    return str(chosen)


def observe(metrics: bool = True) -> Callable[[ASGIApp], ASGIApp]:
    """The middleware factory; ``metrics=False`` (FLOSSPAY_METRICS_PATH=off) keeps only the request id."""
    return observe_middleware if metrics else request_id_middleware


def request_id_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        token = request_id_var.set(_request_id(scope))
        try:
            await app(scope, receive, send)
        finally:
            request_id_var.reset(token)

    return middleware


def observe_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        token = request_id_var.set(_request_id(scope))
        start = time.perf_counter()
        try:
            await app(scope, receive, send)
        finally:
            request_id_var.reset(token)
            route = scope.get("path_template") or "unmatched"
            status = scope["state"].get(_STATUS_KEY, 500)  # noted by the hook below; none sent: 500
            elapsed = time.perf_counter() - start
            child(HTTP_LATENCY, route, str(scope.get("method", "")), str(status)).observe(elapsed)

    return middleware


def response_headers_hook(static_prefix: str) -> Callable[[Message, Scope], Awaitable[None]]:
    """``before_send``: every HTTP response names its request id and carries the security headers;
    an authenticated one its rate limit. The status is noted for ``observe_middleware``'s histogram."""
    add_security_headers = security_headers(static_prefix)

    async def add_response_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers") or [])
        state: dict[str, Any] = scope.setdefault("state", {})
        state[_STATUS_KEY] = message["status"]
        decision = state.get(RATE_LIMIT_STATE_KEY)
        if isinstance(decision, BucketDecision):
            headers.extend(rate_limit_headers(decision))
        headers.append((_HEADER, _request_id(scope).encode()))
        add_security_headers(headers, scope)
        message["headers"] = headers

    return add_response_headers
