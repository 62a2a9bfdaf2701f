"""The pluggy entry point (group ``flosspay.rails``): FlossPay asks this module for the UPI rail and sandbox."""

from __future__ import annotations

from flosspay.railapi import Rail, RailSettings, Sandbox, hookimpl


@hookimpl
def flosspay_rail(settings: RailSettings) -> Rail:
    """The UPI rail; raises a one-line ``ValueError`` naming the bad ``FLOSSPAY_UPI_*`` variable."""
    from flosspay_upi.rail import UpiRail  # imported here so loading the plugin stays cheap

    return UpiRail(settings)


@hookimpl
def flosspay_sandbox(settings: RailSettings) -> Sandbox:
    """The sandbox PSP that ``flosspay serve`` runs on loopback when no real PSP is configured."""
    from flosspay_upi.sandbox import UpiSandbox

    return UpiSandbox(settings)
