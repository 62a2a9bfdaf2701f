"""The kit's answer mapping: HTTP error statuses as outcomes, local refusals, and answers as results."""

from __future__ import annotations

import msgspec
import pytest

from flosspay.railapi import Flow, Money, Outcome, RailRequest, RailResult, RefundResult
from flosspay.railkit import (
    MAX_REFERENCE_LENGTH,
    NoAnswer,
    PspAnswer,
    as_refund,
    http_failure,
    reference_refusal,
    refund_refusal,
)

pytestmark = pytest.mark.unit

PAID = RailRequest("pay-1", Flow.PAY, Money(10_000, "INR"), {})


@pytest.mark.parametrize(
    ("status", "body", "outcome", "code"),
    [
        (400, {"code": "bad_card"}, Outcome.DECLINED, "bad_card"),
        (409, {"code": "reference_reused"}, Outcome.DECLINED, "reference_reused"),
        (422, {}, Outcome.DECLINED, "HTTP_422"),
        (422, {"code": 7}, Outcome.DECLINED, "HTTP_422"),
        (401, {"code": "unauthorised"}, Outcome.TRANSIENT, "PSP_AUTH"),
        (403, {}, Outcome.TRANSIENT, "PSP_AUTH"),
        (404, {}, Outcome.TRANSIENT, "HTTP_404"),
        (429, {}, Outcome.TRANSIENT, "HTTP_429"),
        (503, {}, Outcome.TRANSIENT, "HTTP_503"),
        (500, {}, Outcome.UNCERTAIN, "HTTP_500"),
        (502, {}, Outcome.UNCERTAIN, "HTTP_502"),
        (504, {}, Outcome.UNCERTAIN, "HTTP_504"),
        (302, {}, Outcome.UNCERTAIN, "HTTP_302"),
        (418, {}, Outcome.UNCERTAIN, "HTTP_418"),
    ],
)
def test_http_failures_map_to_outcomes(status: int, body: dict[str, object], outcome: Outcome, code: str) -> None:
    result = http_failure(PspAnswer(status, body))
    assert (result.outcome, result.code) == (outcome, code)
    assert result.outcome is outcome
    assert f"HTTP {status}" in (result.reason or "") or result.code == "PSP_AUTH"


def test_http_failure_reasons_name_the_other_side_and_the_key_setting() -> None:
    refused = http_failure(PspAnswer(401, {}), psp="the provider", credentials="FLOSSPAY_WALLET_API_KEY")
    assert refused.reason == "the provider refused the rail's credentials (FLOSSPAY_WALLET_API_KEY)"
    assert http_failure(PspAnswer(401, {})).reason == "the PSP refused the rail's credentials"
    assert http_failure(PspAnswer(500, {}), psp="the bank").reason == "the bank failed (HTTP 500); it may have acted"


def test_psp_answer_text_reads_only_strings() -> None:
    answer = PspAnswer(200, {"code": "00", "amount": 5, "nested": {"a": 1}, "none": None})
    assert answer.text("code") == "00"
    assert [answer.text(k) for k in ("amount", "nested", "none", "missing")] == [None] * 4
    assert PspAnswer(204).body == {}


def test_no_answer_becomes_a_payment_or_a_refund_result() -> None:
    no_answer = NoAnswer(Outcome.UNCERTAIN, "PSP_TIMEOUT", "no answer from the PSP in time (ReadTimeout)")
    assert no_answer.result() == RailResult(Outcome.UNCERTAIN, "PSP_TIMEOUT", no_answer.reason)
    assert no_answer.refund_result() == RefundResult(Outcome.UNCERTAIN, "PSP_TIMEOUT", no_answer.reason)
    assert msgspec.json.decode(msgspec.json.encode(no_answer))["outcome"] == "UNCERTAIN"


@pytest.mark.parametrize("reference", ["", "r" * (MAX_REFERENCE_LENGTH + 1)])
def test_references_a_psp_cannot_take_are_declined(reference: str) -> None:
    refused = reference_refusal(reference)
    assert refused == RailResult(Outcome.DECLINED, "INVALID_REFERENCE", "reference must be 1-128 characters")


def test_good_references_pass_and_the_limit_can_be_set() -> None:
    assert reference_refusal("r") is None
    assert reference_refusal("r" * MAX_REFERENCE_LENGTH) is None
    refused = reference_refusal("r" * 36, max_length=35)
    assert refused is not None
    assert refused.reason == "reference must be 1-35 characters"


@pytest.mark.parametrize(
    ("amount", "refund_reference", "code"),
    [
        (Money(100, "INR"), "", "INVALID_REFERENCE"),
        (Money(100, "INR"), "x" * 129, "INVALID_REFERENCE"),
        (Money(100, "USD"), "rf-1", "CURRENCY_MISMATCH"),
        (Money(0, "INR"), "rf-1", "INVALID_AMOUNT"),
        (Money(-5, "INR"), "rf-1", "INVALID_AMOUNT"),
        (Money(10_001, "INR"), "rf-1", "EXCEEDS_AMOUNT"),
    ],
)
def test_impossible_refunds_are_declined_without_asking(amount: Money, refund_reference: str, code: str) -> None:
    refused = refund_refusal(PAID, amount, refund_reference)
    assert refused is not None
    assert (refused.outcome, refused.code) == (Outcome.DECLINED, code)


def test_possible_refunds_are_left_to_the_psp() -> None:
    assert refund_refusal(PAID, Money(10_000, "INR"), "rf-1") is None
    assert refund_refusal(PAID, Money(1, "INR"), "rf-2") is None


def test_a_rail_may_name_an_excessive_refund_its_own_way() -> None:
    refused = refund_refusal(PAID, Money(20_000, "INR"), "rf-1", exceeds_code="REFUND_EXCEEDS_PAYMENT")
    assert refused is not None
    assert refused.code == "REFUND_EXCEEDS_PAYMENT"


def test_as_refund_keeps_outcome_code_and_reason() -> None:
    result = RailResult(Outcome.DECLINED, "Z9", "insufficient funds", "rrn-1")
    assert as_refund(result) == RefundResult(Outcome.DECLINED, "Z9", "insufficient funds")
