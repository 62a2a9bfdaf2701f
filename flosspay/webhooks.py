"""Verify a FlossPay webhook in a merchant's app: the standard library only, no server dependencies.

    from flosspay.webhooks import verify, WebhookVerificationError
    event = verify(secret, request.headers, request.body)   # raises on a forged, altered or stale one

FlossPay follows Standard Webhooks (https://www.standardwebhooks.com), so the official
``standardwebhooks`` packages verify its deliveries too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

__all__ = ["WebhookVerificationError", "sign", "verify"]

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


class WebhookVerificationError(Exception):
    """The delivery is not genuine, or too old/new (a replay): do not act on it."""


def _key(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        return secret
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` + Base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))."""
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing header {name}")


def verify(
    secret: str | bytes, headers: Mapping[str, str], body: bytes | str, tolerance: int = 300, now: float | None = None
) -> Any:
    """The decoded JSON body if one ``v1`` signature matches and the timestamp is within ``tolerance`` s.

    ``body`` must be the raw bytes as received (re-serialised JSON will not match).
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance (a replay, or a wrong clock)")
    expected = sign(secret, msg_id, timestamp, raw).encode()
    for candidate in signatures.split():
        version, _, _value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(candidate.encode(), expected):
            return json.loads(raw)
    raise WebhookVerificationError("no matching signature")
