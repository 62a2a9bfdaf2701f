"""Timeouts are honoured and transport failures come back as outcomes, never as exceptions."""

from __future__ import annotations

from collections.abc import Callable

from flosspay.railapi import Outcome, Rail, RailResult
from flosspay_conformance.driver import RailDriver, timed
from flosspay_conformance.marks import requires

NO_ANSWER = (Outcome.TRANSIENT, Outcome.UNCERTAIN)


def _deadline(rail_driver: RailDriver) -> float:
    return rail_driver.scenarios.timeout_seconds + rail_driver.scenarios.timeout_margin_seconds


def _gives_up_in_time(rail_driver: RailDriver, operation: str, call: Callable[[], RailResult]) -> None:
    """A call to a PSP that never answers returns within the rail's timeout, as a no-answer outcome."""
    result, took = timed(call)
    assert took <= _deadline(rail_driver), f"{operation} took {took:.2f}s; the rail's timeout is not honoured"
    assert result.outcome in NO_ANSWER, f"no answer must be TRANSIENT or UNCERTAIN, got {result}"


def test_execute_against_a_silent_psp_returns_within_the_timeout(
    rail_driver: RailDriver, make_rail: Callable[[str], Rail], black_hole_url: str
) -> None:
    request = rail_driver.request("valid")
    silent = make_rail(black_hole_url)
    _gives_up_in_time(rail_driver, "execute", lambda: rail_driver.execute(request, rail=silent))


@requires("status_query")
def test_status_against_a_silent_psp_returns_within_the_timeout(
    rail_driver: RailDriver, make_rail: Callable[[str], Rail], black_hole_url: str
) -> None:
    request = rail_driver.request("valid")
    silent = make_rail(black_hole_url)
    _gives_up_in_time(rail_driver, "status", lambda: rail_driver.status(request, rail=silent))


@requires("refunds")
def test_refund_against_a_silent_psp_returns_within_the_timeout(
    rail_driver: RailDriver, make_rail: Callable[[str], Rail], black_hole_url: str
) -> None:
    request = rail_driver.request("valid")
    silent = make_rail(black_hole_url)
    _gives_up_in_time(
        rail_driver, "refund", lambda: rail_driver.refund(request, request.amount, "refund-silent", rail=silent)
    )


def test_unreachable_psp_is_transient(
    rail_driver: RailDriver, make_rail: Callable[[str], Rail], closed_port_url: str
) -> None:
    request = rail_driver.request("valid")
    unreachable = make_rail(closed_port_url)
    result, took = timed(lambda: rail_driver.execute(request, rail=unreachable))
    assert took <= _deadline(rail_driver)
    assert result.outcome is Outcome.TRANSIENT, f"a refused connection sent nothing: TRANSIENT, got {result}"


@requires("status_query")
def test_slow_psp_is_uncertain_then_settled_without_a_second_charge(rail_driver: RailDriver) -> None:
    request = rail_driver.request("slow")
    result, took = timed(lambda: rail_driver.execute(request))
    assert took <= _deadline(rail_driver), f"execute took {took:.2f}s; the rail's timeout is not honoured"
    assert result.outcome is Outcome.UNCERTAIN, f"a request sent but unanswered may have happened: {result}"
    settled = rail_driver.settle(request)
    assert settled.outcome is Outcome.COMPLETED, f"the slow scenario completes at the PSP; status said {settled}"
    again = rail_driver.execute(request)
    assert again.outcome is Outcome.COMPLETED, f"a repeated execute must report the recorded result: {again}"
    charged = rail_driver.scenarios.charged_minor(rail_driver.psp_url, request)
    assert charged in (None, request.amount.minor), "the slow payment must be charged exactly once"
