"""The UPI rail's settings, parsed once at start-up from ``FLOSSPAY_UPI_<KEY>`` values.

Every problem is reported as one line naming the environment variable, and the API key is never
echoed back (it is also kept out of ``repr``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from flosspay.railapi import Money, RailSettingsError, SettingsReader

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_AMOUNT = "100000.00"  # NPCI's general per-transaction UPI limit, in rupees
INR_EXPONENT = 2
_MAX_RUPEES = Decimal(10) ** 13  # far above any UPI limit; keeps paise inside 64 bits


class UpiSettingsError(RailSettingsError):
    """The settings cannot be used; the message is one line naming the variable."""


def reader(settings: Mapping[str, str]) -> SettingsReader:
    """Reads ``FLOSSPAY_UPI_*`` settings, raising ``UpiSettingsError``."""
    return SettingsReader(settings, rail="upi", error=UpiSettingsError)


@dataclass(frozen=True, slots=True)
class UpiSettings:
    """What the rail needs to reach its PSP and enforce UPI's limits."""

    psp_url: str
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_amount: Money = field(default_factory=lambda: Money(10_000_000, "INR"))
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> UpiSettings:
        read = reader(settings)
        return cls(
            psp_url=read.psp_url(what="the PSP's base URL, e.g. https://psp.example/"),
            timeout_seconds=read.seconds("timeout", DEFAULT_TIMEOUT_SECONDS),
            max_amount=_rupees(read, "max_amount"),
            api_key=read.secret("api_key"),
        )


def _rupees(read: SettingsReader, key: str) -> Money:
    """A positive rupee amount with at most two decimals, as exact paise."""
    value = read.raw(key) or DEFAULT_MAX_AMOUNT
    problem = f"must be a positive rupee amount such as 100000.00, got {value!r}"
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        amount = Decimal("NaN")  # refused just below, without chaining the parser's error
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or not isinstance(exponent, int) or -exponent > INR_EXPONENT:
        read.fail(key, problem)
    if not 0 < amount < _MAX_RUPEES:
        read.fail(key, problem)
    return Money(int(amount.scaleb(INR_EXPONENT)), "INR")
