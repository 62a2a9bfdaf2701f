"""The sandbox wallet provider: balances, exactly-once debits, refunds credited back (no HTTP)."""

from __future__ import annotations

from typing import Any

import pytest
from flosspay_wallet.provider import BEHAVIOURS, OPENING_BALANCE_MINOR, WalletProvider, behaviour_of

pytestmark = pytest.mark.unit


@pytest.fixture
def provider() -> WalletProvider:
    return WalletProvider(slow_seconds=1.5)


def debit(provider: WalletProvider, wallet_id: str, minor: int, reference: str = "pay-1") -> Any:
    payload = {
        "reference": reference,
        "provider": "paytm",
        "walletId": wallet_id,
        "amountMinor": minor,
        "currency": "INR",
    }
    return provider.debit(payload)


def refund(provider: WalletProvider, ref: str, minor: int, reference: str = "pay-1") -> Any:
    return provider.refund(reference, {"refundReference": ref, "amountMinor": minor, "currency": "INR"})


def balance(provider: WalletProvider, wallet_id: str) -> dict[str, Any]:
    return provider.wallet("paytm", wallet_id).body


def test_a_new_wallet_opens_with_ten_thousand_rupees(provider: WalletProvider) -> None:
    assert balance(provider, "asha")["balanceMinor"] == OPENING_BALANCE_MINOR == 1_000_000


def test_a_debit_happens_once_per_reference(provider: WalletProvider) -> None:
    first, again = debit(provider, "asha", 30_000), debit(provider, "asha", 30_000)
    assert first.body["debitId"] == again.body["debitId"]
    assert balance(provider, "asha")["balanceMinor"] == 970_000
    assert debit(provider, "asha", 40_000).status == 409


def test_insufficient_balance_is_a_real_decline(provider: WalletProvider) -> None:
    assert debit(provider, "asha", 600_000, "p1").body["status"] == "succeeded"
    declined = debit(provider, "asha", 600_000, "p2")
    assert (declined.body["status"], declined.body["code"]) == ("declined", "INSUFFICIENT_BALANCE")
    assert balance(provider, "asha")["balanceMinor"] == 400_000


def test_refunds_credit_back_and_never_exceed_the_debit(provider: WalletProvider) -> None:
    debit(provider, "asha", 10_000)
    assert refund(provider, "r1", 4_000).body["status"] == "succeeded"
    assert refund(provider, "r1", 4_000).body["refundedMinor"] == 4_000  # idempotent
    assert refund(provider, "r1", 5_000).status == 409
    assert refund(provider, "r2", 6_001).body["code"] == "EXCEEDS_AMOUNT"
    assert refund(provider, "r3", 6_000).body["status"] == "succeeded"
    account = balance(provider, "asha")
    assert (account["balanceMinor"], account["debitedMinor"], account["creditedMinor"]) == (1_000_000, 10_000, 10_000)


def test_a_norefund_wallet_is_debited_but_every_refund_is_declined(provider: WalletProvider) -> None:
    assert debit(provider, "norefund-1", 2_000).body["status"] == "succeeded"
    declined = refund(provider, "r1", 500).body
    assert (declined["status"], declined["code"]) == ("declined", "REFUND_DECLINED")
    assert balance(provider, "norefund-1")["balanceMinor"] == 998_000  # nothing credited back
    assert provider.refunds().body == {"refunds": []}


def test_the_refund_record_lists_each_refund_once(provider: WalletProvider) -> None:
    debit(provider, "asha", 10_000)
    refund(provider, "r1", 1_000)
    refund(provider, "r1", 1_000)  # a replay
    refund(provider, "r2", 2_000)
    assert [(r["refundReference"], r["amountMinor"]) for r in provider.refunds().body["refunds"]] == [
        ("r1", 1_000),
        ("r2", 2_000),
    ]
    assert provider.refunds("other").body == {"refunds": []}


def test_a_declined_debit_cannot_be_refunded(provider: WalletProvider) -> None:
    debit(provider, "empty-1", 100)
    assert refund(provider, "r1", 100).body["code"] == "NOT_DEBITED"
    assert refund(provider, "r2", 100, reference="nope").status == 404


def test_test_wallets_behave_as_documented(provider: WalletProvider) -> None:
    assert set(BEHAVIOURS) == {"empty", "blocked", "transient", "uncertain", "slow", "norefund"}
    assert debit(provider, "empty-x", 1, "a").body["code"] == "INSUFFICIENT_BALANCE"
    assert debit(provider, "blocked-x", 1, "b").body["code"] == "WALLET_BLOCKED"
    assert debit(provider, "transient-x", 1, "c").status == 503
    assert provider.lookup("c").status == 404
    assert debit(provider, "uncertain-x", 1, "d").status == 500
    assert provider.lookup("d").body["status"] == "succeeded"
    assert debit(provider, "slow-x", 1, "e").delay_seconds == 1.5
    assert debit(provider, "slow-x", 1, "e").delay_seconds == 0.0


def test_prefixes_are_case_insensitive_and_others_are_normal() -> None:
    assert behaviour_of("Empty.Asha") == "empty"
    assert behaviour_of("asha-empty") is None


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {"reference": "r", "provider": "paytm", "walletId": "a b", "amountMinor": 1, "currency": "INR"},
        {"reference": "r", "provider": "paytm", "walletId": "abc", "amountMinor": 1, "currency": "USD"},
        {"reference": "r", "provider": "", "walletId": "abc", "amountMinor": 1, "currency": "INR"},
        {"reference": "r", "provider": "paytm", "walletId": "abc", "amountMinor": -5, "currency": "INR"},
    ],
)
def test_malformed_debits_are_bad_requests(provider: WalletProvider, payload: Any) -> None:
    assert provider.debit(payload).status == 400
