"""The card rail against its sandbox over HTTP, and how it maps every kind of PSP answer."""

from __future__ import annotations

import logging
import uuid

import msgspec
import pytest
from flosspay_card import testcards
from flosspay_card.fields import CardFields
from flosspay_card.rail import CardRail, _charge_result, _refund_result
from flosspay_card.settings import CardSettings

from flosspay.railapi import Flow, Money, Outcome, PspAnswer, RailRequest

from .conftest import card

pytestmark = pytest.mark.integration

INR = Money(12_000, "INR")


def request_for(rail: CardRail, number: str = "4111111111111111", amount: Money = INR) -> RailRequest:
    prepared = rail.prepare(msgspec.convert(card(number), CardFields), amount, Flow.PAY)
    return RailRequest(str(uuid.uuid4()), Flow.PAY, amount, prepared.details)


def test_pay_status_and_refund_through_the_sandbox(card_rail: CardRail) -> None:
    request = request_for(card_rail)
    paid = card_rail.execute(request)
    assert (paid.outcome, paid.code) == (Outcome.COMPLETED, "00")
    assert paid.rail_reference is not None and paid.rail_reference.startswith("ch_")
    assert card_rail.status(request).rail_reference == paid.rail_reference
    assert card_rail.refund(request, Money(2_000, "INR"), "r-1").outcome is Outcome.COMPLETED
    assert card_rail.refund(request, INR, "r-2").code == "exceeds_amount"


@pytest.mark.parametrize(("number", "code"), [(testcards.DECLINED, "05"), (testcards.INSUFFICIENT_FUNDS, "51")])
def test_declines_carry_the_psp_code(card_rail: CardRail, number: str, code: str) -> None:
    result = card_rail.execute(request_for(card_rail, number))
    assert (result.outcome, result.code) == (Outcome.DECLINED, code)


def test_three_d_secure_asks_for_action(card_rail: CardRail) -> None:
    result = card_rail.execute(request_for(card_rail, testcards.THREE_D_SECURE))
    assert (result.outcome, result.code) == (Outcome.ACTION_REQUIRED, "3DS")


def test_a_wrong_api_key_changes_nothing_and_is_transient(card_rail: CardRail, card_sandbox_url: str) -> None:
    request = request_for(card_rail)
    wrong = CardRail(CardSettings(psp_url=card_sandbox_url, api_key="sk_test_wrong", timeout_seconds=2))
    result = wrong.execute(request)
    wrong.close()
    assert (result.outcome, result.code) == (Outcome.TRANSIENT, "PSP_AUTH")
    assert card_rail.status(request).outcome is Outcome.NOT_FOUND


def test_requests_without_a_token_are_declined_without_a_call(card_rail: CardRail) -> None:
    result = card_rail.execute(RailRequest("ref-1", Flow.PAY, INR, {"scheme": "visa"}))
    assert (result.outcome, result.code) == (Outcome.DECLINED, "INVALID_DETAILS")


@pytest.mark.parametrize(
    ("minor", "currency", "reference", "code"),
    [
        (12_001, "INR", "r", "EXCEEDS_AMOUNT"),
        (0, "INR", "r", "INVALID_AMOUNT"),
        (1, "USD", "r", "CURRENCY_MISMATCH"),
        (1, "INR", "", "INVALID_REFERENCE"),
    ],
)
def test_impossible_refunds_are_refused_locally(minor: int, currency: str, reference: str, code: str) -> None:
    rail = CardRail(CardSettings(psp_url="http://127.0.0.1:9"))
    result = rail.refund(RailRequest("p", Flow.PAY, INR, {"pan_token": "t"}), Money(minor, currency), reference)
    assert (result.outcome, result.code) == (Outcome.DECLINED, code)


def test_logs_name_the_reference_and_outcome_but_no_card_data(
    card_rail: CardRail, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flosspay_card")
    request = request_for(card_rail)
    card_rail.execute(request)
    text = caplog.text
    assert request.reference in text and "COMPLETED" in text
    assert "4111111111111111" not in text and request.details["pan_token"] not in text


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {"status": "succeeded", "code": "00"}, Outcome.COMPLETED),
        (200, {"status": "processing"}, Outcome.UNCERTAIN),
        (200, {}, Outcome.UNCERTAIN),
        (409, {"code": "reference_reused"}, Outcome.DECLINED),
        (422, {}, Outcome.DECLINED),
        (401, {}, Outcome.TRANSIENT),
        (404, {}, Outcome.TRANSIENT),
        (429, {}, Outcome.TRANSIENT),
        (503, {}, Outcome.TRANSIENT),
        (500, {}, Outcome.UNCERTAIN),
        (502, {}, Outcome.UNCERTAIN),
        (504, {}, Outcome.UNCERTAIN),
    ],
)
def test_charge_answers_map_to_outcomes(status: int, body: dict[str, str], outcome: Outcome) -> None:
    assert _charge_result(PspAnswer(status, body), on_status_query=False).outcome is outcome


def test_not_found_means_unknown_only_on_a_status_query() -> None:
    answer = PspAnswer(404, {"code": "not_found"})
    assert _charge_result(answer, on_status_query=True).outcome is Outcome.NOT_FOUND
    assert _charge_result(answer, on_status_query=False).outcome is Outcome.TRANSIENT


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {"status": "succeeded"}, Outcome.COMPLETED),
        (200, {"status": "declined", "code": "exceeds_amount"}, Outcome.DECLINED),
        (200, {"status": "??"}, Outcome.UNCERTAIN),
        (404, {"code": "not_found"}, Outcome.NOT_FOUND),
        (503, {}, Outcome.TRANSIENT),
        (500, {}, Outcome.UNCERTAIN),
    ],
)
def test_refund_answers_map_to_outcomes(status: int, body: dict[str, str], outcome: Outcome) -> None:
    assert _refund_result(PspAnswer(status, body)).outcome is outcome
