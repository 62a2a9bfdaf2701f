"""Refunds (issue 13) on fakes: the state machine, the request rules, processing, and refunded ≤ paid."""

from __future__ import annotations

import contextlib
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.adapters.http.refund_views import accepted_refund_answer, refund_detail_body
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.application.process import Disposition, process_payment
from flosspay.application.process_refund import process_refund
from flosspay.application.refunds import RefundCommand, get_refund, request_refund
from flosspay.application.relay import relay_outbox
from flosspay.domain.errors import (
    IdempotencyConflict,
    IllegalTransition,
    NotFound,
    NotRefundable,
    PaymentBusy,
    ValidationFailed,
)
from flosspay.domain.ledger import EntryKind, refund_entry_id
from flosspay.domain.money import Money
from flosspay.domain.outbox import TOPIC_REFUND
from flosspay.domain.payment import AttemptOutcome, PaymentStatus
from flosspay.domain.rail import Outcome, RailResult, RefundResult, takes_partial_refunds, takes_refunds
from flosspay.domain.refund import Refund, RefundStatus, is_legal_refund_path
from tests.fakes import FakeClock, FakeQueue, FakeRail, FakeRailRegistry, FakeUnitOfWorkFactory

pytestmark = pytest.mark.unit
R = RefundStatus


class World:
    """One COMPLETED payment of 100.00 INR (or one left in ``status``) on a scriptable fake rail."""

    def __init__(self, *, complete: bool = True, rail: FakeRail | None = None, max_attempts: int = 3) -> None:
        self.uow = FakeUnitOfWorkFactory()
        self.rail = rail or FakeRail()
        self.rails = FakeRailRegistry(self.rail)
        self.clock = FakeClock()
        self.policy = ProcessingPolicy(max_attempts=max_attempts, lease=timedelta(seconds=30))
        intent = PaymentIntent(
            "c1",
            "pay-key",
            "fp",
            "UPI",
            _flow(),
            Decimal("100.00"),
            "INR",
            {"senderUpi": "a@upi", "receiverUpi": "b@upi"},
        )
        accepted = accept_payment(
            intent, uow_factory=self.uow, rails=self.rails, clock=self.clock, policy=IntakePolicy(), **HTTP_INTAKE
        )
        assert accepted.payment_id is not None
        self.pid = uuid.UUID(accepted.payment_id)
        if complete:
            result = process_payment(
                self.pid, worker="w", uow_factory=self.uow, rails=self.rails, clock=self.clock, policy=self.policy
            )
            assert result.disposition is Disposition.DONE
        self._keys = 0

    def refund(
        self,
        amount: Any = None,
        *,
        key: str | None = None,
        client: str = "c1",
        reason: str | None = None,
        fingerprint: str | None = None,
    ) -> dict[str, Any]:
        self._keys += 1
        key = key or f"r{self._keys}"
        command = RefundCommand(
            client_id=client,
            idempotency_key=key,
            fingerprint=fingerprint or f"fp-{key}",
            payment_id=str(self.pid),
            amount=amount,
            reason=reason,
        )
        accepted = request_refund(
            command,
            uow_factory=self.uow,
            rails=self.rails,
            clock=self.clock,
            policy=IntakePolicy(),
            render=accepted_refund_answer,
        )
        body: dict[str, Any] = msgspec.json.decode(accepted.answer.body)
        body["_replayed"] = accepted.replayed
        body["_status"] = accepted.answer.status
        return body

    def process(self, refund_id: str, worker: str = "w") -> Disposition:
        return process_refund(
            uuid.UUID(refund_id),
            worker=worker,
            uow_factory=self.uow,
            rails=self.rails,
            clock=self.clock,
            policy=self.policy,
        ).disposition

    def stored(self, refund_id: str) -> Refund:
        return self.uow.store.refunds[uuid.UUID(refund_id)]

    @property
    def reserved(self) -> int:
        return self.uow.store.reserved.get(self.pid, 0)


def _flow() -> Any:
    from flosspay.domain.payment import Flow

    return Flow.PAY


# --- the state machine ----------------------------------------------------------------------------------


def test_state_machine_walks_only_its_four_edges() -> None:
    assert is_legal_refund_path([R.PENDING, R.PROCESSING, R.SUCCEEDED])
    assert is_legal_refund_path([R.PENDING, R.PROCESSING, R.FAILED])
    assert not is_legal_refund_path([R.PENDING, R.SUCCEEDED])
    assert not is_legal_refund_path([R.PROCESSING])
    assert not is_legal_refund_path([R.PENDING, R.PROCESSING, R.SUCCEEDED, R.FAILED])
    assert not is_legal_refund_path([])


def test_refund_history_lease_and_final_states() -> None:
    w = World()
    payment = w.uow.store.payments[w.pid]
    now = w.clock.now()
    refund = Refund.request(id=uuid.uuid4(), payment=payment, amount=Money(500, "INR"), reason="damaged", now=now)
    assert refund.status is R.PENDING and [h.to_status for h in refund.history] == [R.PENDING]
    with pytest.raises(IllegalTransition):
        refund.succeed(now, "too early", None)
    refund.claim("w1", now, now + timedelta(seconds=30))
    assert refund.status is R.PROCESSING and refund.lease_owner == "w1"
    with pytest.raises(PaymentBusy):
        refund.claim("w2", now, now + timedelta(seconds=30))
    refund.claim("w2", now + timedelta(seconds=31), now + timedelta(seconds=61))  # the lease lapsed
    assert refund.lease_owner == "w2" and [h.to_status for h in refund.history] == [R.PENDING, R.PROCESSING]
    number = refund.start_attempt(now).number
    refund.finish_attempt(number, AttemptOutcome.COMPLETED, "00", "ok", now)
    refund.succeed(now, "rail confirmed", number)
    assert refund.is_final and refund.lease_owner is None
    assert [(h.from_status, h.to_status, h.attempt) for h in refund.history] == [
        (None, R.PENDING, None),
        (R.PENDING, R.PROCESSING, None),
        (R.PROCESSING, R.SUCCEEDED, 1),
    ]
    with pytest.raises(IllegalTransition):
        refund.fail("X", "after success", now, None)
    with pytest.raises(IllegalTransition):
        refund.claim("w1", now, now)
    with pytest.raises(IllegalTransition):
        refund.park("late", now)


def test_only_a_completed_payment_makes_a_refund() -> None:
    w = World(complete=False)
    payment = w.uow.store.payments[w.pid]
    with pytest.raises(NotRefundable, match="QUEUED"):
        Refund.request(id=uuid.uuid4(), payment=payment, amount=Money(1, "INR"), reason=None, now=w.clock.now())


def test_park_and_requeue_give_a_fresh_budget() -> None:
    w = World()
    payment = w.uow.store.payments[w.pid]
    now = w.clock.now()
    refund = Refund.request(id=uuid.uuid4(), payment=payment, amount=Money(1, "INR"), reason=None, now=now)
    refund.claim("w", now, now)
    refund.start_attempt(now)  # never finished: may have moved money
    assert refund.may_have_moved_money() and refund.attempts_spent() == 1
    refund.park("stuck", now)
    with pytest.raises(IllegalTransition):
        refund.claim("w", now, now)
    refund.unpark(now)
    assert refund.attempts_spent() == 0 and not refund.is_parked


# --- requesting a refund ----------------------------------------------------------------------------------


def test_full_refund_by_default_is_accepted_reserved_and_scheduled() -> None:
    w = World()
    body = w.refund(reason="customer asked")
    assert body["_status"] == 202 and not body["_replayed"]
    assert {k: body[k] for k in ("paymentId", "amount", "currency", "status", "reason")} == {
        "paymentId": str(w.pid),
        "amount": "100.00",
        "currency": "INR",
        "status": "PENDING",
        "reason": "customer asked",
    }
    assert w.reserved == 10000
    [message] = [m for m in w.uow.store.outbox if m.topic == TOPIC_REFUND]
    assert message.refund_id == uuid.UUID(body["id"]) and message.payment_id == w.pid


def test_partial_refunds_up_to_the_amount_then_400() -> None:
    w = World()
    assert w.refund("30.00")["amount"] == "30.00"
    assert w.refund(Decimal("70"))["amount"] == "70.00"
    with pytest.raises(ValidationFailed, match=r"refundable remainder \(0.00\)"):
        w.refund("0.01")
    with pytest.raises(ValidationFailed, match="nothing is left"):
        w.refund()
    assert w.reserved == 10000


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "greater than zero"),
        (0, "greater than zero"),
        (Decimal("-5"), "greater than zero"),
        ("-5", "decimal number"),
        ("1.001", "at most 2 decimal places"),
        ("100.01", "refundable remainder"),
        (1.5, "decimal string or an exact number"),
        ("abc", "decimal number"),
    ],
)
def test_bad_amounts_are_400_and_store_nothing(amount: Any, message: str) -> None:
    w = World()
    with pytest.raises(ValidationFailed, match=message) as caught:
        w.refund(amount)
    assert caught.value.errors[0].field == "amount"
    assert w.reserved == 0 and not w.uow.store.refunds and not w.uow.store.idempotency.get(("c1", "r1"))


def test_an_overlong_reason_is_400() -> None:
    with pytest.raises(ValidationFailed, match="at most 255"):
        World().refund("1", reason="x" * 256)


def test_a_payment_not_completed_is_409_naming_its_status() -> None:
    w = World(complete=False)
    with pytest.raises(NotRefundable, match="this one is QUEUED"):
        w.refund("1")


def test_another_clients_payment_and_a_malformed_id_are_404() -> None:
    w = World()
    with pytest.raises(NotFound):
        w.refund("1", client="c2")
    command = RefundCommand(client_id="c1", idempotency_key="k", fingerprint="f", payment_id="nope")
    with pytest.raises(NotFound):
        request_refund(
            command,
            uow_factory=w.uow,
            rails=w.rails,
            clock=w.clock,
            policy=IntakePolicy(),
            render=accepted_refund_answer,
        )


class _NoRefunds(FakeRail):
    refunds: ClassVar[bool] = False
    partial_refunds: ClassVar[bool] = False


class _FullOnly(FakeRail):
    partial_refunds: ClassVar[bool] = False


def test_capabilities_are_read_from_the_rail_class() -> None:
    assert takes_refunds(FakeRail()) and takes_partial_refunds(FakeRail())
    assert not takes_refunds(_NoRefunds()) and not takes_partial_refunds(_NoRefunds())
    assert takes_refunds(_FullOnly()) and not takes_partial_refunds(_FullOnly())
    assert not takes_refunds(object())  # a rail that declares nothing takes no refunds


def test_a_rail_without_refunds_or_partial_refunds_is_409() -> None:
    with pytest.raises(NotRefundable, match="does not support refunds"):
        World(rail=_NoRefunds()).refund()
    w = World(rail=_FullOnly())
    with pytest.raises(NotRefundable, match="does not support partial refunds"):
        w.refund("10")
    assert w.refund()["amount"] == "100.00"


def test_same_key_same_request_replays_byte_for_byte_even_when_nothing_is_left() -> None:
    w = World()
    first = w.refund(key="same", fingerprint="f1")
    again = w.refund(key="same", fingerprint="f1")
    assert again["_replayed"] and {k: v for k, v in again.items() if k != "_replayed"} == {
        k: v for k, v in first.items() if k != "_replayed"
    }
    assert len(w.uow.store.refunds) == 1 and w.reserved == 10000
    with pytest.raises(IdempotencyConflict):
        w.refund(key="same", fingerprint="other")


# --- processing ---------------------------------------------------------------------------------------------


def test_success_posts_the_refund_entry_with_the_status_change() -> None:
    w = World()
    rid = w.refund("40.00")["id"]
    assert w.process(rid) is Disposition.DONE
    refund = w.stored(rid)
    assert refund.status is R.SUCCEEDED
    assert [h.to_status for h in refund.history] == [R.PENDING, R.PROCESSING, R.SUCCEEDED]
    entry = w.uow.store.entries[refund_entry_id(refund.id)]
    assert entry.kind is EntryKind.REFUND and entry.payment_id == w.pid
    assert [p.amount.minor for p in entry.postings] == [-4000, 4000, -4000, 4000]
    assert w.rail.refund_calls == [rid] and w.rail.refunds_done == {rid: 4000}
    assert w.reserved == 4000  # a succeeded refund keeps holding its part
    assert w.process(rid) is Disposition.DONE and w.rail.refund_calls == [rid]  # final: the rail is not asked again
    state = get_refund("c1", rid, uow_factory=w.uow)
    detail = msgspec.json.decode(refund_detail_body(state.refund, state.ledger_entry_id))
    assert detail["status"] == "SUCCEEDED" and detail["ledgerEntryId"] == str(entry.id)
    with pytest.raises(NotFound):
        get_refund("c2", rid, uow_factory=w.uow)


def test_a_declined_refund_fails_and_releases_its_reservation() -> None:
    w = World()
    w.rail.refund_script = [RefundResult(Outcome.DECLINED, "U30", "refund refused by the bank")]
    rid = w.refund("60.00")["id"]
    assert w.reserved == 6000
    assert w.process(rid) is Disposition.DONE
    refund = w.stored(rid)
    assert refund.status is R.FAILED and refund.failure_code == "U30"
    assert w.reserved == 0 and refund_entry_id(refund.id) not in w.uow.store.entries
    assert w.refund()["amount"] == "100.00"  # refundable again


def test_an_uncertain_answer_is_asked_again_under_the_same_reference_and_refunds_once() -> None:
    w = World()
    w.rail.uncertain_refunds = True  # the first call refunded, its answer was lost
    w.rail.refund_script = [RefundResult(Outcome.UNCERTAIN, "TIMEOUT", "no answer")]
    rid = w.refund("25.00")["id"]
    assert w.process(rid) is Disposition.RETRY
    assert w.stored(rid).status is R.PROCESSING
    w.clock.advance(61)
    assert w.process(rid) is Disposition.DONE
    assert w.rail.refund_calls == [rid, rid] and w.rail.refunds_done == {rid: 2500}
    assert w.stored(rid).status is R.SUCCEEDED


def test_transient_answers_past_the_budget_fail_when_no_money_moved() -> None:
    w = World(max_attempts=2)
    w.rail.refund_script = [RefundResult(Outcome.TRANSIENT, "503")] * 2
    rid = w.refund("10")["id"]
    assert w.process(rid) is Disposition.RETRY
    assert w.process(rid) is Disposition.EXHAUSTED
    assert w.stored(rid).status is R.FAILED and w.reserved == 0


def test_unclear_answers_past_the_budget_park_never_fail() -> None:
    w = World(max_attempts=2)
    w.rail.refund_script = [RefundResult(Outcome.UNCERTAIN, "TIMEOUT")] * 2
    rid = w.refund("10")["id"]
    assert w.process(rid) is Disposition.RETRY
    assert w.process(rid) is Disposition.PARKED
    refund = w.stored(rid)
    assert refund.status is R.PROCESSING and refund.is_parked and w.reserved == 1000
    assert w.process(rid) is Disposition.DONE and len(w.rail.refund_calls) == 2  # parked: left alone


def test_a_crash_after_the_claim_asks_again_and_the_budget_counts_it() -> None:
    w = World(max_attempts=2)
    rid = w.refund("10")["id"]
    # A worker claimed and started an attempt, then died before the rail answered.
    with w.uow() as uow:
        refund = uow.refunds.get(uuid.UUID(rid))
        assert refund is not None
        now = w.clock.now()
        refund.claim("dead", now, now + timedelta(seconds=30))
        refund.start_attempt(now)
        uow.refunds.save(refund)
        uow.commit()
    assert w.process(rid, worker="alive") is Disposition.SKIPPED  # its lease is live
    w.clock.advance(31)
    assert w.process(rid, worker="alive") is Disposition.DONE
    assert w.stored(rid).status is R.SUCCEEDED and w.rail.refunds_done == {rid: 1000}


def test_a_rail_that_raises_is_uncertain_not_failed() -> None:
    class Raising(FakeRail):
        def refund(self, request: Any, amount: Money, refund_reference: str) -> RefundResult:
            raise RuntimeError("boom")

    w = World(rail=Raising(), max_attempts=1)
    rid = w.refund("10")["id"]
    assert w.process(rid) is Disposition.PARKED
    assert w.stored(rid).status is R.PROCESSING and w.reserved == 1000


def test_the_relay_hands_refund_messages_to_the_queue_with_their_refund_id() -> None:
    w = World()
    rid = w.refund("10")["id"]
    queue = FakeQueue()
    relay_outbox(uow_factory=w.uow, queue=queue, clock=w.clock)
    assert [(m.topic, m.refund_id) for m in queue.messages if m.topic == TOPIC_REFUND] == [
        (TOPIC_REFUND, uuid.UUID(rid))
    ]


def test_refund_stalled_sweep_reschedules_a_dead_workers_refund() -> None:
    from flosspay.application.refund_relay import recover_stalled_refunds

    w = World()
    rid = uuid.UUID(w.refund("10")["id"])
    relay_outbox(uow_factory=w.uow, queue=FakeQueue(), clock=w.clock)
    with w.uow() as uow:
        refund = uow.refunds.get(rid)
        assert refund is not None
        refund.claim("dead", w.clock.now(), w.clock.now() + timedelta(seconds=30))
        uow.refunds.save(refund)
        uow.commit()
    assert recover_stalled_refunds(uow_factory=w.uow, clock=w.clock) == 0
    w.clock.advance(31)
    assert recover_stalled_refunds(uow_factory=w.uow, clock=w.clock) == 1
    assert recover_stalled_refunds(uow_factory=w.uow, clock=w.clock) == 0  # its message is waiting
    assert w.uow.store.outbox[-1].refund_id == rid


# --- the property: whatever is asked, refunded ≤ paid --------------------------------------------------------

_amounts = st.one_of(
    st.none(),
    st.integers(min_value=-5, max_value=120).map(str),
    st.decimals(min_value=Decimal("-1"), max_value=Decimal("120"), places=2, allow_nan=False),
    st.sampled_from(["0.001", "1e3", "", "50.5"]),
)
_steps = st.lists(
    st.tuples(st.sampled_from(["request", "process", "decline-next", "uncertain-next"]), _amounts), max_size=25
)


@settings(max_examples=150, deadline=None)
@given(_steps)
def test_any_sequence_of_refund_requests_keeps_refunded_within_paid(steps: list[tuple[str, Any]]) -> None:
    w = World()
    w.rail.uncertain_refunds = True
    ids: list[str] = []
    for action, amount in steps:
        if action == "request":
            with contextlib.suppress(ValidationFailed):
                ids.append(w.refund(amount)["id"])
        elif action == "process":
            for rid in ids:
                w.clock.advance(61)
                w.process(rid)
        elif action == "decline-next":
            w.rail.refund_script.append(RefundResult(Outcome.DECLINED, "U30"))
        else:
            w.rail.refund_script.append(RefundResult(Outcome.UNCERTAIN, "TIMEOUT"))
        refunds = list(w.uow.store.refunds.values())
        held = sum(r.amount.minor for r in refunds if r.status is not R.FAILED)
        succeeded = sum(r.amount.minor for r in refunds if r.status is R.SUCCEEDED)
        assert w.reserved == held <= 10000
        assert succeeded <= 10000
        assert sum(w.rail.refunds_done.values()) <= 10000
        ledger = sum(e.postings[-1].amount.minor for e in w.uow.store.entries.values() if e.kind is EntryKind.REFUND)
        assert ledger == succeeded
    assert w.uow.store.payments[w.pid].status is PaymentStatus.COMPLETED


def test_a_rail_result_type_guard() -> None:
    class Wrong(FakeRail):
        def refund(self, request: Any, amount: Money, refund_reference: str) -> Any:
            return RailResult(Outcome.COMPLETED)

    w = World(rail=Wrong(), max_attempts=1)
    rid = w.refund("10")["id"]
    assert w.process(rid) is Disposition.PARKED and w.stored(rid).status is R.PROCESSING


def test_a_parked_refund_is_listed_and_requeued_once_and_then_refunds_once() -> None:
    from flosspay.application.refunds import parked_refunds, requeue_refund

    w = World(max_attempts=1)
    w.rail.uncertain_refunds = True
    w.rail.refund_script = [RefundResult(Outcome.UNCERTAIN, "TIMEOUT")]
    rid = w.refund("10")["id"]
    assert w.process(rid) is Disposition.PARKED
    assert [str(r.id) for r in parked_refunds(uow_factory=w.uow)] == [rid]
    assert requeue_refund(uuid.UUID(rid), uow_factory=w.uow, clock=w.clock) is True
    assert requeue_refund(uuid.UUID(rid), uow_factory=w.uow, clock=w.clock) is False
    assert parked_refunds(uow_factory=w.uow) == []
    assert w.process(rid) is Disposition.DONE
    assert w.stored(rid).status is R.SUCCEEDED and w.rail.refunds_done == {rid: 1000}
