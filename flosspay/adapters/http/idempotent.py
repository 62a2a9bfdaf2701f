"""Idempotent POSTs: the key a client sends, the fingerprint of its request, and the answer it gets.

A replay carries ``Idempotent-Replayed: true`` and the first answer's status and body, byte for byte.
"""

from __future__ import annotations

from typing import Any

from litestar import Response

from flosspay.application.accept_payment import Accepted
from flosspay.domain.errors import FieldError, ValidationFailed
from flosspay.domain.idempotency import fingerprint_value, validate_key

REPLAYED_HEADER = "Idempotent-Replayed"


def idempotency_key(header_value: str | None) -> str:
    """The validated ``Idempotency-Key`` header (400 when missing or malformed)."""
    return validate_key(header_value)


def request_fingerprint(method: str, path: str, document: dict[str, Any], key: bytes) -> str:
    """What makes two requests "the same", from the body as already decoded (it is parsed once)."""
    try:
        return fingerprint_value(method, path, document, key)
    except (RecursionError, ValueError):
        raise ValidationFailed([FieldError("body", "is nested too deeply")]) from None


def accepted_response(accepted: Accepted) -> Response[bytes]:
    headers = {REPLAYED_HEADER: "true"} if accepted.replayed else {}
    return Response(
        content=accepted.body, status_code=accepted.status_code, media_type="application/json", headers=headers
    )
