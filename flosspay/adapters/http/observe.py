"""Per-request observability: the request id (X-Request-Id in and out) and the HTTP latency histogram.

A pure ASGI middleware, so the cost per request is a perf_counter pair, a contextvar and one
histogram observation (measured: ``python3 scripts/dev.py bench intake``, ADR 0010). The id
comes from the client's ``X-Request-Id`` when it is a sane token, else it is generated; every
response carries it (``before_send`` also covers answers Litestar gives before routing, e.g. 404).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from flosspay.adapters.logs import request_id_var
from flosspay.adapters.metrics import HTTP_LATENCY

REQUEST_ID_HEADER = "X-Request-Id"
_HEADER = b"x-request-id"
_STATE_KEY = "flosspay_request_id"
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
        status = 500
        start = time.perf_counter()

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, sending)
        finally:
            request_id_var.reset(token)
            route = scope.get("path_template") or "unmatched"
            HTTP_LATENCY.labels(route, str(scope.get("method", "")), str(status)).observe(time.perf_counter() - start)

    return middleware


async def add_request_id(message: Message, scope: Scope) -> None:
    """``before_send``: every HTTP response names its request id."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers") or [])
        headers.append((_HEADER, _request_id(scope).encode()))
        message["headers"] = headers
