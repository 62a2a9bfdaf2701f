"""The card rail's settings, parsed once at start-up from ``FLOSSPAY_CARD_<KEY>`` values.

Each problem is one line naming the variable; the API key is never echoed (nor shown by repr).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from flosspay.railapi import CURRENCY_EXPONENTS, RailSettingsError, SettingsReader

DEFAULT_TIMEOUT_SECONDS = 10.0
SANDBOX_API_KEY = "sk_test_flosspay_card_sandbox"
"""The key the sandbox expects unless ``FLOSSPAY_CARD_API_KEY`` says otherwise (a test key, not a secret)."""


class CardSettingsError(RailSettingsError):
    """The settings cannot be used; the message is one line naming the variable."""


def reader(settings: Mapping[str, str]) -> SettingsReader:
    """Reads ``FLOSSPAY_CARD_*`` settings, raising ``CardSettingsError``."""
    return SettingsReader(settings, rail="card", error=CardSettingsError)


@dataclass(frozen=True, slots=True)
class CardSettings:
    psp_url: str
    api_key: str = field(default=SANDBOX_API_KEY, repr=False)
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    currencies: frozenset[str] = field(default_factory=lambda: frozenset(CURRENCY_EXPONENTS))

    @classmethod
    def from_mapping(cls, settings: Mapping[str, str]) -> CardSettings:
        read = reader(settings)
        return cls(
            psp_url=read.psp_url(what="the card PSP's base URL"),
            api_key=read.secret("api_key", default=SANDBOX_API_KEY),
            timeout_seconds=read.seconds("timeout_seconds", DEFAULT_TIMEOUT_SECONDS),
            currencies=read.currencies(),
        )
