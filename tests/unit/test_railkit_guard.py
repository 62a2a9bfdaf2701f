"""never_raises: a rail's slip becomes an UNCERTAIN outcome naming only the exception's class."""

from __future__ import annotations

import logging

import pytest

from flosspay.railapi import Flow, Money, Outcome, RailRequest, RailResult, RefundResult
from flosspay.railkit import never_raises

pytestmark = pytest.mark.unit

SECRET = "4111111111111111"
REQUEST = RailRequest("pay-1", Flow.PAY, Money(100, "INR"), {})


class SlippingRail:
    """Fails in every way a rail can; ``fail`` picks the exception."""

    def __init__(self, fail: BaseException | None) -> None:
        self.fail = fail

    @never_raises(RailResult, rail="demo")
    def execute(self, request: RailRequest) -> RailResult:
        """Charge the demo account."""
        if self.fail is not None:
            raise self.fail
        return RailResult(Outcome.COMPLETED, "00", "paid", request.reference)

    @never_raises(RefundResult, rail="demo")
    def refund(self, request: RailRequest, amount: Money, refund_reference: str) -> RefundResult:
        if self.fail is not None:
            raise self.fail
        return RefundResult(Outcome.COMPLETED, "00")


def test_answers_pass_through_untouched() -> None:
    rail = SlippingRail(None)
    assert rail.execute(REQUEST) == RailResult(Outcome.COMPLETED, "00", "paid", "pay-1")
    assert rail.refund(REQUEST, Money(1, "INR"), "rf") == RefundResult(Outcome.COMPLETED, "00")


@pytest.mark.parametrize("error", [KeyError(SECRET), ValueError(f"bad card {SECRET}"), RuntimeError()])
def test_an_exception_becomes_uncertain_rail_error_without_its_text(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    rail = SlippingRail(error)
    with caplog.at_level(logging.DEBUG):
        result = rail.execute(REQUEST)
        refund = rail.refund(REQUEST, Money(1, "INR"), "rf")
    name = type(error).__name__
    assert result == RailResult(Outcome.UNCERTAIN, "RAIL_ERROR", f"demo rail error ({name})")
    assert refund == RefundResult(Outcome.UNCERTAIN, "RAIL_ERROR", f"demo rail error ({name})")
    assert type(refund) is RefundResult
    assert [r.getMessage() for r in caplog.records] == [
        f"demo rail: execute failed ({name}); answered UNCERTAIN",
        f"demo rail: refund failed ({name}); answered UNCERTAIN",
    ]
    assert all(r.exc_info is None for r in caplog.records)
    assert SECRET not in repr(result) + repr(refund) + caplog.text


def test_the_method_keeps_its_name_and_doc() -> None:
    assert SlippingRail.execute.__name__ == "execute"
    assert SlippingRail.execute.__doc__ == "Charge the demo account."


def test_what_is_not_an_exception_still_propagates() -> None:
    rail = SlippingRail(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        rail.execute(REQUEST)
