"""The UPI rail's settings, parsed once at start-up from ``FLOSSPAY_UPI_<KEY>`` values.

Every problem is reported as one line naming the environment variable, and the API key is never
echoed back (it is also kept out of ``repr``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from flosspay.railapi import Money

ENV_PREFIX = "FLOSSPAY_UPI_"
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_AMOUNT = "100000.00"  # NPCI's general per-transaction UPI limit, in rupees
INR_EXPONENT = 2
_MAX_RUPEES = Decimal(10) ** 13  # far above any UPI limit; keeps paise inside 64 bits


class UpiSettingsError(ValueError):
    """The settings cannot be used; the message is one line naming the variable."""


@dataclass(frozen=True, slots=True)
class UpiSettings:
    """What the rail needs to reach its PSP and enforce UPI's limits."""

    psp_url: str
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    max_amount: Money = field(default_factory=lambda: Money(10_000_000, "INR"))
    api_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> UpiSettings:
        psp_url = _psp_url(settings.get("psp_url"))
        timeout = _positive_seconds("timeout", settings.get("timeout"), DEFAULT_TIMEOUT_SECONDS)
        max_amount = _rupees("max_amount", settings.get("max_amount", DEFAULT_MAX_AMOUNT))
        api_key = settings.get("api_key") or None
        if api_key is not None and (api_key != api_key.strip() or any(ord(c) < 32 for c in api_key)):
            raise UpiSettingsError(f"{ENV_PREFIX}API_KEY must not contain spaces or control characters")
        return cls(psp_url=psp_url, timeout_seconds=timeout, max_amount=max_amount, api_key=api_key)


def _psp_url(value: str | None) -> str:
    if not value:
        raise UpiSettingsError(f"{ENV_PREFIX}PSP_URL is required (the PSP's base URL, e.g. https://psp.example/)")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpiSettingsError(f"{ENV_PREFIX}PSP_URL must be an http(s) URL with a host, got {value!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise UpiSettingsError(f"{ENV_PREFIX}PSP_URL must not carry credentials, a query or a fragment")
    return value.rstrip("/")


def _positive_seconds(key: str, value: str | None, default: float) -> float:
    """A positive, finite number of seconds (``"2"``, ``"0.5"``)."""
    if value is None or value == "":
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise UpiSettingsError(f"{ENV_PREFIX}{key.upper()} must be a positive number of seconds, got {value!r}")
    return seconds


def _rupees(key: str, value: str) -> Money:
    """A positive rupee amount with at most two decimals, as exact paise."""
    message = f"{ENV_PREFIX}{key.upper()} must be a positive rupee amount such as 100000.00, got {value!r}"
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise UpiSettingsError(message) from None
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or not isinstance(exponent, int) or -exponent > INR_EXPONENT:
        raise UpiSettingsError(message)
    if not 0 < amount < _MAX_RUPEES:
        raise UpiSettingsError(message)
    return Money(int(amount.scaleb(INR_EXPONENT)), "INR")
