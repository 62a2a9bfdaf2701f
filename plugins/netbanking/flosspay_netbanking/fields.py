"""The net banking fields of a payment request, as merchants send them (camelCase JSON)."""

from __future__ import annotations

import msgspec


class NetbankingDetails(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """``{"bank": "HDFC", "returnUrl": "https://shop.example/return"}``; ``NetbankingRail.prepare`` checks the rules."""

    bank: str
    return_url: str


class NetbankingFields(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """The request body's rail part: ``{"netbanking": {...}}``."""

    netbanking: NetbankingDetails
