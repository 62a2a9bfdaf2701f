"""Ledger rules to the letter: exact messages, account-name boundaries and which details name the payer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flosspay.domain.ledger import (
    EntryKind,
    JournalEntry,
    LedgerError,
    Posting,
    account,
    balance,
    completed_payment_entry,
    history_facts,
    is_account_name,
    payee_account,
    payer_account,
    payment_accounts,
    rail_account,
    rail_accounts,
    unrecordable_accounts,
)
from flosspay.domain.money import Money
from flosspay.domain.payment import Flow, Payment

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
PID = uuid.UUID(int=1)


def _payment(details: dict[str, Any], rail: str = "upi") -> Payment:
    made = Payment.accept(
        id=PID,
        client_id="cl_1",
        flow=Flow.PAY,
        method=rail.upper(),
        rail=rail,
        amount=Money(2800, "INR"),
        details=details,
        public={},
        note=None,
        now=T0,
    )
    made.claim("w", T0, T0 + timedelta(seconds=30))
    made.complete(T0, "ok", 7)
    return made


def _entry(*postings: Posting, kind: EntryKind = EntryKind.CORRECTION, at: datetime = T0) -> JournalEntry:
    return JournalEntry(uuid.uuid4(), kind, at, "x", postings, payment_id=PID, ref_entry_id=uuid.UUID(int=2))


def inr(minor: int) -> Money:
    return Money(minor, "INR")


def test_account_refuses_one_segment_or_an_empty_one_with_a_clear_message() -> None:
    for segments in (("upi",), ("upi", ""), ("", "x")):
        with pytest.raises(ValueError) as refused:
            account(*segments)
        assert str(refused.value) == "an account name has at least two non-empty segments"
    assert account("a", "b/c", "~x_y.z-@") == "a:b%2Fc:~x_y.z-@"


def test_account_names_may_be_255_characters_and_no_more() -> None:
    name = "a:" + "b" * 253
    assert is_account_name(name) and not is_account_name(name + "b")


@pytest.mark.parametrize(
    ("segments", "payer"),
    [
        (("vpa", "a@upi"), "upi:vpa:a@upi"),
        (("x",), "upi:x"),
        ((), f"upi:payer:{PID}"),
        (("vpa", ""), f"upi:payer:{PID}"),
        (("", "a"), f"upi:payer:{PID}"),
        (("vpa", 5), f"upi:payer:{PID}"),
        (("v", "a" * 250), f"upi:payer:{PID}"),  # upi:v:aaa... would be 256 characters
        (("v", "a" * 248), "upi:v:" + "a" * 248),
    ],
)
def test_unusable_rail_segments_fall_back_to_the_payments_own_payer(segments: tuple[Any, ...], payer: str) -> None:
    assert payment_accounts("UPI", "cl_1", PID, segments, ())[0] == payer
    assert rail_account("upi", segments) == (None if payer.startswith("upi:payer:") else payer)


def test_no_payee_segments_mean_the_merchant_is_paid() -> None:
    assert payment_accounts("upi", "cl_1", PID, (), ())[1] == "merchant:cl_1"
    assert payment_accounts("upi", "cl 1", PID, (), ("",))[1] == "merchant:cl%201"
    assert payment_accounts("upi", "cl_1", PID, (), ("vpa", "B@upi"))[1] == "upi:vpa:B@upi"


def test_a_payment_without_stored_accounts_uses_the_generic_ones() -> None:
    made = _payment({"senderUpi": "a@upi", "receiverUpi": "b@upi"})
    assert (payer_account(made), payee_account(made)) == (f"upi:payer:{PID}", "merchant:cl_1")


def test_entry_rule_messages_are_exact() -> None:
    with pytest.raises(LedgerError) as few:
        _entry(Posting("a:b", inr(1)))
    assert str(few.value) == "an entry needs at least two postings"
    with pytest.raises(LedgerError) as unbalanced:
        _entry(Posting("a:b", inr(10)), Posting("a:c", inr(-4)), Posting("a:d", inr(-1)))
    assert str(unbalanced.value) == "postings do not balance: {'INR': 5}"
    with pytest.raises(LedgerError) as payment_ref:
        JournalEntry(
            uuid.uuid4(), EntryKind.PAYMENT, T0, "x", (Posting("a:b", inr(1)), Posting("a:c", inr(-1))), PID, PID
        )
    assert str(payment_ref.value) == "a payment entry names its payment and references no other entry"
    reversal = _entry(Posting("a:b", inr(1)), Posting("a:c", inr(-1)), kind=EntryKind.REVERSAL)
    with pytest.raises(LedgerError) as again:
        reversal.reversal(uuid.uuid4(), T0, "again")
    assert str(again.value) == "a reversal is not reversed; post a correction instead"


def test_a_correction_keeps_the_payment_of_the_entry_it_corrects() -> None:
    base = _entry(Posting("a:b", inr(1)), Posting("a:c", inr(-1)))
    fee = base.correction(uuid.UUID(int=3), T0, "fee", [Posting("a:b", inr(-2)), Posting("a:d", inr(2))])
    assert (fee.payment_id, fee.ref_entry_id, fee.kind) == (PID, base.id, EntryKind.CORRECTION)


def test_the_payment_entry_says_what_completed_and_history_facts_keep_the_attempt() -> None:
    made = _payment({"senderUpi": "a@upi", "receiverUpi": "b@upi"})
    assert completed_payment_entry(made, T0).description == "UPI pay payment completed"
    assert history_facts(made, 2).attempt == 7
    assert history_facts(made, 0).attempt is None


def test_balance_skips_later_entries_wherever_they_are_in_the_list() -> None:
    late = _entry(Posting("a:b", inr(5)), Posting("a:c", inr(-5)), at=T0 + timedelta(days=1))
    early = _entry(Posting("a:b", inr(3)), Posting("a:c", inr(-3)))
    assert balance([late, early], "a:b", as_of=T0) == {"INR": 3}


def _old_payment_accounts(
    rail: str, client_id: str, payment_id: uuid.UUID, payer: tuple[Any, ...], payee: tuple[Any, ...]
) -> tuple[str, str]:
    """The reference: ``payment_accounts`` as it was before ``rail_accounts`` (one ``rail_account`` per side)."""
    return (
        rail_account(rail, payer) or account(rail.lower(), "payer", str(payment_id)),
        rail_account(rail, payee) or account("merchant", client_id),
    )


def _old_unrecordable(rail: str, payer: tuple[Any, ...], payee: tuple[Any, ...]) -> list[tuple[tuple[Any, ...], str]]:
    """The reference: ``unrecordable_accounts`` as it was before ``rail_accounts``."""
    found = []
    for segments in (payer, payee):
        if segments and rail_account(rail, segments) is None:
            usable = tuple(s if isinstance(s, str) and s else "?" for s in segments)
            found.append((tuple(segments), account(rail.lower() or "?", *usable)))
    return found


_segment = st.one_of(st.text(max_size=6), st.text(min_size=120, max_size=260), st.integers(0, 9), st.none())
_segments = st.lists(_segment, max_size=3).map(tuple)


@given(st.sampled_from(["upi", "UPI", "card", "Ab c"]), st.text(min_size=1, max_size=5), _segments, _segments)
def test_one_pass_of_rail_accounts_gives_what_the_separate_calls_gave(
    rail: str, client: str, payer: tuple[Any, ...], payee: tuple[Any, ...]
) -> None:
    payer_name, payee_name, unrecordable = rail_accounts(rail, payer, payee)
    assert (payer_name, payee_name) == (rail_account(rail, payer), rail_account(rail, payee))
    assert unrecordable == unrecordable_accounts(rail, payer, payee) == _old_unrecordable(rail, payer, payee)
    assert payment_accounts(rail, client, PID, payer, payee) == _old_payment_accounts(rail, client, PID, payer, payee)
