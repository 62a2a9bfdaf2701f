"""The pluggy entry point (group ``flosspay.rails``): FlossPay asks this module for the card rail and sandbox."""

from __future__ import annotations

from flosspay.railapi import Rail, RailSettings, Sandbox, hookimpl


@hookimpl
def flosspay_rail(settings: RailSettings) -> Rail:
    """The card rail; raises a one-line ``CardSettingsError`` naming the bad ``FLOSSPAY_CARD_*`` variable."""
    from flosspay_card.rail import CardRail
    from flosspay_card.settings import CardSettings

    return CardRail(CardSettings.from_mapping(settings))


@hookimpl
def flosspay_sandbox(settings: RailSettings) -> Sandbox:
    """The sandbox PSP ``flosspay serve`` runs on loopback when no real card PSP is configured."""
    from flosspay_card.sandbox import CardSandbox

    return CardSandbox(settings)
