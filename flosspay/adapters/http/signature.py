"""Request signing: HMAC-SHA256 over a canonical string, compared in constant time."""

from __future__ import annotations

import base64
import hmac

MAX_CLOCK_SKEW_SECONDS = 300


def canonical_request(method: str, path_with_query: str, timestamp: str, idempotency_key: str, body: bytes) -> bytes:
    """method, path (with its query exactly as sent), timestamp, key ("" if absent), body: joined by "\\n"."""
    head = "\n".join((method.upper(), path_with_query, timestamp, idempotency_key)).encode()
    return head + b"\n" + body


def sign(secret: str, canonical: bytes) -> str:
    """Standard Base64 of HMAC-SHA256(secret, canonical), by OpenSSL's one-shot ``hmac.digest`` (no HMAC object)."""
    return base64.b64encode(hmac.digest(secret.encode(), canonical, "sha256")).decode()


def verify(secret: str, canonical: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, canonical).encode(), signature.encode())


def timestamp_fresh(timestamp: str, now_unix: float, skew: int = MAX_CLOCK_SKEW_SECONDS) -> bool:
    """The timestamp is whole Unix seconds within ``skew`` of the server clock."""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(int(timestamp) - now_unix) <= skew
