"""Idempotent POSTs: the key a client sends, the fingerprint of its request, and the answer it gets.

A replay carries ``Idempotent-Replayed: true`` and the first answer's status and body, byte for byte.
"""

from __future__ import annotations

from typing import Any, Protocol

from litestar import Response

from flosspay.domain.errors import FieldError, ValidationFailed
from flosspay.domain.idempotency import Answer, fingerprint_value, validate_key

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class KeyedResult(Protocol):
    """What a keyed use case returns: the answer stored for the key, and whether this is its replay."""

    @property
    def answer(self) -> Answer: ...

    @property
    def replayed(self) -> bool: ...


def idempotency_key(header_value: str | None) -> str:
    """The validated ``Idempotency-Key`` header (400 when missing or malformed)."""
    if not header_value:
        raise ValidationFailed([FieldError(IDEMPOTENCY_HEADER, "header is required on every POST")])
    return validate_key(header_value, IDEMPOTENCY_HEADER)


def request_fingerprint(method: str, path: str, document: dict[str, Any], key: bytes) -> str:
    """What makes two requests "the same", from the body as already decoded (it is parsed once)."""
    try:
        return fingerprint_value(method, path, document, key)
    except (RecursionError, ValueError):
        raise ValidationFailed([FieldError("body", "is nested too deeply")]) from None


def accepted_response(result: KeyedResult) -> Response[bytes]:
    """The stored answer as sent the first time; a replay says so in ``Idempotent-Replayed``."""
    headers = {REPLAYED_HEADER: "true"} if result.replayed else {}
    answer = result.answer
    return Response(content=answer.body, status_code=answer.status, media_type="application/json", headers=headers)
