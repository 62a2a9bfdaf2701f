"""The sandbox bank gateway's rules, without HTTP: once per reference, the customer's answer, expiry."""

from __future__ import annotations

from typing import Any

import pytest
from flosspay_netbanking.gateway import BankGateway
from flosspay_netbanking.rail import _payment_result

from flosspay.railapi import Outcome, PspAnswer

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def gateway(clock: Clock) -> BankGateway:
    made = BankGateway(slow_seconds=1, auto_seconds=2, expiry_seconds=60, clock=clock)
    made.page_base = "http://bank.test"
    return made


def pay(gw: BankGateway, bank: str = "SBIN", reference: str = "p-1", minor: int = 5_000) -> Any:
    body = {"reference": reference, "bank": bank, "amountMinor": minor, "currency": "INR"}
    return gw.pay(body | {"returnUrl": "https://shop.example/back"})


def result(reply: Any) -> Any:
    return _payment_result(PspAnswer(reply.status, reply.body), on_status_query=True)


def test_a_real_bank_waits_for_the_customer_then_expires_unanswered() -> None:
    clock = Clock()
    gw = gateway(clock)
    first = result(pay(gw))
    assert first.outcome is Outcome.ACTION_REQUIRED and first.next_action is not None
    assert first.next_action.url.startswith("http://bank.test/bank/")
    clock.now += 59
    assert result(gw.lookup("p-1")).outcome is Outcome.ACTION_REQUIRED
    clock.now += 1
    expired = result(gw.lookup("p-1"))
    assert (expired.outcome, expired.code, expired.next_action) == (Outcome.EXPIRED, "SESSION_EXPIRED", None)
    session = first.next_action.url.rsplit("/", 1)[1]
    assert "expired" in str(gw.page(session).body)
    assert gw.answer(session, {"decision": "approve"}).status == 303  # too late: back to the shop, still expired
    assert result(gw.lookup("p-1")).outcome is Outcome.EXPIRED
    assert gw.captured("p-1").body["capturedMinor"] == 0


def test_one_payment_per_reference_and_an_approval_takes_money_once() -> None:
    gw = gateway(Clock())
    first = result(pay(gw))
    assert result(pay(gw)).next_action == first.next_action
    assert pay(gw, minor=6_000).status == 409
    session = first.next_action.url.rsplit("/", 1)[1]
    assert gw.answer(session, {"decision": "maybe"}).status == 400
    assert gw.answer(session, {"decision": "approve"}).headers[0][1].startswith("https://shop.example/back?")
    assert gw.answer(session, {"decision": "decline"}).status == 303  # a second click changes nothing
    assert result(gw.lookup("p-1")).outcome is Outcome.COMPLETED
    assert gw.captured("p-1").body["capturedMinor"] == 5_000


def test_unknown_pages_and_payments() -> None:
    gw = gateway(Clock())
    assert gw.page("nope").status == 404 and gw.answer("nope", {}).status == 404
    assert result(gw.lookup("nope")).outcome is Outcome.NOT_FOUND
    assert gw.pay({"reference": "r", "bank": "hdfc"}).status == 400


def test_the_customers_decline_is_the_payers_and_the_banks_is_a_refusal() -> None:
    """Decline on the bank's page ends the payment DECLINED (PAYER_DECLINED); a bank's refusal ends it FAILED."""
    gw = gateway(Clock())
    session = result(pay(gw)).next_action.url.rsplit("/", 1)[1]
    assert gw.answer(session, {"decision": "decline"}).status == 303
    declined = result(gw.lookup("p-1"))
    assert (declined.outcome, declined.code) == (Outcome.PAYER_DECLINED, "CUSTOMER_DECLINED")
    refused = result(pay(gw, bank="XDEC", reference="p-2"))
    assert (refused.outcome, refused.code) == (Outcome.DECLINED, "BANK_DECLINED")
