"""The pluggy entry point (group ``flosspay.rails``): FlossPay asks this module for the wallet rail and sandbox."""

from __future__ import annotations

from flosspay.railapi import Rail, RailSettings, Sandbox, hookimpl


@hookimpl
def flosspay_rail(settings: RailSettings) -> Rail:
    """The wallet rail; raises a one-line ``WalletSettingsError`` naming the bad ``FLOSSPAY_WALLET_*`` variable."""
    from flosspay_wallet.rail import WalletRail
    from flosspay_wallet.settings import WalletSettings

    return WalletRail(WalletSettings.from_mapping(settings))


@hookimpl
def flosspay_sandbox(settings: RailSettings) -> Sandbox:
    """The sandbox PSP ``flosspay serve`` runs on loopback when no real wallet provider is configured."""
    from flosspay_wallet.sandbox import WalletSandbox

    return WalletSandbox(settings)
