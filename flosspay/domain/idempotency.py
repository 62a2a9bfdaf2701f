"""Idempotency: the same request under the same key happens once; its first answer is replayed."""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from flosspay.domain.errors import FieldError, IdempotencyConflict, ValidationFailed

MAX_KEY_LENGTH = 255


def key_problem(key: str | None) -> str | None:
    """Why ``key`` cannot be an idempotency key, or None: a key is 1 to 255 visible ASCII characters (0x21-0x7E)."""
    if key is None or key == "":
        return "is required"
    if len(key) > MAX_KEY_LENGTH:
        return f"must be at most {MAX_KEY_LENGTH} characters"
    if not all("!" <= ch <= "~" for ch in key):
        return "must be visible ASCII characters only"
    return None


def validate_key(key: str | None, field: str = "idempotencyKey") -> str:
    """``key`` if it can be an idempotency key, else ``ValidationFailed`` naming ``field`` as the client wrote it."""
    problem = key_problem(key)
    if problem is not None or key is None:
        raise ValidationFailed([FieldError(field, problem or "is required")])
    return key


def canonical_json(body: bytes) -> bytes:
    """Canonical form of a JSON document: sorted keys, no spaces, numbers by exact decimal value.

    So ``{"b":1, "a":28.0}`` and ``{"a":28.00,"b":1}`` are the same request.
    """
    return canonical_value(json.loads(body, parse_float=Decimal, parse_int=Decimal))


def canonical_value(value: Any) -> bytes:
    """``canonical_json`` of an already decoded document (integers as ``int``, fractions as ``Decimal``).

    Lets an adapter that has parsed the body once fingerprint it without parsing it again.
    """
    out: list[str] = []
    _emit(value, out)
    return "".join(out).encode()


_json_string = json.encoder.encode_basestring
"""What ``json.dumps(s, ensure_ascii=False)`` returns for a ``str``, without building an encoder per call."""
_JSON_CONSTANTS = {True: "true", False: "false", None: "null"}


def _emit(value: Any, out: list[str]) -> None:
    """Appends ``value``'s canonical JSON; strings and constants first (most values), as ``json.dumps`` spells them."""
    kind = type(value)
    if kind is str:
        out.append(_json_string(value))
    elif kind is bool or value is None:
        out.append(_JSON_CONSTANTS[value])
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value)):
            if i:
                out.append(",")
            out.append(_json_string(key) if type(key) is str else json.dumps(key, ensure_ascii=False))
            out.append(":")
            _emit(value[key], out)
        out.append("}")
    elif isinstance(value, list):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _emit(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        out.append(str(value.normalize()))
    elif isinstance(value, int) and not isinstance(value, bool):
        out.append(str(Decimal(value).normalize()))
    else:
        out.append(json.dumps(value, ensure_ascii=False))


def fingerprint(method: str, path: str, body: bytes, key: bytes = b"") -> str:
    """HMAC-SHA256 (keyed by the server's secret) over method, path and the canonical body.

    This is what "the same request" means. The key keeps a stored fingerprint from being
    brute-forced back into the body (which may hold a card number).
    """
    return _fingerprint(method, path, canonical_json(body) if body.strip() else b"", key)


def fingerprint_value(method: str, path: str, document: Any, key: bytes = b"") -> str:
    """``fingerprint`` of a body already decoded (as ``canonical_value`` takes it): the same digest."""
    return _fingerprint(method, path, canonical_value(document), key)


def _fingerprint(method: str, path: str, canonical: bytes, key: bytes) -> str:
    digest = hmac.new(key, digestmod=hashlib.sha256)
    digest.update(method.upper().encode())
    digest.update(b"\n")
    digest.update(path.encode())
    digest.update(b"\n")
    digest.update(canonical)
    return digest.hexdigest()


class Answer(msgspec.Struct, frozen=True):
    """The first answer to a keyed request as an adapter rendered it (over HTTP: status code and body).

    The core stores it and replays it byte for byte, never reading it: what the answer looks like is
    the adapter's business, that a repeated request gets the same one is the core's.
    """

    status: int
    body: bytes


class IdempotencyRecord(msgspec.Struct, frozen=True):
    """The stored first answer to a keyed request (``response_status``/``response_body``: an ``Answer``)."""

    client_id: str
    key: str
    fingerprint: str
    response_status: int
    response_body: bytes
    created_at: datetime
    expires_at: datetime
    payment_id: str | None = None

    @property
    def answer(self) -> Answer:
        return Answer(self.response_status, self.response_body)


class Decision(enum.Enum):
    REPLAY = "replay"


def decide(existing: IdempotencyRecord, request_fingerprint: str) -> Decision:
    """For a key already used: replay the stored answer when it is the same request, else refuse."""
    if existing.fingerprint != request_fingerprint:
        raise IdempotencyConflict("this idempotency key was already used for a different request; use a new key")
    return Decision.REPLAY
