"""The UPI-specific fields of a payment request, as merchants send them (camelCase JSON)."""

from __future__ import annotations

import msgspec


class UpiFields(msgspec.Struct, forbid_unknown_fields=True, rename="camel", frozen=True):
    """Who pays and who is paid, as UPI Virtual Payment Addresses (``name@bank``).

    The shape only; ``UpiRail.prepare`` checks the rules (valid VPAs, different accounts).
    """

    sender_upi: str
    receiver_upi: str


class UpiPublic(msgspec.Struct, rename="camel", frozen=True):
    """What the API shows merchants of a UPI payment (described in the OpenAPI document)."""

    sender_upi: str
    receiver_upi: str
