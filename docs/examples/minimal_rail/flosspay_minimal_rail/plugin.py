"""The entry point module: FlossPay calls these hooks to get the rail and its sandbox."""

from __future__ import annotations

from flosspay.railapi import Rail, RailSettings, Sandbox, hookimpl


@hookimpl
def flosspay_rail(settings: RailSettings) -> Rail:
    from flosspay_minimal_rail.rail import MinimalRail

    return MinimalRail.from_settings(settings)


@hookimpl
def flosspay_sandbox(settings: RailSettings) -> Sandbox:
    from flosspay_minimal_rail.sandbox import MinimalSandbox

    return MinimalSandbox(settings)
