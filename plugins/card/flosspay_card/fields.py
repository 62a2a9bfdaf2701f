"""The card fields of a payment request, as merchants send them; their repr never shows PAN or CVV."""

from __future__ import annotations

from typing import Any

import msgspec
from flosspay_card.cards import Scheme, mask


class CardDetails(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """``{"number", "expiryMonth", "expiryYear", "cvv", "holderName"?}``; ``CardRail.prepare`` checks the rules."""

    number: str
    expiry_month: int
    expiry_year: int
    cvv: str
    holder_name: str | None = None

    def __repr__(self) -> str:
        # repr is what tracebacks, debuggers and log formatting show: the PAN masked, the CVV never.
        return (
            f"CardDetails(number={mask(self.number)!r}, expiryMonth={self.expiry_month!r}, "
            f"expiryYear={self.expiry_year!r}, cvv='***', holderName={self.holder_name!r})"
        )

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        return [
            ("number", mask(self.number)),
            ("expiryMonth", self.expiry_month),
            ("expiryYear", self.expiry_year),
            ("cvv", "***"),
            ("holderName", self.holder_name),
        ]


class CardFields(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """The request body's rail part: ``{"card": {...}}``."""

    card: CardDetails


class CardSummary(msgspec.Struct, rename="camel", frozen=True):
    """The only card facts the API shows: the scheme and the last four digits (never the number or CVV)."""

    scheme: Scheme
    last4: str


class CardPublic(msgspec.Struct, rename="camel", frozen=True):
    """``{"card": {"scheme": "visa", "last4": "1111"}}`` on the accepted payment and its status."""

    card: CardSummary
