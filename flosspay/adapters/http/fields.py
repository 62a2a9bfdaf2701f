"""A request's rail fields as the rail's Struct: msgspec's complaint turned into the field the client sent.

This is the ``decode`` the intake use case is given (ADR 0017): reading msgspec's error text and
naming fields by their wire spelling is the HTTP adapter's job, not the core's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from flosspay.domain.errors import FieldError, ValidationFailed


def convert_fields(fields: Mapping[str, Any], type_: type[msgspec.Struct], prefix: str = "") -> msgspec.Struct:
    """Turn raw rail fields into the rail's Struct, reporting msgspec's complaint as a field error."""
    try:
        return msgspec.convert(fields, type_)
    except msgspec.ValidationError as exc:
        message = str(exc)
        field = prefix.rstrip(".") or "body"
        if " - at `$." in message:
            message, _, path = message.rpartition(" - at `$.")
            field = prefix + path.rstrip("`")
        elif "Object missing required field `" in message:
            name = message.split("`")[1]
            field, message = prefix + name, "is required"
        elif "Object contains unknown field `" in message:
            name = message.split("`")[1]
            field, message = prefix + name, "is not a known field"
        raise ValidationFailed([FieldError(field, message)]) from None
