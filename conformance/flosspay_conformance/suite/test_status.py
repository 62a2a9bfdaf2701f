"""``status`` by reference agrees with what ``execute`` did, and knows nothing of unknown references."""

from __future__ import annotations

from flosspay.railapi import Outcome
from flosspay_conformance.driver import FINAL, RailDriver
from flosspay_conformance.marks import requires


@requires("status_query")
def test_status_agrees_with_a_completed_execute(rail_driver: RailDriver) -> None:
    request = rail_driver.request("valid")
    executed = rail_driver.execute(request)
    status = rail_driver.status(request)
    assert executed.outcome is Outcome.COMPLETED
    assert status.outcome is Outcome.COMPLETED, f"status disagrees with execute: {status}"
    if executed.rail_reference and status.rail_reference:
        assert executed.rail_reference == status.rail_reference


@requires("status_query")
def test_status_agrees_with_a_declined_execute(rail_driver: RailDriver) -> None:
    request = rail_driver.request("declined")
    executed = rail_driver.execute(request)
    status = rail_driver.status(request)
    assert executed.outcome is Outcome.DECLINED
    assert (status.outcome, status.code) == (executed.outcome, executed.code), f"status disagrees: {status}"


@requires("status_query")
def test_status_of_an_unknown_reference_is_not_found(rail_driver: RailDriver) -> None:
    status = rail_driver.status(rail_driver.request("valid"))
    assert status.outcome is Outcome.NOT_FOUND, f"nothing was executed for this reference, got {status}"


@requires("status_query")
def test_status_after_a_transient_failure_finds_nothing(rail_driver: RailDriver) -> None:
    request = rail_driver.request("transient")
    assert rail_driver.execute(request).outcome is Outcome.TRANSIENT
    status = rail_driver.status(request)
    assert status.outcome in (Outcome.NOT_FOUND, Outcome.TRANSIENT), f"TRANSIENT means nothing happened: {status}"


@requires("status_query")
def test_uncertain_answer_is_settled_by_status(rail_driver: RailDriver) -> None:
    request = rail_driver.request("uncertain")
    executed = rail_driver.execute(request)
    assert executed.outcome is Outcome.UNCERTAIN, f"the uncertain scenario must be UNCERTAIN, got {executed}"
    settled = rail_driver.settle(request)
    assert settled.outcome in FINAL, f"status must settle within {rail_driver.scenarios.settle_seconds}s: {settled}"
    rail_driver.execute(request)  # FlossPay may retry; the PSP must not act twice
    charged = rail_driver.scenarios.charged_minor(rail_driver.psp_url, request)
    expected = request.amount.minor if settled.outcome is Outcome.COMPLETED else 0
    assert charged in (None, expected), f"charged {charged}, expected {expected} after {settled.outcome}"
