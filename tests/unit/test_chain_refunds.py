"""Refunds in the chain: refund history rows, refund entries, and reversals after refunds (docs/ledger.md §5)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from flosspay.domain.chain import EntryFacts, Facts, RefundHistoryFacts
from flosspay.domain.ledger import refund_entry_id
from tests.unit.test_chain import E1, P1, POSTINGS, T0, entry, export, paid
from tests.unit.test_chain_mutation_verify import both_forms, loosen

pytestmark = pytest.mark.unit

R1, R2, R3 = uuid.UUID(int=101), uuid.UUID(int=102), uuid.UUID(int=103)
PAYER, CLEARING, PAYEE = POSTINGS[0][0], POSTINGS[1][0], POSTINGS[3][0]


def rh(rid: uuid.UUID, index: int, frm: str | None, to: str, amount: int = 800, currency: str = "INR") -> Facts:
    at = T0 + timedelta(seconds=10 + index)
    return RefundHistoryFacts(rid, index, frm, to, None, at, P1, currency, amount, "cl_x", "r")


def refunded(rid: uuid.UUID, amount: int = 800) -> list[Facts]:
    return [rh(rid, 0, None, "PENDING", amount), rh(rid, 1, "PENDING", "PROCESSING", amount)]


def back(amount: int, currency: str = "INR") -> tuple[tuple[str, str, int], ...]:
    return (
        (PAYEE, currency, -amount),
        (CLEARING, currency, amount),
        (CLEARING, currency, -amount),
        (PAYER, currency, amount),
    )


def refund_of(
    rid: uuid.UUID, amount: int = 800, postings: tuple[tuple[str, str, int], ...] | None = None
) -> EntryFacts:
    return EntryFacts(
        refund_entry_id(rid), "refund", P1, E1, T0 + timedelta(seconds=20), postings or back(amount), f"refund {rid}"
    )


def succeeded(rid: uuid.UUID, amount: int = 800) -> list[Facts]:
    return [*refunded(rid, amount), rh(rid, 2, "PROCESSING", "SUCCEEDED", amount), refund_of(rid, amount)]


def reversal(amount: int) -> EntryFacts:
    rev = tuple((a, c, -m) for a, c, m in POSTINGS)
    scaled = tuple((a, c, amount if m > 0 else -amount) for a, c, m in rev)
    return entry(uuid.UUID(int=9), P1, "reversal", E1, scaled)


PAID = [*paid(P1), entry(E1, P1)]
"""P1 paid 2800 INR, with its payment entry at seq 4."""


def verdict(facts: list[Facts]) -> list[tuple[int, str]]:
    return both_forms(export(facts))


def test_refunds_that_fit_and_a_reversal_of_what_they_left_verify() -> None:
    failed = [*refunded(R3, 2000), rh(R3, 2, "PROCESSING", "FAILED", 2000)]
    given_up = [rh(uuid.UUID(int=104), 0, None, "PENDING", 100), rh(uuid.UUID(int=104), 1, "PENDING", "FAILED", 100)]
    facts = [*PAID, *succeeded(R1, 800), *failed, *given_up, *succeeded(R2, 1000), reversal(1000)]
    assert verdict(facts) == []


def test_refunds_that_would_hold_more_than_the_payment_are_refused_at_their_first_row() -> None:
    # Pending refunds count, as they do in the database's reservation (migration 0010).
    facts = [*PAID, *refunded(R1, 2000), rh(R2, 0, None, "PENDING", 801)]
    assert verdict(facts) == [
        (7, f"refund {R2}: pending and succeeded refunds of payment {P1} would hold 2801, more than its 2800")
    ]


def test_a_refund_of_a_payment_without_its_entry_or_in_another_currency_is_refused() -> None:
    assert verdict([*paid(P1), rh(R1, 0, None, "PENDING")])[0] == (
        4,
        f"refund {R1}: payment {P1} has no payment entry earlier in the chain",
    )
    assert verdict([*PAID, rh(R1, 0, None, "PENDING", currency="USD")]) == [
        (5, f"refund {R1}: the refund's currency is not its payment's INR")
    ]


def test_the_refund_state_machine_is_followed() -> None:
    assert verdict([*PAID, rh(R1, 0, None, "PROCESSING")]) == [(5, f"refund {R1}: a refund cannot start in PROCESSING")]
    assert verdict([*PAID, rh(R1, 0, None, "PENDING"), rh(R1, 1, "PENDING", "SUCCEEDED")]) == [
        (6, f"refund {R1}: illegal transition PENDING -> SUCCEEDED for a refund")
    ]
    after = [*PAID, *succeeded(R1), rh(R1, 3, "SUCCEEDED", "FAILED")]
    assert verdict(after) == [(9, f"refund {R1}: a history row after the refund's final status")]
    changed = [*PAID, rh(R1, 0, None, "PENDING"), rh(R1, 1, "PENDING", "PROCESSING", amount=900)]
    assert verdict(changed) == [
        (6, f"refund {R1}: payment, currency, amount or client differ from the refund's first row")
    ]


def test_a_succeeded_refund_has_its_entry_and_a_refund_entry_its_succeeded_refund() -> None:
    no_entry = [*PAID, *succeeded(R1)[:-1]]
    assert verdict(no_entry) == [(0, f"refund {R1} SUCCEEDED at seq 7, but its refund entry is not in the chain")]
    no_success = [*PAID, *refunded(R1), refund_of(R1)]
    eid = refund_entry_id(R1)
    assert verdict(no_success) == [
        (
            7,
            f"entry {eid}: a refund entry has the id of the entry of a refund that SUCCEEDED earlier in the chain "
            "and has no entry yet; no refund does",
        )
    ]


@pytest.mark.parametrize(
    ("postings", "complaint"),
    [
        (
            back(700),
            "a refund entry posts four lines of the refund's 800 INR: payee -x, clearing +x, clearing -x, payer +x",
        ),
        (back(800)[:2] + back(800)[2:][::-1], "a refund entry posts four lines"),
        (
            ((PAYER, "INR", -800), (CLEARING, "INR", 800), (CLEARING, "INR", -800), (PAYEE, "INR", 800)),
            "a refund entry moves money back along the accounts of entry",
        ),
    ],
)
def test_a_refund_entry_gives_the_refund_back_along_the_payments_accounts(
    postings: tuple[tuple[str, str, int], ...], complaint: str
) -> None:
    facts = [*PAID, *succeeded(R1)[:-1], refund_of(R1, postings=postings)]
    found = verdict(facts)
    assert len(found) == 1 and found[0][0] == 8 and complaint in found[0][1], found


def test_nothing_is_refunded_after_a_reversal() -> None:
    assert verdict([*PAID, reversal(2800), rh(R1, 0, None, "PENDING")]) == [
        (6, f"refund {R1}: payment {P1} is reversed: nothing is refunded after a reversal")
    ]
    in_flight = [*PAID, *refunded(R1), reversal(2800), rh(R1, 2, "PROCESSING", "SUCCEEDED"), refund_of(R1)]
    assert verdict(in_flight) == [
        (9, f"entry {refund_entry_id(R1)}: entry {E1} is reversed: nothing is refunded after a reversal")
    ]


def test_a_reversal_after_refunds_moves_only_what_is_left() -> None:
    assert verdict([*PAID, *succeeded(R1), reversal(2800)]) == [
        (9, f"entry {uuid.UUID(int=9)}: a reversal of entry {E1}, refunded in part, moves what is left: 2000")
    ]
    assert verdict([*PAID, *succeeded(R1, 2800), reversal(2800)]) == [
        (9, f"entry {uuid.UUID(int=9)}: entry {E1} is refunded in full: nothing is left to reverse")
    ]


def test_a_refund_entry_is_not_reversed_and_refunds_only_a_payment_entry() -> None:
    eid = refund_entry_id(R1)
    undo = entry(uuid.UUID(int=10), P1, "reversal", eid, back(-800))
    assert verdict([*PAID, *succeeded(R1), undo]) == [
        (9, f"entry {uuid.UUID(int=10)}: entry {eid} is a refund, and a refund is not reversed")
    ]
    fee = ((PAYEE, "INR", -100), ("merchant:fees", "INR", 100))
    correction = entry(uuid.UUID(int=11), P1, "correction", E1, fee)
    wrong_ref = EntryFacts(eid, "refund", P1, uuid.UUID(int=11), T0, back(800), "r")
    assert verdict([*PAID, correction, *succeeded(R1)[:-1], wrong_ref]) == [
        (9, f"entry {eid}: a refund entry references the payment entry of its refund's payment"),
    ]  # a refused refund entry still ends its refund: not reported again at the end


def test_the_refund_rules_judge_alike_with_entries_on_disk() -> None:
    from flosspay.ledger_verify import ChainVerifier

    cases = [
        [*PAID, *succeeded(R1, 800), *succeeded(R2, 1000), reversal(1000)],
        [*PAID, *succeeded(R1), reversal(2800)],
        [*PAID, reversal(2800), rh(R1, 0, None, "PENDING")],
        [*PAID, *refunded(R1, 2000), rh(R2, 0, None, "PENDING", 801)],
    ]
    for facts in cases:
        for lines in (export(facts), [loosen(line) for line in export(facts)]):
            memory = ChainVerifier().verify(lines)
            disk = ChainVerifier(memory_items=1).verify(lines)
            assert [(p.seq, p.what) for p in disk.problems] == [(p.seq, p.what) for p in memory.problems]
