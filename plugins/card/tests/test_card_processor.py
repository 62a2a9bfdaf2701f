"""The sandbox card processor: vault, exactly-once charges, 3-D Secure, capped refunds (no HTTP)."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from typing import Any

import pytest
from flosspay_card import testcards
from flosspay_card.processor import CardProcessor, _VaultEntry

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def processor(clock: Clock) -> CardProcessor:
    return CardProcessor(three_ds_seconds=2.0, slow_seconds=1.5, clock=clock)


def tokenise(processor: CardProcessor, number: str = "4111111111111111", cvv: str = "737") -> str:
    answer = processor.tokenise({"number": number, "expiryMonth": 12, "expiryYear": 2031, "cvv": cvv})
    assert answer.status == 201, answer.body
    token: str = answer.body["token"]
    return token


def charge(processor: CardProcessor, token: str, reference: str = "pay-1", minor: int = 5_000) -> Any:
    return processor.charge({"reference": reference, "token": token, "amountMinor": minor, "currency": "INR"})


def refund(processor: CardProcessor, ref: str, minor: int, reference: str = "pay-1") -> Any:
    return processor.refund(reference, {"refundReference": ref, "amountMinor": minor, "currency": "INR"})


def captured(processor: CardProcessor, token: str) -> int:
    minor: int = processor.token_ledger(token).body["capturedMinor"]
    return minor


def test_the_vault_keeps_no_cvv() -> None:
    assert "cvv" not in {f.name for f in dataclass_fields(_VaultEntry)}


def test_tokens_are_opaque_and_different_per_tokenisation(processor: CardProcessor) -> None:
    first, second = tokenise(processor), tokenise(processor)
    assert first != second
    assert "4111" not in first


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"number": "4111111111111112", "expiryMonth": 1, "expiryYear": 2031, "cvv": "737"}, "number"),
        ({"number": "4111111111111111", "expiryMonth": 13, "expiryYear": 2031, "cvv": "737"}, "expiryMonth"),
        ({"number": "378282246310005", "expiryMonth": 1, "expiryYear": 2031, "cvv": "737"}, "cvv"),
        ({"number": testcards.WRONG_CVV, "expiryMonth": 1, "expiryYear": 2031, "cvv": "737"}, "cvv"),
    ],
)
def test_tokenisation_refuses_bad_cards_by_field(processor: CardProcessor, payload: dict[str, Any], field: str) -> None:
    answer = processor.tokenise(payload)
    assert (answer.status, answer.body["field"]) == (422, field)


def test_one_reference_is_charged_once(processor: CardProcessor) -> None:
    token = tokenise(processor)
    first, again = charge(processor, token), charge(processor, token)
    assert first.body["status"] == again.body["status"] == "succeeded"
    assert first.body["chargeId"] == again.body["chargeId"]
    assert captured(processor, token) == 5_000


def test_a_reference_reused_for_another_charge_is_refused(processor: CardProcessor) -> None:
    token = tokenise(processor)
    charge(processor, token)
    assert charge(processor, token, minor=6_000).status == 409


@pytest.mark.parametrize(("number", "code"), [(testcards.DECLINED, "05"), (testcards.INSUFFICIENT_FUNDS, "51")])
def test_decline_cards_are_declined_with_their_code(processor: CardProcessor, number: str, code: str) -> None:
    token = tokenise(processor, number)
    answer = charge(processor, token)
    assert (answer.body["status"], answer.body["code"]) == ("declined", code)
    assert captured(processor, token) == 0


def test_three_d_secure_completes_after_the_delay_and_captures_once(processor: CardProcessor, clock: Clock) -> None:
    token = tokenise(processor, testcards.THREE_D_SECURE)
    assert charge(processor, token).body["status"] == "requires_action"
    assert processor.lookup("pay-1").body["status"] == "requires_action"
    assert captured(processor, token) == 0
    clock.now += 2.0
    assert processor.lookup("pay-1").body["status"] == "succeeded"
    assert charge(processor, token).body["status"] == "succeeded"
    assert captured(processor, token) == 5_000


def test_the_transient_card_records_nothing(processor: CardProcessor) -> None:
    token = tokenise(processor, testcards.TRANSIENT)
    assert charge(processor, token).status == 503
    assert processor.lookup("pay-1").status == 404


def test_the_uncertain_card_is_charged_though_the_answer_is_an_error(processor: CardProcessor) -> None:
    token = tokenise(processor, testcards.UNCERTAIN)
    assert charge(processor, token).status == 500
    assert processor.lookup("pay-1").body["status"] == "succeeded"
    assert charge(processor, token).status == 200


def test_the_slow_card_is_delayed_only_the_first_time(processor: CardProcessor) -> None:
    token = tokenise(processor, testcards.SLOW)
    assert charge(processor, token).delay_seconds == 1.5
    assert charge(processor, token).delay_seconds == 0.0


def test_refunds_are_idempotent_and_capped_at_the_amount(processor: CardProcessor) -> None:
    charge(processor, tokenise(processor))
    assert refund(processor, "r1", 3_000).body["status"] == "succeeded"
    assert refund(processor, "r1", 3_000).body["refundedMinor"] == 3_000
    assert refund(processor, "r1", 1_000).status == 409
    assert refund(processor, "r2", 2_001).body["code"] == "exceeds_amount"
    assert refund(processor, "r3", 2_000).body["status"] == "succeeded"
    assert processor.lookup("pay-1").body["refundedMinor"] == 5_000


def test_the_no_refund_card_charges_but_every_refund_is_declined(processor: CardProcessor) -> None:
    assert charge(processor, tokenise(processor, testcards.NO_REFUND)).body["status"] == "succeeded"
    declined = refund(processor, "r1", 100).body
    assert (declined["status"], declined["code"]) == ("declined", "refund_declined")
    assert processor.lookup("pay-1").body["refundedMinor"] == 0 and processor.refunds().body == {"refunds": []}


def test_the_refund_record_lists_each_refund_once(processor: CardProcessor) -> None:
    charge(processor, tokenise(processor))
    refund(processor, "r1", 1_000)
    refund(processor, "r1", 1_000)  # a replay
    refund(processor, "r2", 2_000)
    assert [(r["refundReference"], r["amountMinor"]) for r in processor.refunds().body["refunds"]] == [
        ("r1", 1_000),
        ("r2", 2_000),
    ]
    assert [r["refundReference"] for r in processor.refunds("pay-1").body["refunds"]] == ["r1", "r2"]


def test_refunds_need_a_captured_charge_in_its_currency(processor: CardProcessor) -> None:
    charge(processor, tokenise(processor, testcards.DECLINED))
    assert refund(processor, "r1", 100).body["code"] == "not_captured"
    charge(processor, tokenise(processor), reference="pay-2")
    usd = processor.refund("pay-2", {"refundReference": "r2", "amountMinor": 100, "currency": "USD"})
    assert usd.body["code"] == "currency_mismatch"
    assert refund(processor, "r3", 100, reference="nope").status == 404


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {"reference": "", "token": "t", "amountMinor": 1, "currency": "INR"},
        {"reference": "r", "token": "t", "amountMinor": 0, "currency": "INR"},
        {"reference": "r", "token": "t", "amountMinor": True, "currency": "INR"},
        {"reference": "r", "token": "t", "amountMinor": 1, "currency": "inr"},
        {"reference": "r", "amountMinor": 1, "currency": "INR"},
    ],
)
def test_malformed_charges_are_bad_requests(processor: CardProcessor, payload: Any) -> None:
    assert processor.charge(payload).status == 400


def test_an_unknown_token_is_refused(processor: CardProcessor) -> None:
    assert charge(processor, "tok_unknown").status == 422
