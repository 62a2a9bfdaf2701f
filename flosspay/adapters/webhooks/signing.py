"""The Standard Webhooks signing scheme and headers of an outgoing delivery (the wire's, so an adapter's).

Receivers check them with ``flosspay.webhooks.verify`` (stdlib only) or the official
``standardwebhooks`` package; the reference vector is in tests/unit/test_webhooks.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from flosspay.domain.webhooks import DueDelivery, secret_key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """One Standard Webhooks signature: ``v1,`` + Base64(HMAC-SHA256(key, "id.timestamp.body"))."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Sequence[str], message_id: str, timestamp: int, body: bytes) -> str:
    """Every live secret's signature, space-separated (both sign while a rotated secret overlaps)."""
    return " ".join(sign(s, message_id, timestamp, body) for s in secrets_)


def webhook_headers(due: DueDelivery, timestamp: int, secrets_: Sequence[str] | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (the timestamp is the attempt's, the id the event's)."""
    return {
        "webhook-id": due.event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets_ or due.secrets, due.event_id, timestamp, due.payload),
        "content-type": "application/json",
    }
