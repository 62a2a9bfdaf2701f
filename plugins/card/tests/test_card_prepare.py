"""prepare(): every card rule, named by field; tokenisation; nothing but the token and safe facts kept."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import msgspec
import pytest
from flosspay_card import testcards
from flosspay_card.fields import CardFields
from flosspay_card.rail import CardRail, CardServiceUnavailable
from flosspay_card.settings import CardSettings

from flosspay.railapi import FieldError, Flow, Money, ValidationFailed

from .conftest import API_KEY, CVV, card

pytestmark = pytest.mark.integration

INR = Money(49_900, "INR")


def fields(number: str = "4111111111111111", **extra: Any) -> CardFields:
    """Card fields expiring in 12/2031, valid for the real clock and for ``offline_rail``'s 15 June 2030."""
    return msgspec.convert(card(number, **{"expiryYear": 2031, **extra}), CardFields)


def errors_of(rail: CardRail, struct: CardFields, amount: Money = INR, flow: Flow = Flow.PAY) -> list[FieldError]:
    with pytest.raises(ValidationFailed) as refused:
        rail.prepare(struct, amount, flow)
    return refused.value.errors


@pytest.fixture
def offline_rail() -> Iterator[CardRail]:
    """A rail whose PSP is unreachable: rule checks must not need it."""
    rail = CardRail(
        CardSettings(psp_url="http://127.0.0.1:9", api_key=API_KEY, timeout_seconds=0.5, currencies=frozenset({"INR"})),
        today=lambda: date(2030, 6, 15),
    )
    yield rail
    rail.close()


def test_valid_card_keeps_only_token_scheme_last4_and_expiry(card_rail: CardRail) -> None:
    prepared = card_rail.prepare(fields(), INR, Flow.PAY)
    assert set(prepared.details) == {"pan_token", "scheme", "last4", "expiry"}
    assert prepared.details["pan_token"].startswith("tok_")
    assert (prepared.details["scheme"], prepared.details["last4"]) == ("visa", "1111")
    assert prepared.details["expiry"] == "2031-12"
    assert prepared.public == {"card": {"scheme": "visa", "last4": "1111"}}
    stored = msgspec.json.encode(prepared).decode()
    assert "4111111111111111" not in stored
    assert CVV not in stored


@pytest.mark.parametrize(("name", "number"), list(testcards.SUCCESS_CARDS.items()))
def test_every_success_card_is_accepted_with_its_scheme(card_rail: CardRail, name: str, number: str) -> None:
    cvv = "1234" if name == "amex" else CVV
    prepared = card_rail.prepare(fields(number, cvv=cvv), INR, Flow.PAY)
    assert prepared.details["scheme"] == name.removesuffix("_2_series")
    assert prepared.details["last4"] == number[-4:]


def test_a_number_typed_with_spaces_is_accepted(card_rail: CardRail) -> None:
    prepared = card_rail.prepare(fields("4111 1111 1111 1111"), INR, Flow.PAY)
    assert prepared.details["last4"] == "1111"


def test_every_broken_rule_is_reported_at_once_without_calling_the_psp(offline_rail: CardRail) -> None:
    struct = fields("4111111111111112", cvv="12", holderName="   ")
    started = time.monotonic()
    errors = errors_of(offline_rail, struct, Money(100, "USD"), Flow.COLLECT)
    assert time.monotonic() - started < 0.4, "rule checks must not wait on the PSP"
    assert {e.field for e in errors} == {"card.number", "card.cvv", "card.holderName", "currency", "flow"}


@pytest.mark.parametrize(
    ("month", "year", "field"),
    [
        (5, 2030, "card.expiryMonth"),
        (12, 2029, "card.expiryYear"),
        (13, 2031, "card.expiryMonth"),
        (0, 2031, "card.expiryMonth"),
        (1, 2051, "card.expiryYear"),
    ],
)
def test_expiry_must_not_have_passed(offline_rail: CardRail, month: int, year: int, field: str) -> None:
    errors = errors_of(offline_rail, fields(expiryMonth=month, expiryYear=year))
    assert [e.field for e in errors] == [field]


def test_a_card_is_valid_through_its_expiry_month(card_sandbox_url: str) -> None:
    rail = CardRail(CardSettings(psp_url=card_sandbox_url, api_key=API_KEY), today=lambda: date(2030, 6, 30))
    prepared = rail.prepare(fields(expiryMonth=6, expiryYear=2030), INR, Flow.PAY)
    assert prepared.details["expiry"] == "2030-06"
    rail.close()


@pytest.mark.parametrize(
    ("number", "cvv", "field"),
    [
        ("6011111111111117", CVV, "card.number"),  # Discover: Luhn-valid, not accepted
        ("411111111111111", CVV, "card.number"),  # Visa with 15 digits
        ("4111-1111-x111-1111", CVV, "card.number"),
        ("378282246310005", "737", "card.cvv"),  # Amex needs 4
        ("4111111111111111", "7373", "card.cvv"),  # Visa needs 3
        ("4111111111111111", "7a7", "card.cvv"),
    ],
)
def test_number_and_cvv_rules(offline_rail: CardRail, number: str, cvv: str, field: str) -> None:
    assert [e.field for e in errors_of(offline_rail, fields(number, cvv=cvv))] == [field]


def test_errors_never_echo_the_card_number(offline_rail: CardRail) -> None:
    with pytest.raises(ValidationFailed) as refused:
        offline_rail.prepare(fields("4111111111111112"), INR, Flow.PAY)
    assert "4111111111111112" not in str(refused.value)
    assert "4111111111111112" not in repr(refused.value.errors)


def test_the_psp_refusing_the_cvv_is_a_cvv_error(card_rail: CardRail) -> None:
    assert [e.field for e in errors_of(card_rail, fields(testcards.WRONG_CVV))] == ["card.cvv"]


def test_an_unreachable_psp_is_a_retryable_card_error(offline_rail: CardRail) -> None:
    with pytest.raises(CardServiceUnavailable) as refused:
        offline_rail.prepare(fields(), INR, Flow.PAY)
    assert "try again" in refused.value.detail
    assert "4111111111111111" not in str(refused.value)
