"""``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` on every authenticated answer.

An ASGI middleware on the ``/api/v1`` router: the guard leaves its bucket decision in the
connection state, and this adds the headers to whatever answer leaves, success or problem.
"""

from __future__ import annotations

import math

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from flosspay.adapters.http.hmac_auth import RATE_LIMIT_STATE_KEY
from flosspay.domain.bucket import BucketDecision


def rate_limit_headers(decision: BucketDecision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
        (b"ratelimit-reset", str(math.ceil(decision.reset_after)).encode()),
    ]


class RateLimitHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                state = scope.get("state") or {}
                decision = state.get(RATE_LIMIT_STATE_KEY)
                if isinstance(decision, BucketDecision):
                    message["headers"] = [*message.get("headers", ()), *rate_limit_headers(decision)]
            await send(message)

        await self.app(scope, receive, send_with_headers)
