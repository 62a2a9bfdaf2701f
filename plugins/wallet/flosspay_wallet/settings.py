"""The wallet rail's settings, parsed once at start-up from ``FLOSSPAY_WALLET_<KEY>`` values.

Each problem is one line naming the variable; the API key is never echoed (nor shown by repr).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flosspay.railapi import CURRENCY_EXPONENTS

ENV_PREFIX = "FLOSSPAY_WALLET_"
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_SECONDS = 300.0
DEFAULT_PROVIDERS = frozenset({"paytm", "phonepe", "amazonpay", "mobikwik"})
SANDBOX_API_KEY = "sk_test_flosspay_wallet_sandbox"
"""The key the sandbox expects unless ``FLOSSPAY_WALLET_API_KEY`` says otherwise (a test key, not a secret)."""
_PROVIDER = re.compile(r"[a-z][a-z0-9_-]{1,31}")


class WalletSettingsError(ValueError):
    """The settings cannot be used; the message is one line naming the variable."""


@dataclass(frozen=True, slots=True)
class WalletSettings:
    psp_url: str
    api_key: str = field(default=SANDBOX_API_KEY, repr=False)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    providers: frozenset[str] = DEFAULT_PROVIDERS
    currencies: frozenset[str] = frozenset({"INR"})

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> WalletSettings:
        return cls(
            psp_url=_psp_url(settings.get("psp_url")),
            api_key=_api_key(settings.get("api_key")),
            timeout_seconds=seconds("timeout_seconds", settings.get("timeout_seconds"), DEFAULT_TIMEOUT_SECONDS),
            providers=_providers(settings.get("providers")),
            currencies=_currencies(settings.get("currencies")),
        )


def _psp_url(value: str | None) -> str:
    if not value:
        raise WalletSettingsError(f"{ENV_PREFIX}PSP_URL is required (the wallet provider's base URL)")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WalletSettingsError(f"{ENV_PREFIX}PSP_URL must be an http(s) URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise WalletSettingsError(f"{ENV_PREFIX}PSP_URL must not carry credentials, a query or a fragment")
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
    if not math.isfinite(number) or not low_ok or number > MAX_SECONDS:
        raise WalletSettingsError(f"{ENV_PREFIX}{key.upper()} must be a number of seconds up to 300, got {value!r}")
    return number


def _api_key(value: str | None) -> str:
    if value is None or value == "":
        return SANDBOX_API_KEY
    if value != value.strip() or not value.isprintable():
        raise WalletSettingsError(f"{ENV_PREFIX}API_KEY must not contain spaces or control characters")
    return value


def _providers(value: str | None) -> frozenset[str]:
    if value is None or value.strip() == "":
        return DEFAULT_PROVIDERS
    names = {name.strip().lower() for name in value.split(",") if name.strip()}
    bad = sorted(n for n in names if not _PROVIDER.fullmatch(n))
    if bad or not names:
        raise WalletSettingsError(f"{ENV_PREFIX}PROVIDERS must be comma-separated lower-case names, got {bad}")
    return frozenset(names)


def _currencies(value: str | None) -> frozenset[str]:
    if value is None or value.strip() == "":
        return frozenset({"INR"})
    codes = {code.strip().upper() for code in value.split(",") if code.strip()}
    unknown = sorted(codes - set(CURRENCY_EXPONENTS))
    if unknown or not codes:
        raise WalletSettingsError(f"{ENV_PREFIX}CURRENCIES lists unknown currencies {unknown}")
    return frozenset(codes)
