"""Refunds: idempotent by refund reference, and never more than the payment's amount in total."""

from __future__ import annotations

import uuid

from flosspay.railapi import Money, Outcome, RailRequest
from flosspay_conformance.driver import RailDriver
from flosspay_conformance.marks import requires

REFUSED = (Outcome.DECLINED, Outcome.NOT_FOUND)


def _completed(rail_driver: RailDriver) -> RailRequest:
    request = rail_driver.request("valid")
    result = rail_driver.execute(request)
    assert result.outcome is Outcome.COMPLETED, f"the valid scenario must complete before a refund: {result}"
    return request


def _ref() -> str:
    return f"refund-{uuid.uuid4().hex[:16]}"


def _minor(request: RailRequest, minor: int) -> Money:
    return Money(minor, request.amount.currency)


@requires("refunds")
def test_full_refund_completes_once(rail_driver: RailDriver) -> None:
    request = _completed(rail_driver)
    reference = _ref()
    first = rail_driver.refund(request, request.amount, reference)
    assert first.outcome is Outcome.COMPLETED, f"a full refund of a completed payment must complete: {first}"
    again = rail_driver.refund(request, request.amount, reference)
    assert again.outcome is Outcome.COMPLETED, "a refund is idempotent by its refund reference"
    more = rail_driver.refund(request, _minor(request, 1), _ref())
    assert more.outcome is Outcome.DECLINED, f"refunds beyond the amount must be DECLINED, got {more}"


@requires("refunds")
def test_refund_above_the_amount_is_declined(rail_driver: RailDriver) -> None:
    request = _completed(rail_driver)
    over = rail_driver.refund(request, _minor(request, request.amount.minor + 1), _ref())
    assert over.outcome is Outcome.DECLINED, f"a refund above the amount must be DECLINED, got {over}"
    full = rail_driver.refund(request, request.amount, _ref())
    assert full.outcome is Outcome.COMPLETED, "a refused over-refund must not use up the refundable amount"


@requires("refunds", "partial_refunds")
def test_partial_refunds_add_up_to_at_most_the_amount(rail_driver: RailDriver) -> None:
    request = _completed(rail_driver)
    part = request.amount.minor // 4
    first_ref = _ref()
    assert rail_driver.refund(request, _minor(request, part), first_ref).outcome is Outcome.COMPLETED
    assert rail_driver.refund(request, _minor(request, part), first_ref).outcome is Outcome.COMPLETED
    rest = rail_driver.refund(request, _minor(request, request.amount.minor - part), _ref())
    assert rest.outcome is Outcome.COMPLETED, f"a repeated refund reference must count once: {rest}"
    beyond = rail_driver.refund(request, _minor(request, 1), _ref())
    assert beyond.outcome is Outcome.DECLINED, f"refunds beyond the amount must be DECLINED, got {beyond}"


@requires("refunds")
def test_refund_of_a_declined_payment_is_refused(rail_driver: RailDriver) -> None:
    request = rail_driver.request("declined")
    assert rail_driver.execute(request).outcome is Outcome.DECLINED
    refund = rail_driver.refund(request, request.amount, _ref())
    assert refund.outcome in REFUSED, f"nothing was paid, so nothing may be refunded: {refund}"


@requires("refunds")
def test_refund_of_an_unknown_payment_is_refused(rail_driver: RailDriver) -> None:
    request = rail_driver.request("valid")
    refund = rail_driver.refund(request, request.amount, _ref())
    assert refund.outcome in REFUSED, f"nothing was paid, so nothing may be refunded: {refund}"
