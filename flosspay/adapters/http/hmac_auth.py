"""HMAC request authentication for ``/api/v1``: who is calling, and is this exactly what they signed.

A ``before_request`` hook of the ``/api/v1`` router: like a guard it runs before any parameter or
body parsing, reads the raw body once (Litestar caches it for the handler) and stores the
authenticated client id in the connection state. Not a Litestar guard, because Litestar copies the
route handler object for every guard call (``copy(handler)``: 6.7% of the in-process app's samples, ADR 0024).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from litestar import Request
from litestar.di import NamedDependency
from litestar.types import BeforeRequestHookHandler, Scope

from flosspay.adapters.client_cache import MISS as _MISS
from flosspay.adapters.http.services import ApiServices
from flosspay.adapters.http.signature import canonical_request, timestamp_fresh, verify
from flosspay.adapters.metrics import RATE_LIMIT_REJECTIONS
from flosspay.domain.clients import ApiClient
from flosspay.domain.errors import RateLimited, Unauthenticated
from flosspay.domain.ports import Clock, RateLimiter

CLIENT_ID_HEADER = "X-Client-Id"
TIMESTAMP_HEADER = "X-Timestamp"
SIGNATURE_HEADER = "X-HMAC"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_CLIENT_ID_LENGTH = 128

_STATE_KEY = "flosspay_client_id"
RATE_LIMIT_STATE_KEY = "flosspay_rate_limit"
_REFUSED = "invalid client credentials or signature"


def signed_target(scope: Scope) -> str:
    """The path and query exactly as sent: ``raw_path`` plus ``?query_string`` when there is one.

    Some servers (and httpx's test transport) put the query into ``raw_path`` too; a raw path
    cannot contain a literal ``?``, so anything after one is dropped and the query re-added once.
    """
    raw: bytes = scope.get("raw_path") or scope["path"].encode()
    path = raw.split(b"?", 1)[0].decode("latin-1")
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def signed_targets(scope: Scope) -> tuple[str, ...]:
    """Every target a client may have signed for this request.

    An empty trailing ``?`` never reaches the application (the ASGI scope has no way to say it was
    sent), so a request without a query verifies against both ``/path`` and ``/path?``: signing the
    target "exactly as sent" then holds whichever of the two the client's HTTP library put on the wire.
    """
    target = signed_target(scope)
    return (target,) if scope.get("query_string") else (target, target + "?")


def hmac_guard(
    find_client: Callable[[str], ApiClient | None],
    clock: Clock,
    skew_seconds: int,
    limiter: RateLimiter | None = None,
) -> BeforeRequestHookHandler:
    """A ``before_request`` hook refusing (401) any request whose signature headers are missing, stale or wrong, and
    (429) an authenticated client over its rate: before any parsing, so a limited request costs a
    signature check and one Redis round trip, and stores nothing."""

    async def require_signature(connection: Request[Any, Any, Any]) -> None:
        headers = connection.headers
        client_id = headers.get(CLIENT_ID_HEADER, "")
        timestamp = headers.get(TIMESTAMP_HEADER, "")
        signature = headers.get(SIGNATURE_HEADER, "")
        presented = {CLIENT_ID_HEADER: client_id, TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature}
        missing = [name for name, value in presented.items() if not value]
        if missing:
            raise Unauthenticated(f"missing authentication header(s): {', '.join(missing)}")
        if not timestamp_fresh(timestamp, clock.now().timestamp(), skew_seconds):
            raise Unauthenticated(f"{TIMESTAMP_HEADER} must be Unix seconds within {skew_seconds} s of server time")
        body = await connection.body()
        client: ApiClient | None = None
        if len(client_id) <= MAX_CLIENT_ID_LENGTH:
            # A cache hit needs no thread hop; only a miss may block on the database.
            peek = getattr(find_client, "peek", None)
            cached = peek(client_id) if peek is not None else _MISS
            found = await anyio.to_thread.run_sync(find_client, client_id) if cached is _MISS else cached
            client = found if isinstance(found, ApiClient) else None
        key = headers.get(IDEMPOTENCY_KEY_HEADER, "")
        canonicals = [
            canonical_request(connection.method, target, timestamp, key, body)
            for target in signed_targets(connection.scope)
        ]
        known = client is not None and client.active
        # An unknown client still costs the same HMACs as a known one with a wrong signature (every
        # candidate), so timing does not tell which ids exist; only a valid signature stops early.
        candidates = client.secrets_at(clock.now()) if client is not None and known else ("",)
        valid = any(verify(secret, canonical, signature) for secret in candidates for canonical in canonicals)
        if not (known and valid):
            raise Unauthenticated(_REFUSED)
        state = connection.scope["state"]  # the dict behind ``connection.state``, without a State wrapper per access
        state[_STATE_KEY] = client_id
        if limiter is not None and client is not None:
            decision = await limiter.take(client_id, client.limit)
            state[RATE_LIMIT_STATE_KEY] = decision
            if not decision.allowed:
                RATE_LIMIT_REJECTIONS.inc()
                raise RateLimited(max(1, math.ceil(decision.retry_after)))

    return require_signature


def authenticated_client_id(request: Request[Any, Any, Any], services: NamedDependency[ApiServices]) -> str:
    """Dependency: the client the hook authenticated (the hook guarantees it is set).

    It names ``services`` (unused) so Litestar resolves the two dependencies one after the other:
    independent ones it resolves concurrently, in an anyio task group per request, which cost
    about a tenth of the API process's py-spy samples (ADR 0021).
    """
    del services
    return client_of(request)


def client_of(request: Request[Any, Any, Any]) -> str:
    """The client the hook authenticated; for handlers that skip Litestar's dependency injection."""
    client_id = request.scope["state"].get(_STATE_KEY)
    if not isinstance(client_id, str):
        raise Unauthenticated(_REFUSED)
    return client_id
