"""prepare(): provider and wallet id rules by field, and what is stored versus shown."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from flosspay_wallet.fields import WalletFields
from flosspay_wallet.rail import WalletRail
from flosspay_wallet.settings import WalletSettings

from flosspay.railapi import FieldError, Flow, Money, ValidationFailed

from .conftest import wallet

pytestmark = pytest.mark.unit

INR = Money(25_000, "INR")
RAIL = WalletRail(WalletSettings(psp_url="http://127.0.0.1:9"))  # prepare never calls the provider


def fields(wallet_id: str = "9876543210", provider: str = "paytm") -> WalletFields:
    return msgspec.convert(wallet(wallet_id, provider), WalletFields)


def errors_of(struct: Any, amount: Money = INR, flow: Flow = Flow.PAY) -> list[FieldError]:
    with pytest.raises(ValidationFailed) as refused:
        RAIL.prepare(struct, amount, flow)
    return refused.value.errors


def test_details_hold_provider_and_wallet_id_and_only_the_provider_is_shown() -> None:
    prepared = RAIL.prepare(fields("asha.rao@ybl", " PhonePe "), INR, Flow.PAY)
    assert prepared.details == {"provider": "phonepe", "wallet_id": "asha.rao@ybl"}
    assert prepared.public == {"wallet": {"provider": "phonepe"}}


@pytest.mark.parametrize("wallet_id", ["ab", "-starts-with-hyphen", "has space", "x" * 65, "ünïcode"])
def test_malformed_wallet_ids_are_refused(wallet_id: str) -> None:
    assert [e.field for e in errors_of(fields(wallet_id))] == ["wallet.walletId"]


def test_every_broken_rule_is_reported_at_once() -> None:
    errors = errors_of(fields("a b", "nowallet"), Money(100, "USD"), Flow.COLLECT)
    assert [e.field for e in errors] == ["wallet.provider", "wallet.walletId", "currency", "flow"]
    assert "paytm" in errors[0].message


def test_providers_and_currencies_come_from_the_settings() -> None:
    rail = WalletRail(
        WalletSettings(
            psp_url="http://127.0.0.1:9", providers=frozenset({"demo"}), currencies=frozenset({"INR", "USD"})
        )
    )
    assert rail.prepare(fields(provider="demo"), Money(100, "USD"), Flow.PAY).details["provider"] == "demo"
    with pytest.raises(ValidationFailed):
        rail.prepare(fields(provider="paytm"), INR, Flow.PAY)


def test_fields_are_strict() -> None:
    with pytest.raises(msgspec.ValidationError, match="pin"):
        msgspec.convert({"wallet": {"provider": "paytm", "walletId": "abc", "pin": "1234"}}, WalletFields)
    with pytest.raises(msgspec.ValidationError, match="walletId"):
        msgspec.convert({"wallet": {"provider": "paytm"}}, WalletFields)
