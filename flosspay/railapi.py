"""FlossPay's public rail API: the only module a rail distribution imports from FlossPay.

Everything a rail author needs is re-exported here; names here follow semantic versioning.
"""

from __future__ import annotations

from typing import Protocol

from flosspay.domain.errors import FieldError, ServiceUnavailable, ValidationFailed
from flosspay.domain.money import CURRENCY_EXPONENTS, Money
from flosspay.domain.payment import Flow
from flosspay.domain.rail import (
    Outcome,
    PreparedPayment,
    Rail,
    RailRequest,
    RailResult,
    RailSettings,
    RefundResult,
)
from flosspay.domain.vpa import VPA_PATTERN, Vpa
from flosspay.hookspecs import hookimpl


class Sandbox(Protocol):
    """A PSP simulator a rail ships for development and tests."""

    def start(self, host: str, port: int) -> str:
        """Start serving (in a background thread) and return the base URL."""
        ...

    def stop(self) -> None: ...


__all__ = [
    "CURRENCY_EXPONENTS",
    "VPA_PATTERN",
    "FieldError",
    "Flow",
    "Money",
    "Outcome",
    "PreparedPayment",
    "Rail",
    "RailRequest",
    "RailResult",
    "RailSettings",
    "RefundResult",
    "Sandbox",
    "ServiceUnavailable",
    "ValidationFailed",
    "Vpa",
    "hookimpl",
]
