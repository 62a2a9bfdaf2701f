"""Properties: any sequence of legal operations, chained at any moments in any batch sizes, yields a
ledger that verifies and balances; and changing any one record of its export is caught right there."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.ledger_audit import export_lines, verify_database
from flosspay.application.ledger_chain import ChainPolicy, chain_all, chain_pending
from flosspay.application.ledger_corrections import reverse_entry
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.application.process import process_payment
from flosspay.domain.ledger import EntryKind, balance
from flosspay.domain.payment import Flow, is_legal_path
from flosspay.domain.rail import Outcome, RailResult
from flosspay.ledger_verify import verify_lines
from tests.fakes import FakeClock, FakeRail, FakeRailRegistry, FakeUnitOfWorkFactory

pytestmark = pytest.mark.unit

POLICY = ProcessingPolicy(max_attempts=3, lease=timedelta(seconds=30), poll_interval=timedelta(seconds=2))
# Every outcome a rail can give, COMPLETED more often so that many payments get posted.
OUTCOMES = [o for o in Outcome if o is not Outcome.NOT_FOUND] + [Outcome.COMPLETED] * 6
VPAS = ["alice@upi", "bob@upi", "carol@okaxis", "dave@ybl"]

accept_op = st.tuples(
    st.just("accept"), st.sampled_from([Flow.PAY, Flow.COLLECT]), st.integers(1, 10**6), st.sampled_from(VPAS)
)
process_op = st.tuples(st.just("process"), st.integers(0, 50), st.sampled_from(OUTCOMES), st.booleans())
reverse_op = st.tuples(st.just("reverse"), st.integers(0, 50))
chain_op = st.tuples(st.just("chain"), st.integers(1, 6), st.integers(0, 5))
operations = st.lists(st.one_of(accept_op, process_op, process_op, reverse_op, chain_op), min_size=4, max_size=40)


class Ledger:
    def __init__(self) -> None:
        self.uow = FakeUnitOfWorkFactory()
        self.rail = FakeRail()
        self.rails = FakeRailRegistry(self.rail)
        self.clock = FakeClock()
        self.payments: list[uuid.UUID] = []

    def apply(self, op: tuple[object, ...]) -> None:
        self.clock.advance(1)
        if op[0] == "accept":
            _, flow, amount, sender = op
            assert isinstance(flow, Flow) and isinstance(amount, int) and isinstance(sender, str)
            receiver = "shop@okaxis" if sender != "shop@okaxis" else "bob@upi"
            intent = PaymentIntent(
                "c1", uuid.uuid4().hex, "fp", "UPI", flow, amount, "INR", {"senderUpi": sender, "receiverUpi": receiver}
            )
            accepted = accept_payment(
                intent, uow_factory=self.uow, rails=self.rails, clock=self.clock, policy=IntakePolicy(), **HTTP_INTAKE
            )
            assert accepted.payment_id is not None
            self.payments.append(uuid.UUID(accepted.payment_id))
        elif op[0] == "process" and self.payments:
            _, pick, outcome, final = op
            assert isinstance(pick, int) and isinstance(outcome, Outcome) and isinstance(final, bool)
            self.rail.script = [RailResult(outcome, "C", "scripted")]
            process_payment(
                self.payments[pick % len(self.payments)],
                worker="w",
                uow_factory=self.uow,
                rails=self.rails,
                clock=self.clock,
                policy=POLICY,
            )
        elif op[0] == "reverse":
            entries = [e for e in self.uow.store.entries.values() if e.kind is EntryKind.PAYMENT]
            reversed_ = {e.ref_entry_id for e in self.uow.store.entries.values() if e.kind is EntryKind.REVERSAL}
            candidates = [e for e in entries if e.id not in reversed_]
            if candidates:
                pick = op[1]
                assert isinstance(pick, int)
                reverse_entry(candidates[pick % len(candidates)].id, "refund", uow_factory=self.uow, clock=self.clock)
        elif op[0] == "chain":
            _, batch, every = op
            assert isinstance(batch, int) and isinstance(every, int)
            chain_pending(
                uow_factory=self.uow, clock=self.clock, policy=ChainPolicy(batch=batch, checkpoint_every=every)
            )


def _built(ops: list[tuple[object, ...]]) -> Ledger:
    ledger = Ledger()
    for op in ops:
        ledger.apply(op)
    chain_all(uow_factory=ledger.uow, clock=ledger.clock, policy=ChainPolicy(batch=3, checkpoint_every=0))
    return ledger


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations)
def test_any_sequence_of_legal_operations_yields_a_verifying_balanced_ledger(ops: list[tuple[object, ...]]) -> None:
    ledger = _built(ops)
    store = ledger.uow.store
    report = verify_database(uow_factory=ledger.uow, clock=ledger.clock, chain_first=False)
    assert report.ok, report.problems

    history_rows = sum(len(p.history) for p in store.payments.values())
    assert report.head_seq == len(store.chain) == history_rows + len(store.entries)
    assert [link.seq for link in store.chain] == list(range(1, len(store.chain) + 1))
    for payment in store.payments.values():
        assert is_legal_path(payment.flow, [h.to_status for h in payment.history])
        has_entry = any(e.payment_id == payment.id and e.kind is EntryKind.PAYMENT for e in store.entries.values())
        assert has_entry == (payment.status.value == "COMPLETED")
    accounts = {p.account for e in store.entries.values() for p in e.postings}
    totals = [balance(store.entries.values(), name) for name in accounts]
    assert sum(t.get("INR", 0) for t in totals) == 0  # money is neither made nor lost
    for entry in store.entries.values():
        assert sum(p.amount.minor for p in entry.postings) == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations.filter(lambda ops: any(op[0] == "accept" for op in ops)), st.data())
def test_changing_any_one_record_of_an_export_is_caught_at_its_seq(
    ops: list[tuple[object, ...]], data: st.DataObject
) -> None:
    ledger = _built(ops)
    lines = list(export_lines(uow_factory=ledger.uow, clock=ledger.clock))
    records = [i for i, line in enumerate(lines) if line.startswith(b'{"hash"')]
    index = data.draw(st.sampled_from(records))
    obj = json.loads(lines[index])
    record = obj["record"]
    field = data.draw(st.integers(2, len(record) - 1))
    value = record[field]
    if isinstance(value, int) and not isinstance(value, bool):
        record[field] = value + 1
    elif isinstance(value, str):
        record[field] = value + "x"
    elif value is None:
        record[field] = "x"
    else:
        record[field] = value[:-1] if len(value) > 2 else [*value, ["x:y", "INR", 1]]
    lines[index] = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    report = verify_lines(lines)
    assert report.problems and report.problems[0].seq == record[0], (field, report.problems)
    assert "hash mismatch" in report.problems[0].what
