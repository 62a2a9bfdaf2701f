"""UpiRail.prepare and UpiFields: UPI's rules on a request, each broken rule named by its field."""

from __future__ import annotations

import msgspec
import pytest
from flosspay_upi.fields import UpiFields
from flosspay_upi.rail import UpiRail

from flosspay.railapi import FieldError, Flow, Money, PreparedPayment, ValidationFailed

pytestmark = pytest.mark.unit

RAIL = UpiRail({"psp_url": "http://127.0.0.1:9"})  # never called: prepare does no I/O


def fields(sender: str = "alice@okhdfc", receiver: str = "shop@okaxis") -> UpiFields:
    return UpiFields(sender_upi=sender, receiver_upi=receiver)


def inr(minor: int) -> Money:
    return Money(minor, "INR")


def errors_of(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[FieldError]:
    return exc.value.errors


@pytest.mark.parametrize("flow", [Flow.PAY, Flow.COLLECT])
def test_a_valid_request_is_split_into_stored_and_public_details(flow: Flow) -> None:
    prepared = RAIL.prepare(fields(), inr(2800), flow)
    assert prepared == PreparedPayment(
        details={"senderUpi": "alice@okhdfc", "receiverUpi": "shop@okaxis"},
        public={"senderUpi": "alice@okhdfc", "receiverUpi": "shop@okaxis"},
        payer_account=("vpa", "alice@okhdfc"),
        payee_account=("vpa", "shop@okaxis"),
    )


@pytest.mark.parametrize("bad", ["alice", "alice@", "@okhdfc", "a@okhdfc", "alice@1bank", "al ice@okhdfc", ""])
def test_a_malformed_sender_is_reported_on_sender_upi(bad: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        RAIL.prepare(fields(sender=bad), inr(2800), Flow.PAY)
    assert errors_of(exc) == [FieldError("senderUpi", "must be a UPI address like name@bank")]


def test_a_malformed_receiver_is_reported_on_receiver_upi() -> None:
    with pytest.raises(ValidationFailed) as exc:
        RAIL.prepare(fields(receiver="shop@@okaxis"), inr(2800), Flow.PAY)
    assert [e.field for e in errors_of(exc)] == ["receiverUpi"]


@pytest.mark.parametrize("receiver", ["alice@okhdfc", "ALICE@OKHDFC", "Alice@OkHdfc"])
def test_paying_yourself_is_refused_whatever_the_case(receiver: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        RAIL.prepare(fields(receiver=receiver), inr(2800), Flow.PAY)
    assert errors_of(exc) == [FieldError("receiverUpi", "must be a different UPI address from senderUpi")]


@pytest.mark.parametrize("currency", ["USD", "EUR", "JPY"])
def test_only_rupees_are_accepted(currency: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        RAIL.prepare(fields(), Money(2800, currency), Flow.PAY)
    assert errors_of(exc) == [FieldError("currency", f"UPI accepts INR only, got {currency!r}")]


def test_the_default_limit_is_one_lakh_rupees_inclusive() -> None:
    assert RAIL.prepare(fields(), inr(100_000_00), Flow.PAY).details["senderUpi"] == "alice@okhdfc"
    with pytest.raises(ValidationFailed) as exc:
        RAIL.prepare(fields(), inr(100_000_01), Flow.PAY)
    assert errors_of(exc) == [FieldError("amount", "exceeds the UPI per-transaction limit of 100000.00 INR")]


def test_the_limit_follows_the_max_amount_setting() -> None:
    rail = UpiRail({"psp_url": "http://127.0.0.1:9", "max_amount": "5000.50"})
    assert rail.prepare(fields(), inr(5000_50), Flow.COLLECT).public["receiverUpi"] == "shop@okaxis"
    with pytest.raises(ValidationFailed) as exc:
        rail.prepare(fields(), inr(5000_51), Flow.COLLECT)
    assert [e.field for e in errors_of(exc)] == ["amount"]
    assert "5000.50 INR" in errors_of(exc)[0].message


def test_a_non_positive_amount_is_refused() -> None:
    with pytest.raises(ValidationFailed) as exc:
        RAIL.prepare(fields(), inr(0), Flow.PAY)
    assert errors_of(exc) == [FieldError("amount", "must be greater than zero")]


def test_every_broken_rule_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as exc:
        RAIL.prepare(fields(sender="nope", receiver="also-nope"), Money(2800, "USD"), Flow.PAY)
    assert [e.field for e in errors_of(exc)] == ["senderUpi", "receiverUpi", "currency"]


def test_same_account_and_over_limit_are_both_reported() -> None:
    with pytest.raises(ValidationFailed) as exc:
        RAIL.prepare(fields(receiver="ALICE@okhdfc"), inr(10**9), Flow.PAY)
    assert [e.field for e in errors_of(exc)] == ["receiverUpi", "amount"]


def test_fields_of_another_shape_get_a_clear_error() -> None:
    class Other(msgspec.Struct):
        x: int

    with pytest.raises(ValidationFailed) as exc:
        RAIL.prepare(Other(1), inr(2800), Flow.PAY)
    assert [e.field for e in errors_of(exc)] == ["body"]


def test_fields_decode_from_camel_case_json() -> None:
    decoded = msgspec.json.decode(b'{"senderUpi": "alice@okhdfc", "receiverUpi": "shop@okaxis"}', type=UpiFields)
    assert decoded == fields()


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        (b'{"senderUpi": "alice@okhdfc", "receiverUpi": "shop@okaxis", "pin": "1234"}', "unknown field `pin`"),
        (b'{"sender_upi": "alice@okhdfc", "receiver_upi": "shop@okaxis"}', "unknown field `sender_upi`"),
        (b'{"senderUpi": "alice@okhdfc"}', "missing required field `receiverUpi`"),
        (b'{"senderUpi": 42, "receiverUpi": "shop@okaxis"}', "Expected `str`, got `int`"),
    ],
)
def test_fields_of_the_wrong_shape_are_refused(raw: bytes, complaint: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=complaint):
        msgspec.json.decode(raw, type=UpiFields)
