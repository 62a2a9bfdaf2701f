"""Optional flows: 3-D Secure (ACTION_REQUIRED) and COLLECT (PENDING) settle through ``status``."""

from __future__ import annotations

from flosspay.railapi import Flow, Outcome
from flosspay_conformance.driver import FINAL, RailDriver
from flosspay_conformance.marks import requires


@requires("three_d_secure", "status_query")
def test_action_required_is_resolved_by_status_and_charged_once(rail_driver: RailDriver) -> None:
    request = rail_driver.request("action_required")
    first = rail_driver.execute(request)
    assert first.outcome is Outcome.ACTION_REQUIRED, f"the action_required scenario must ask for action: {first}"
    again = rail_driver.execute(request)
    assert again.outcome in (Outcome.ACTION_REQUIRED, Outcome.COMPLETED), f"a repeat must not start over: {again}"
    settled = rail_driver.settle(request)
    assert settled.outcome is Outcome.COMPLETED, f"status must settle the customer's action: {settled}"
    charged = rail_driver.scenarios.charged_minor(rail_driver.psp_url, request)
    assert charged in (None, request.amount.minor), "a payment that needed action is charged once"


@requires("collect", "status_query")
def test_collect_waits_for_the_payer_then_settles_once(rail_driver: RailDriver) -> None:
    request = rail_driver.request("collect", flow=Flow.COLLECT)
    first = rail_driver.execute(request)
    assert first.outcome in (Outcome.PENDING, Outcome.COMPLETED), f"a collect request waits for the payer: {first}"
    again = rail_driver.execute(request)
    assert again.outcome in (Outcome.PENDING, Outcome.COMPLETED), f"a repeated collect must not start over: {again}"
    settled = rail_driver.settle(request)
    assert settled.outcome in FINAL, f"status must settle within {rail_driver.scenarios.settle_seconds}s: {settled}"
    charged = rail_driver.scenarios.charged_minor(rail_driver.psp_url, request)
    expected = request.amount.minor if settled.outcome is Outcome.COMPLETED else 0
    assert charged in (None, expected), f"charged {charged}, expected {expected}"
