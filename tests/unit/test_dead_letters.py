"""Bounded attempts on every path, FlossPay's own dead letters, and the way back (issue 9 §1, §4)."""

import uuid
from datetime import timedelta

import pytest

from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.dead_letters import (
    count_parked,
    parked_payments,
    requeue_parked,
    stuck_payments,
)
from flosspay.application.policies import IntakePolicy
from flosspay.application.process import Disposition
from flosspay.application.relay import recover_stalled, relay_outbox
from flosspay.domain.errors import ValidationFailed
from flosspay.domain.ledger import LedgerError
from flosspay.domain.payment import AttemptOutcome, PaymentStatus
from flosspay.domain.rail import Outcome, RailResult
from tests.fakes import FakeQueue, _Ledger
from tests.unit.test_process_payment import World

pytestmark = pytest.mark.unit


@pytest.fixture
def broken_ledger(monkeypatch):
    """Every journal write fails, as a too-long account name did (the bug of issue 9)."""

    def fail(self, entry):
        raise LedgerError("account name too long")

    monkeypatch.setattr(_Ledger, "add", fail)
    return monkeypatch


def test_a_failure_while_recording_counts_as_an_attempt_and_parks_the_payment(broken_ledger):
    w = World(max_attempts=3)
    first = w.run()
    assert first.disposition is Disposition.RETRY and "LedgerError" in first.detail
    p = w.payment
    # The rail's answer is kept on the attempt: money moved, and it is never shown as FAILED.
    assert p.status is PaymentStatus.PROCESSING
    assert p.attempts[0].outcome is AttemptOutcome.COMPLETED and "recording the outcome failed" in p.attempts[0].reason
    assert w.run().disposition is Disposition.RETRY  # asks status: COMPLETED, recording fails again
    parked = w.run()
    assert parked.disposition is Disposition.PARKED
    p = w.payment
    assert p.is_parked and p.status is PaymentStatus.PROCESSING and p.lease_owner is None
    assert "3 attempts" in p.parked_reason and "COMPLETED" in p.parked_reason
    assert w.rail.calls == [("execute", str(w.pid)), ("status", str(w.pid)), ("status", str(w.pid))]
    assert sum(w.rail.charged.values()) == 1
    # Bounded on every path: broker redelivery, the stalled sweep (even much later), recovery at start.
    assert w.run().disposition is Disposition.DONE
    w.clock.advance(5 * 3600)
    assert recover_stalled(uow_factory=w.uow, clock=w.clock, idle_after=timedelta(minutes=5)) == 0
    assert recover_stalled(uow_factory=w.uow, clock=w.clock, idle_after=timedelta(0)) == 0
    assert len(w.rail.calls) == 3
    assert [x.id for x in parked_payments(uow_factory=w.uow)] == [w.pid]
    assert count_parked(uow_factory=w.uow) == 1


def test_requeue_after_the_fix_records_once_without_a_second_debit(broken_ledger):
    w = World(max_attempts=2)
    queue = FakeQueue()
    assert relay_outbox(uow_factory=w.uow, queue=queue, clock=w.clock) == 1  # the intake's message
    w.run()
    assert w.run().disposition is Disposition.PARKED
    broken_ledger.undo()  # the cause is fixed
    assert requeue_parked(uow_factory=w.uow, clock=w.clock, payment_id=None) == 1
    assert requeue_parked(uow_factory=w.uow, clock=w.clock, payment_id=None) == 0  # twice: nothing changes
    assert requeue_parked(uow_factory=w.uow, clock=w.clock, payment_id=w.pid) == 0
    assert relay_outbox(uow_factory=w.uow, queue=queue, clock=w.clock) == 1  # the requeue's, once
    assert w.run().disposition is Disposition.DONE
    p = w.payment
    assert p.status is PaymentStatus.COMPLETED and not p.is_parked
    assert sum(w.rail.charged.values()) == 1 and [c for c, _ in w.rail.calls].count("execute") == 1
    assert len(w.uow.store.entries) == 1
    assert count_parked(uow_factory=w.uow) == 0


def test_attempts_that_never_finished_are_bounded_too():
    """A worker that dies mid-call (or while recording) leaves STARTED attempts; they count."""
    w = World(max_attempts=2)
    for _ in range(2):
        with w.uow() as uow:
            p = uow.payments.get(w.pid)
            p.claim("dead", w.clock.now(), w.clock.now() + timedelta(seconds=30))
            p.start_attempt(w.clock.now(), "execute")
            uow.payments.save(p)
            uow.commit()
        w.clock.advance(31)
    result = w.run()
    assert result.disposition is Disposition.PARKED and "never finished" in result.detail
    assert w.rail.calls == []


def test_a_retry_is_due_back_and_the_sweep_resends_it_when_its_message_is_lost():
    w = World(RailResult(Outcome.TRANSIENT, "91", "try later"))
    relay_outbox(uow_factory=w.uow, queue=FakeQueue(), clock=w.clock)
    assert w.run().disposition is Disposition.RETRY
    assert recover_stalled(uow_factory=w.uow, clock=w.clock, idle_after=timedelta(minutes=5)) == 0
    w.clock.advance(w.policy.retry_window.total_seconds() + 1)
    assert recover_stalled(uow_factory=w.uow, clock=w.clock, idle_after=timedelta(minutes=5)) == 1


def test_an_overlong_rail_code_is_cut_to_what_can_be_stored():
    w = World(RailResult(Outcome.DECLINED, "X" * 100, "no"))
    assert w.run().disposition is Disposition.DONE
    assert w.payment.failure_code == "X" * 64 and w.payment.attempts[0].code == "X" * 64


@pytest.mark.parametrize("field", ["senderUpi", "receiverUpi"])
def test_a_request_whose_ledger_account_cannot_be_stored_is_refused_naming_the_field(field):
    """The fake rail accepts any address, as a third-party rail might: the core still refuses it."""
    w = World()
    fields = {"senderUpi": "alice@upi", "receiverUpi": "bob@upi"}
    fields[field] = "b" * 243 + "@bank"
    intent = PaymentIntent("c1", "k2", "fp2", "UPI", w.payment.flow, 100, "INR", fields)
    with pytest.raises(ValidationFailed) as caught:
        accept_payment(intent, uow_factory=w.uow, rails=w.rails, clock=w.clock, policy=IntakePolicy(), **HTTP_INTAKE)
    assert [e.field for e in caught.value.errors] == [field]
    assert len(w.uow.store.payments) == 1  # nothing stored


def test_the_longest_storable_address_is_accepted():
    w = World()
    intent = PaymentIntent(
        "c1", "k3", "fp3", "UPI", w.payment.flow, 100, "INR", {"senderUpi": "a@b", "receiverUpi": "b" * 242 + "@bank"}
    )
    accepted = accept_payment(
        intent, uow_factory=w.uow, rails=w.rails, clock=w.clock, policy=IntakePolicy(), **HTTP_INTAKE
    )
    assert uuid.UUID(accepted.payment_id) in w.uow.store.payments


def test_stuck_payments_are_reported_but_parked_ones_are_not(broken_ledger):
    w = World(max_attempts=1)
    assert stuck_payments(uow_factory=w.uow, clock=w.clock, untouched_for=timedelta(hours=1)) == []
    w.clock.advance(2 * 3600)
    assert [p.id for p in stuck_payments(uow_factory=w.uow, clock=w.clock, untouched_for=timedelta(hours=1))] == [w.pid]
    assert w.run().disposition is Disposition.PARKED
    w.clock.advance(2 * 3600)
    assert stuck_payments(uow_factory=w.uow, clock=w.clock, untouched_for=timedelta(hours=1)) == []


def test_exhaustion_after_an_inconclusive_answer_parks_instead_of_failing():
    """Money may have moved (UNCERTAIN, then the PSP never answers the status): never shown FAILED."""
    w = World(RailResult(Outcome.UNCERTAIN, "RB", "deemed"), *[RailResult(Outcome.TRANSIENT, "UP", "down")] * 5)
    w.rail.status = lambda request: RailResult(Outcome.TRANSIENT, "UP", "status unavailable")
    dispositions = [w.run().disposition for _ in range(3)]
    assert dispositions == [Disposition.RETRY, Disposition.RETRY, Disposition.PARKED]
    p = w.payment
    assert p.status is PaymentStatus.PROCESSING and p.is_parked and "may have moved money" in p.parked_reason


def test_exhaustion_when_nothing_can_have_moved_still_fails():
    w = World(*[RailResult(Outcome.TRANSIENT, "UP", "down")] * 5)
    assert [w.run().disposition for _ in range(3)][-1] is Disposition.EXHAUSTED
    assert w.payment.status is PaymentStatus.FAILED and not w.payment.is_parked
