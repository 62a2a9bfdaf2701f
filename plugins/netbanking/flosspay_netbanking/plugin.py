"""The pluggy entry point (group ``flosspay.rails``): FlossPay asks this module for the net banking rail and sandbox."""

from __future__ import annotations

from flosspay.railapi import Rail, RailSettings, Sandbox, hookimpl


@hookimpl
def flosspay_rail(settings: RailSettings) -> Rail:
    """The net banking rail; raises a one-line ``NetbankingSettingsError`` naming the bad variable."""
    from flosspay_netbanking.rail import NetbankingRail
    from flosspay_netbanking.settings import NetbankingSettings

    return NetbankingRail(NetbankingSettings.from_mapping(settings))


@hookimpl
def flosspay_sandbox(settings: RailSettings) -> Sandbox:
    """The sandbox bank gateway ``flosspay serve`` runs on loopback when no real gateway is configured."""
    from flosspay_netbanking.sandbox import NetbankingSandbox

    return NetbankingSandbox(settings)
