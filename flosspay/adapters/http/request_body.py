"""Reading a JSON request body: media type, exact numbers, one clear error per problem.

JSON numbers are decoded straight into ``Decimal`` from their text, so no amount ever passes
through a binary float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
from litestar.exceptions import HTTPException

from flosspay.domain.errors import FieldError, ValidationFailed

JSON_MEDIA_TYPE = "application/json"

_DECODER = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)


class UnsupportedMediaType(HTTPException):
    """415: the body is not declared as JSON."""

    status_code = 415


def require_json(content_type: str | None) -> None:
    """Only ``application/json`` (parameters such as ``charset`` allowed) is accepted."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        shown = media_type or "none"
        raise UnsupportedMediaType(detail=f"Content-Type must be {JSON_MEDIA_TYPE} (got {shown})")


def decode_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, numbers with a fraction or exponent as exact ``Decimal``."""
    if not body.strip():
        raise ValidationFailed([FieldError("body", "is required: a JSON object")])
    try:
        return _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        message = "must be a JSON object" if str(exc).startswith("Expected `object`") else f"is invalid ({exc})"
        raise ValidationFailed([FieldError("body", message)]) from None
    except msgspec.DecodeError as exc:
        raise ValidationFailed([FieldError("body", f"is not valid JSON ({exc})")]) from None
    except RecursionError:
        raise ValidationFailed([FieldError("body", "is nested too deeply")]) from None
