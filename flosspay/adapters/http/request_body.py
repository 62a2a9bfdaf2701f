"""Reading a JSON request body: media type, exact numbers, no duplicate keys, one clear error per problem.

This is the one JSON reader of every request body. JSON numbers are decoded straight into
``Decimal`` from their text, so no amount ever passes through a binary float. A key that appears
twice in one object (at any depth) is refused: otherwise a proxy, a log or a second parser that
keeps the *first* value could disagree with what is paid (msgspec, like most parsers, keeps the last).

msgspec cannot report duplicates, so the check is two-step. Every key of a JSON text is followed by
a ``:`` outside any string, so the number of keys written is at most ``body.count(b":")``; when that
equals the number of keys msgspec kept, no key can have been written twice. Only a body with colons
inside strings (or a real duplicate) pays for a second, duplicate-reporting parse.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import msgspec
from litestar.exceptions import HTTPException

from flosspay.domain.errors import FieldError, ValidationFailed

JSON_MEDIA_TYPE = "application/json"
ACCEPTED_CHARSETS = frozenset({"utf-8", "utf8"})

_DECODER = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)


class UnsupportedMediaType(HTTPException):
    """415: the body is not declared as JSON, or not as UTF-8."""

    status_code = 415


class DuplicateKey(ValueError):
    """A JSON object names the same key twice."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def require_json(content_type: str | None) -> None:
    """Only ``application/json`` is accepted; a ``charset`` parameter, if any, must be UTF-8 (RFC 8259)."""
    media_type, _, params = (content_type or "").partition(";")
    media_type = media_type.strip().lower()
    if media_type != JSON_MEDIA_TYPE:
        shown = media_type or "none"
        raise UnsupportedMediaType(detail=f"Content-Type must be {JSON_MEDIA_TYPE} (got {shown})")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
            if charset not in ACCEPTED_CHARSETS:
                raise UnsupportedMediaType(detail=f"the JSON body must be UTF-8 (got charset={charset or 'none'})")


def decode_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, numbers with a fraction or exponent as exact ``Decimal``."""
    if not body.strip():
        raise ValidationFailed([FieldError("body", "is required: a JSON object")])
    try:
        document = _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        message = "must be a JSON object" if str(exc).startswith("Expected `object`") else f"is invalid ({exc})"
        raise ValidationFailed([FieldError("body", message)]) from None
    except msgspec.DecodeError as exc:
        raise ValidationFailed([FieldError("body", f"is not valid JSON ({exc})")]) from None
    except RecursionError:
        raise ValidationFailed([FieldError("body", "is nested too deeply")]) from None
    if body.count(b":") != _count_keys(document):
        _refuse_duplicates(body)
    return document


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(v) for v in value.values() if isinstance(v, dict | list))
    if isinstance(value, list):
        return sum(_count_keys(v) for v in value if isinstance(v, dict | list))
    return 0


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return found


def _refuse_duplicates(body: bytes) -> None:
    """The slow path: parse again, keeping every pair, and refuse the first key written twice."""
    try:
        json.loads(body, object_pairs_hook=_unique_pairs, parse_float=str, parse_int=str, parse_constant=str)
    except DuplicateKey as exc:
        shown = exc.key if len(exc.key) <= 64 else exc.key[:64] + "…"
        raise ValidationFailed(
            [FieldError(shown, "appears more than once in one JSON object")],
            detail=f"duplicate JSON key {shown!r}: every key may appear only once per object",
        ) from None
    except (ValueError, RecursionError):
        # msgspec accepted the text; a stricter corner of the json module must not turn it into a 500
        raise ValidationFailed([FieldError("body", "is not valid JSON")]) from None
