"""The net banking rail's settings, parsed once at start-up from ``FLOSSPAY_NETBANKING_<KEY>`` values.

Each problem is one line naming the variable; the API key is never echoed (nor shown by repr).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from flosspay_netbanking.banks import BANKS

from flosspay.railapi import RailSettingsError, SettingsReader

DEFAULT_TIMEOUT_SECONDS = 10.0
SANDBOX_API_KEY = "sk_test_flosspay_netbanking_sandbox"
"""The key the sandbox expects unless ``FLOSSPAY_NETBANKING_API_KEY`` says otherwise (a test key, not a secret)."""
_CODE = re.compile(r"[A-Z]{4}")


class NetbankingSettingsError(RailSettingsError):
    """The settings cannot be used; the message is one line naming the variable."""


def reader(settings: Mapping[str, str]) -> SettingsReader:
    """Reads ``FLOSSPAY_NETBANKING_*`` settings, raising ``NetbankingSettingsError``."""
    return SettingsReader(settings, rail="netbanking", error=NetbankingSettingsError)


@dataclass(frozen=True, slots=True)
class NetbankingSettings:
    psp_url: str
    api_key: str = field(default=SANDBOX_API_KEY, repr=False)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    banks: frozenset[str] = frozenset(BANKS)
    currencies: frozenset[str] = frozenset({"INR"})

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> NetbankingSettings:
        read = reader(settings)
        return cls(
            psp_url=read.psp_url(what="the bank gateway's base URL"),
            api_key=read.secret("api_key", default=SANDBOX_API_KEY),
            timeout_seconds=read.seconds("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
            banks=_banks(read),
            currencies=read.currencies(default={"INR"}),
        )


def _banks(read: SettingsReader) -> frozenset[str]:
    value = read.raw("banks")
    if value is None or not value.strip():
        return frozenset(BANKS)
    codes = {code.strip().upper() for code in value.split(",") if code.strip()}
    bad = sorted(code for code in codes if not _CODE.fullmatch(code))
    if bad or not codes:
        read.fail("banks", f"must be comma-separated four-letter bank codes, got {bad}")
    return frozenset(codes)
