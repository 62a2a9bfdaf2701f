"""The wallet fields of a payment request, as merchants send them (camelCase JSON)."""

from __future__ import annotations

import msgspec


class WalletDetails(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """``{"provider": "paytm", "walletId": "9876543210"}``; ``WalletRail.prepare`` checks the rules."""

    provider: str
    wallet_id: str


class WalletFields(msgspec.Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """The request body's rail part: ``{"wallet": {...}}``."""

    wallet: WalletDetails


class WalletSummary(msgspec.Struct, rename="camel", frozen=True):
    provider: str


class WalletPublic(msgspec.Struct, rename="camel", frozen=True):
    """``{"wallet": {"provider": "paytm"}}`` on the accepted payment and its status (never the wallet id)."""

    wallet: WalletSummary
