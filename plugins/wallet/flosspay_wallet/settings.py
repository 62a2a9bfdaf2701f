"""The wallet rail's settings, parsed once at start-up from ``FLOSSPAY_WALLET_<KEY>`` values.

Each problem is one line naming the variable; the API key is never echoed (nor shown by repr).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from flosspay.railapi import RailSettingsError, SettingsReader

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_PROVIDERS = frozenset({"paytm", "phonepe", "amazonpay", "mobikwik"})
SANDBOX_API_KEY = "sk_test_flosspay_wallet_sandbox"
"""The key the sandbox expects unless ``FLOSSPAY_WALLET_API_KEY`` says otherwise (a test key, not a secret)."""
_PROVIDER = re.compile(r"[a-z][a-z0-9_-]{1,31}")


class WalletSettingsError(RailSettingsError):
    """The settings cannot be used; the message is one line naming the variable."""


def reader(settings: Mapping[str, str]) -> SettingsReader:
    """Reads ``FLOSSPAY_WALLET_*`` settings, raising ``WalletSettingsError``."""
    return SettingsReader(settings, rail="wallet", error=WalletSettingsError)


@dataclass(frozen=True, slots=True)
class WalletSettings:
    psp_url: str
    api_key: str = field(default=SANDBOX_API_KEY, repr=False)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    providers: frozenset[str] = DEFAULT_PROVIDERS
    currencies: frozenset[str] = frozenset({"INR"})

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> WalletSettings:
        read = reader(settings)
        return cls(
            psp_url=read.psp_url(what="the wallet provider's base URL"),
            api_key=read.secret("api_key", default=SANDBOX_API_KEY),
            timeout_seconds=read.seconds("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
            providers=_providers(read),
            currencies=read.currencies(default={"INR"}),
        )


def _providers(read: SettingsReader) -> frozenset[str]:
    value = read.raw("providers")
    if value is None or not value.strip():
        return DEFAULT_PROVIDERS
    names = {name.strip().lower() for name in value.split(",") if name.strip()}
    bad = sorted(n for n in names if not _PROVIDER.fullmatch(n))
    if bad or not names:
        read.fail("providers", f"must be comma-separated lower-case names, got {bad}")
    return frozenset(names)
