"""The double-entry ledger: entries, the chart of accounts, posting on completion, reversals, the chainer."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.adapters.http.views import state_body
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.ledger_audit import export_lines, verify_database
from flosspay.application.ledger_chain import Chainer, ChainPolicy, chain_all, chain_pending, checkpoint_now
from flosspay.application.ledger_corrections import correct_entry, reverse_entry
from flosspay.application.ledger_head import ledger_head
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.application.process import process_payment
from flosspay.application.status import get_status
from flosspay.domain.chain import GENESIS
from flosspay.domain.errors import NotFound
from flosspay.domain.ledger import (
    EntryKind,
    JournalEntry,
    LedgerError,
    Posting,
    account,
    balance,
    completed_payment_entry,
    payee_account,
    payer_account,
    payment_accounts,
    payment_entry_id,
)
from flosspay.domain.money import Money
from flosspay.domain.payment import Flow, Payment
from flosspay.domain.rail import Outcome, RailResult
from tests.fakes import FakeClock, FakeRail, FakeRailRegistry, FakeUnitOfWorkFactory

pytestmark = pytest.mark.unit

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def inr(minor: int) -> Money:
    return Money(minor, "INR")


def payment(
    rail: str = "upi",
    details: dict[str, str] | None = None,
    client: str = "cl_1",
    payer: tuple[str, ...] = ("vpa", "alice@upi"),
    payee: tuple[str, ...] = ("vpa", "bob@upi"),
) -> Payment:
    payer_name, payee_name = payment_accounts(rail, client, uuid.UUID(int=1), payer, payee)
    made = Payment.accept(
        id=uuid.UUID(int=1),
        client_id=client,
        flow=Flow.PAY,
        method=rail.upper(),
        rail=rail,
        amount=inr(2800),
        details=details if details is not None else {"senderUpi": "Alice@UPI", "receiverUpi": "bob@upi"},
        public={},
        note=None,
        now=T0,
        payer_account=payer_name,
        payee_account=payee_name,
    )
    made.claim("w", T0, T0 + timedelta(seconds=30))
    made.complete(T0, "ok", 1)
    return made


# --- entries and accounts --------------------------------------------------------------------------


def test_account_names_are_rail_qualified_and_escape_what_could_confuse_a_reader() -> None:
    assert account("upi", "vpa", "alice@upi") == "upi:vpa:alice@upi"
    assert account("wallet", "paytm", 'a b,"c"') == "wallet:paytm:a%20b%2C%22c%22"
    with pytest.raises(ValueError):
        account("upi")


@pytest.mark.parametrize(
    ("rail", "segments", "payer", "payee"),
    [
        ("upi", (("vpa", "alice@upi"), ("vpa", "shop@okaxis")), "upi:vpa:alice@upi", "upi:vpa:shop@okaxis"),
        ("card", (("token", "tok_9f8e"), ()), "card:token:tok_9f8e", "merchant:cl_1"),
        ("wallet", (("paytm", "w-77"), ()), "wallet:paytm:w-77", "merchant:cl_1"),
        ("netbank", ((), ()), "netbank:payer:00000000-0000-0000-0000-000000000001", "merchant:cl_1"),
        ("NetBank", (("bank", "HDFC", "a b"), ()), "netbank:bank:HDFC:a%20b", "merchant:cl_1"),
    ],
)
def test_the_rail_names_payer_and_payee_and_the_entry_posts_to_them(
    rail: str, segments: tuple[tuple[str, ...], tuple[str, ...]], payer: str, payee: str
) -> None:
    made = payment(rail, {}, payer=segments[0], payee=segments[1])
    assert (payer_account(made), payee_account(made)) == (payer, payee)
    entry = completed_payment_entry(made, T0)
    assert [(p.account, p.amount.minor) for p in entry.postings] == [
        (payer, -2800),
        (f"{rail.lower()}:clearing", 2800),
        (f"{rail.lower()}:clearing", -2800),
        (payee, 2800),
    ]
    assert entry.id == payment_entry_id(made.id) and entry.kind is EntryKind.PAYMENT


def test_details_no_longer_name_accounts_only_what_the_rail_declared_does() -> None:
    made = payment("upi", {"senderUpi": "mallory@upi", "receiverUpi": "eve@upi"}, payer=(), payee=())
    assert payer_account(made) == "upi:payer:00000000-0000-0000-0000-000000000001"
    assert payee_account(made) == "merchant:cl_1"


@pytest.mark.parametrize(
    ("postings", "complaint"),
    [
        ((Posting("a:b", inr(5)),), "at least two postings"),
        ((Posting("a:b", inr(5)), Posting("a:c", inr(-4))), "do not balance"),
        ((Posting("a:b", inr(5)), Posting("a:c", Money(-5, "USD"))), "do not balance"),
        ((Posting("a:b", inr(0)), Posting("a:c", inr(0))), "moves nothing"),
        ((Posting("ab", inr(5)), Posting("a:c", inr(-5))), "malformed account"),
        ((Posting('a:"b"', inr(5)), Posting("a:c", inr(-5))), "malformed account"),
    ],
)
def test_an_entry_that_breaks_a_rule_cannot_exist(postings: tuple[Posting, ...], complaint: str) -> None:
    with pytest.raises(LedgerError, match=complaint):
        JournalEntry(uuid.uuid4(), EntryKind.PAYMENT, T0, "x", postings, payment_id=uuid.uuid4())


def test_kinds_and_references_go_together() -> None:
    legs = (Posting("a:b", inr(5)), Posting("a:c", inr(-5)))
    with pytest.raises(LedgerError, match="names its payment"):
        JournalEntry(uuid.uuid4(), EntryKind.PAYMENT, T0, "x", legs)
    with pytest.raises(LedgerError, match="references the entry"):
        JournalEntry(uuid.uuid4(), EntryKind.CORRECTION, T0, "x", legs)
    with pytest.raises(LedgerError, match="only a COMPLETED payment"):
        completed_payment_entry(Payment.accept(**_accept_args()), T0)


def _accept_args() -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "client_id": "c",
        "flow": Flow.PAY,
        "method": "UPI",
        "rail": "upi",
        "amount": inr(1),
        "details": {},
        "public": {},
        "note": None,
        "now": T0,
    }


def test_a_reversal_negates_every_posting_and_references_the_original() -> None:
    original = completed_payment_entry(payment(), T0)
    reversal = original.reversal(uuid.uuid4(), T0 + timedelta(days=1), "refund")
    assert reversal.kind is EntryKind.REVERSAL and reversal.ref_entry_id == original.id
    assert [p.amount for p in reversal.postings] == [-p.amount for p in original.postings]
    assert reversal.payment_id == original.payment_id
    with pytest.raises(LedgerError, match="not reversed"):
        reversal.reversal(uuid.uuid4(), T0, "again")
    both = [original, reversal]
    assert balance(both, "upi:vpa:alice@upi") == {"INR": 0}
    assert balance(both, "upi:vpa:alice@upi", as_of=T0) == {"INR": -2800}
    assert balance(both, "upi:vpa:nobody@upi") == {}


# --- the use cases over the fakes ------------------------------------------------------------------


class World:
    def __init__(self) -> None:
        self.uow = FakeUnitOfWorkFactory()
        self.rail = FakeRail()
        self.rails = FakeRailRegistry(self.rail)
        self.clock = FakeClock()

    def pay(self, amount: int = 28, *script: RailResult) -> uuid.UUID:
        intent = PaymentIntent(
            "c1", uuid.uuid4().hex, "fp", "UPI", Flow.PAY, amount, "INR", {"senderUpi": "a@upi", "receiverUpi": "b@upi"}
        )
        accepted = accept_payment(
            intent, uow_factory=self.uow, rails=self.rails, clock=self.clock, policy=IntakePolicy(), **HTTP_INTAKE
        )
        assert accepted.payment_id is not None
        payment_id = uuid.UUID(accepted.payment_id)
        self.rail.script = list(script)
        self.clock.advance(1)
        process_payment(
            payment_id,
            worker="w",
            uow_factory=self.uow,
            rails=self.rails,
            clock=self.clock,
            policy=ProcessingPolicy(),
        )
        return payment_id


def test_completion_posts_exactly_one_entry_in_the_same_commit_and_failure_posts_none() -> None:
    world = World()
    paid = world.pay(28)
    failed = world.pay(5, RailResult(Outcome.DECLINED, "Z9", "no funds"))
    store = world.uow.store
    assert [e.payment_id for e in store.entries.values()] == [paid]
    assert store.payments[failed].is_final
    status = json.loads(state_body(get_status("c1", str(paid), uow_factory=world.uow)))
    assert status["ledgerEntryId"] == str(payment_entry_id(paid))
    assert "ledgerEntryId" not in json.loads(state_body(get_status("c1", str(failed), uow_factory=world.uow)))
    # Processing the completed payment again changes nothing.
    process_payment(
        paid,
        worker="w2",
        uow_factory=world.uow,
        rails=world.rails,
        clock=world.clock,
        policy=ProcessingPolicy(),
    )
    assert len(store.entries) == 1


def test_reverse_and_correct_through_the_use_cases() -> None:
    world = World()
    paid = world.pay(28)
    original = payment_entry_id(paid)
    reversal = reverse_entry(original, "refund", uow_factory=world.uow, clock=world.clock)
    assert world.uow.store.entries[reversal.id] == reversal
    with pytest.raises(LedgerError, match="already reversed"):
        reverse_entry(original, "again", uow_factory=world.uow, clock=world.clock)
    with pytest.raises(NotFound):
        reverse_entry(uuid.uuid4(), "who?", uow_factory=world.uow, clock=world.clock)
    fee = [Posting("upi:vpa:b@upi", inr(-10)), Posting("merchant:fees", inr(10))]
    correction = correct_entry(original, "fee", fee, uow_factory=world.uow, clock=world.clock)
    assert correction.ref_entry_id == original and correction.kind is EntryKind.CORRECTION
    chain_all(uow_factory=world.uow, clock=world.clock)
    report = verify_database(uow_factory=world.uow, clock=world.clock)
    assert report.ok, report.problems
    assert report.head_seq == 3 + 3


def test_the_chainer_takes_batches_checkpoints_when_due_and_the_head_follows() -> None:
    world = World()
    for _ in range(3):
        world.pay(10)  # 4 records each
    assert ledger_head(uow_factory=world.uow).seq == 0
    assert ledger_head(uow_factory=world.uow).hash == GENESIS.hex()
    chainer = Chainer(world.uow, world.clock, ChainPolicy(batch=5, checkpoint_every=8))
    passes = [chainer() for _ in range(4)]
    assert [p.chained for p in passes] == [5, 5, 2, 0]
    assert [p.checkpoint.seq if p.checkpoint else None for p in passes] == [None, 10, None, None]
    head = ledger_head(uow_factory=world.uow)
    assert head.seq == 12 and head.checkpoint is not None and head.checkpoint.seq == 10
    assert head.hash == world.uow.store.chain[-1].hash.hex()
    assert checkpoint_now(uow_factory=world.uow, clock=world.clock).seq == 12
    with pytest.raises(LedgerError, match="already has an unsigned checkpoint"):
        checkpoint_now(uow_factory=world.uow, clock=world.clock, signer=_FixedSigner())
    lines = list(export_lines(uow_factory=world.uow, clock=world.clock, batch=5))
    assert [line[:14] for line in lines].count(b'{"checkpoint":') == 2
    assert verify_database(uow_factory=world.uow, clock=world.clock, chain_first=False).ok
    with pytest.raises(ValueError):
        ChainPolicy(batch=0)
    assert chain_pending(uow_factory=world.uow, clock=world.clock).chained == 0


class _FixedSigner:
    public_key = b"\x01" * 32

    def sign(self, message: bytes) -> bytes:
        return b"\x02" * 64


def test_a_refund_entry_moves_the_amount_back_along_the_payments_accounts() -> None:
    from flosspay.domain.ledger import EntryKind as K
    from flosspay.domain.ledger import JournalEntry as J
    from flosspay.domain.ledger import LedgerError as E
    from flosspay.domain.ledger import Posting as P
    from flosspay.domain.ledger import refund_entry, refund_entry_id
    from flosspay.domain.money import Money as M

    pid, rid = uuid.uuid4(), uuid.uuid4()
    at = datetime(2026, 12, 1, tzinfo=UTC)
    paid = J(
        uuid.uuid4(),
        K.PAYMENT,
        at,
        "paid",
        (
            P("upi:vpa:a@upi", M(-500, "INR")),
            P("upi:clearing", M(500, "INR")),
            P("upi:clearing", M(-500, "INR")),
            P("upi:vpa:b@upi", M(500, "INR")),
        ),
        payment_id=pid,
    )
    refund = refund_entry(paid, rid, M(200, "INR"), at)
    assert refund.id == refund_entry_id(rid) and refund.kind is K.REFUND
    assert refund.ref_entry_id == paid.id and refund.payment_id == pid
    assert [(p.account, p.amount.minor) for p in refund.postings] == [
        ("upi:vpa:b@upi", -200),
        ("upi:clearing", 200),
        ("upi:clearing", -200),
        ("upi:vpa:a@upi", 200),
    ]
    for bad in (M(501, "INR"), M(0, "INR"), M(100, "EUR")):
        with pytest.raises(E):
            refund_entry(paid, rid, bad, at)
    with pytest.raises(E):
        refund_entry(refund, rid, M(1, "INR"), at)
