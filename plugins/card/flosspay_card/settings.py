"""The card rail's settings, parsed once at start-up from ``FLOSSPAY_CARD_<KEY>`` values.

Each problem is one line naming the variable; the API key is never echoed (nor shown by repr).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flosspay.railapi import CURRENCY_EXPONENTS

ENV_PREFIX = "FLOSSPAY_CARD_"
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 300.0
SANDBOX_API_KEY = "sk_test_flosspay_card_sandbox"
"""The key the sandbox expects unless ``FLOSSPAY_CARD_API_KEY`` says otherwise (a test key, not a secret)."""


class CardSettingsError(ValueError):
    """The settings cannot be used; the message is one line naming the variable."""


@dataclass(frozen=True, slots=True)
class CardSettings:
    psp_url: str
    api_key: str = field(default=SANDBOX_API_KEY, repr=False)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    currencies: frozenset[str] = field(default_factory=lambda: frozenset(CURRENCY_EXPONENTS))

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> CardSettings:
        return cls(
            psp_url=psp_url(settings.get("psp_url")),
            api_key=_api_key(settings.get("api_key")),
            timeout_seconds=seconds("timeout_seconds", settings.get("timeout_seconds"), DEFAULT_TIMEOUT_SECONDS),
            currencies=_currencies(settings.get("currencies")),
        )


def psp_url(value: str | None) -> str:
    if not value:
        raise CardSettingsError(f"{ENV_PREFIX}PSP_URL is required (the card PSP's base URL)")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CardSettingsError(f"{ENV_PREFIX}PSP_URL must be an http(s) URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise CardSettingsError(f"{ENV_PREFIX}PSP_URL must not carry credentials, a query or a fragment")
    return value.rstrip("/")


def seconds(key: str, value: str | None, default: float, *, allow_zero: bool = False) -> float:
    """A finite number of seconds within (0, 300], or >= 0 when ``allow_zero``."""
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    low_ok = number >= 0 if allow_zero else number > 0
    if not math.isfinite(number) or not low_ok or number > MAX_TIMEOUT_SECONDS:
        raise CardSettingsError(f"{ENV_PREFIX}{key.upper()} must be a number of seconds up to 300, got {value!r}")
    return number


def _api_key(value: str | None) -> str:
    if value is None or value == "":
        return SANDBOX_API_KEY
    if value != value.strip() or not value.isprintable():
        raise CardSettingsError(f"{ENV_PREFIX}API_KEY must not contain spaces or control characters")
    return value


def _currencies(value: str | None) -> frozenset[str]:
    if value is None or value.strip() == "":
        return frozenset(CURRENCY_EXPONENTS)
    codes = {code.strip().upper() for code in value.split(",") if code.strip()}
    unknown = sorted(codes - set(CURRENCY_EXPONENTS))
    if unknown or not codes:
        raise CardSettingsError(f"{ENV_PREFIX}CURRENCIES lists unknown currencies {unknown}")
    return frozenset(codes)
