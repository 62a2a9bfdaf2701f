"""Optional flows: 3-D Secure (ACTION_REQUIRED) and COLLECT (PENDING) settle through ``status``."""

from __future__ import annotations

import httpx

from flosspay.railapi import Flow, NextAction, Outcome, RailResult
from flosspay_conformance.driver import FINAL, RailDriver
from flosspay_conformance.marks import requires
from flosspay_conformance.requirements import RailRequirements


@requires("three_d_secure", "status_query")
def test_action_required_is_resolved_by_status_and_charged_once(
    rail_driver: RailDriver, rail_requirements: RailRequirements
) -> None:
    request = rail_driver.request("action_required")
    first = rail_driver.execute(request)
    assert first.outcome is Outcome.ACTION_REQUIRED, f"the action_required scenario must ask for action: {first}"
    _check_next_action(first, required=rail_requirements.next_action)
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


def _check_next_action(result: RailResult, *, required: bool) -> None:
    """A next action, when given, is a ``NextAction`` (its type and URL checked when it was made)."""
    action = result.next_action
    if action is None:
        assert not required, "requirements declare next_action, but ACTION_REQUIRED came without one"
        return
    assert isinstance(action, NextAction), f"next_action must be a NextAction, not {type(action).__name__}"
    assert action.type == "redirect" and action.url.startswith(("http://", "https://")), action


@requires("next_action", "three_d_secure")
def test_a_customer_action_is_a_redirect_that_answers(rail_driver: RailDriver) -> None:
    """The redirect of an ACTION_REQUIRED payment leads to a page that answers (the customer can act)."""
    first = rail_driver.execute(rail_driver.request("action_required"))
    assert first.outcome is Outcome.ACTION_REQUIRED and first.next_action is not None, first
    page = httpx.get(first.next_action.url, timeout=5)
    assert page.status_code == 200, f"the customer's page answered {page.status_code}"
    assert page.headers.get("content-type", "").startswith("text/html"), "the customer's page is HTML"
