import uuid
from datetime import timedelta

import pytest

from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.application.process import Disposition, process_payment
from flosspay.application.relay import recover_stalled, relay_outbox
from flosspay.domain.payment import AttemptOutcome, Flow, PaymentStatus
from flosspay.domain.rail import Outcome, RailResult
from tests.fakes import FakeClock, FakeQueue, FakeRail, FakeRailRegistry, FakeUnitOfWorkFactory

pytestmark = pytest.mark.unit
S = PaymentStatus


class World:
    def __init__(self, *script: RailResult, flow: Flow = Flow.PAY, max_attempts: int = 3) -> None:
        self.uow = FakeUnitOfWorkFactory()
        self.rail = FakeRail(*script)
        self.rails = FakeRailRegistry(self.rail)
        self.clock = FakeClock()
        self.policy = ProcessingPolicy(
            max_attempts=max_attempts, lease=timedelta(seconds=30), poll_interval=timedelta(seconds=2)
        )
        intent = PaymentIntent(
            "c1", "k", "fp", "UPI", flow, 100, "INR", {"senderUpi": "alice@upi", "receiverUpi": "bob@upi"}
        )
        accepted = accept_payment(
            intent, uow_factory=self.uow, rails=self.rails, clock=self.clock, policy=IntakePolicy(), **HTTP_INTAKE
        )
        self.pid = uuid.UUID(accepted.payment_id)

    def run(self, worker="w1"):
        return process_payment(
            self.pid,
            worker=worker,
            uow_factory=self.uow,
            rails=self.rails,
            clock=self.clock,
            policy=self.policy,
        )

    @property
    def payment(self):
        return self.uow.store.payments[self.pid]


def test_success_first_time():
    w = World()
    assert w.run().disposition is Disposition.DONE
    p = w.payment
    assert p.status is S.COMPLETED and w.rail.calls == [("execute", str(w.pid))]
    assert [(a.number, a.action, a.outcome, a.code) for a in p.attempts] == [
        (1, "execute", AttemptOutcome.COMPLETED, "00")
    ]
    assert [h.to_status for h in p.history] == [S.QUEUED, S.PROCESSING, S.COMPLETED]
    assert p.history[-1].attempt == 1 and p.lease_owner is None


def test_final_payment_is_left_alone():
    w = World()
    w.run()
    result = w.run()
    assert result.disposition is Disposition.DONE and "already COMPLETED" in result.detail
    assert len(w.rail.calls) == 1


def test_unknown_payment_is_acknowledged():
    w = World()
    w.pid = uuid.uuid4()
    assert w.run().disposition is Disposition.DONE and w.rail.calls == []


def test_decline_fails_at_once_with_rail_code():
    w = World(RailResult(Outcome.DECLINED, "Z9", "insufficient funds"))
    assert w.run().disposition is Disposition.DONE
    p = w.payment
    assert (p.status, p.failure_code, p.failure_reason) == (S.FAILED, "Z9", "insufficient funds")
    assert len(p.attempts) == 1


def test_transient_then_success_asks_status_before_executing_again():
    w = World(RailResult(Outcome.TRANSIENT, "UP", "psp timeout"))
    first = w.run()
    assert first.disposition is Disposition.RETRY and w.payment.status is S.PROCESSING
    assert w.payment.lease_owner is None
    assert w.run().disposition is Disposition.DONE
    assert w.rail.calls == [("execute", str(w.pid)), ("status", str(w.pid)), ("execute", str(w.pid))]
    assert [a.outcome for a in w.payment.attempts] == [AttemptOutcome.TRANSIENT, AttemptOutcome.COMPLETED]
    assert w.payment.attempts[1].action == "status"
    assert w.payment.status is S.COMPLETED and w.rail.charged[str(w.pid)] == 1


def test_uncertain_is_resolved_by_status_not_a_second_charge():
    w = World(RailResult(Outcome.UNCERTAIN, "RB", "deemed"))
    w.rail.charged[str(w.pid)] = 1  # the rail did debit
    assert w.run().disposition is Disposition.RETRY
    assert w.run().disposition is Disposition.DONE
    assert w.payment.status is S.COMPLETED
    assert [c[0] for c in w.rail.calls] == ["execute", "status"] and w.rail.charged[str(w.pid)] == 1


def test_exhausted_after_max_attempts():
    w = World(*[RailResult(Outcome.TRANSIENT, "UP", "psp timeout")] * 10, max_attempts=3)
    assert [w.run().disposition for _ in range(3)] == [Disposition.RETRY, Disposition.RETRY, Disposition.EXHAUSTED]
    p = w.payment
    assert p.status is S.FAILED and p.failure_code == "UP" and "gave up after 3 attempts" in p.failure_reason
    assert w.run().disposition is Disposition.DONE


def test_the_budget_is_the_payments_own_attempts_not_how_often_it_was_delivered():
    # CI, fault case 4: nine deliveries spent on a PostgreSQL restart never reached the rail; the
    # tenth met one UNCERTAIN answer and parked the payment. Only attempts at the rail count.
    w = World(RailResult(Outcome.UNCERTAIN, "RB", "x"), max_attempts=5)
    for _ in range(9):
        with pytest.raises(OSError):
            process_payment(w.pid, worker="w1", uow_factory=_down, rails=w.rails, clock=w.clock, policy=w.policy)
    assert w.run().disposition is Disposition.RETRY
    assert not w.payment.is_parked and not w.payment.is_final and len(w.payment.attempts) == 1


def _down():  # a unit of work whose database is unreachable
    raise OSError("database unavailable")


def test_crash_after_start_is_recovered_by_status_query():
    w = World()
    relay_outbox(uow_factory=w.uow, queue=FakeQueue(), clock=w.clock)
    # worker 1 claims and records the attempt start, then "dies" (simulated by stopping after step 1)
    p = w.payment
    p.claim("dead", w.clock.now(), w.clock.now() + timedelta(seconds=30))
    p.start_attempt(w.clock.now())
    w.rail.charged[str(w.pid)] = 1  # the rail had charged before the crash
    assert w.run("w2").disposition is Disposition.SKIPPED  # lease still live
    w.clock.advance(31)
    assert recover_stalled(uow_factory=w.uow, clock=w.clock) == 1
    assert recover_stalled(uow_factory=w.uow, clock=w.clock) == 0  # its message is waiting now
    assert w.run("w2").disposition is Disposition.DONE
    assert w.rail.calls == [("status", str(w.pid))]
    assert w.payment.status is S.COMPLETED and w.rail.charged[str(w.pid)] == 1


def test_rail_that_raises_is_treated_as_uncertain():
    w = World()

    def boom(request):
        raise RuntimeError("secret-token in message")

    w.rail.execute = boom
    result = w.run()
    assert result.disposition is Disposition.RETRY
    attempt = w.payment.attempts[0]
    assert attempt.outcome is AttemptOutcome.UNCERTAIN and attempt.code == "RAIL_ERROR"
    assert "secret-token" not in (attempt.reason or "")


def test_rail_returning_garbage_is_uncertain():
    w = World()
    w.rail.execute = lambda request: "ok"
    assert w.run().disposition is Disposition.RETRY
    assert w.payment.attempts[0].code == "RAIL_ERROR"


def test_disabled_rail_is_transient():
    w = World()
    w.rails.rails.clear()
    assert w.run().disposition is Disposition.RETRY
    assert w.payment.attempts[0].code == "RAIL_DISABLED"


def test_collect_pending_then_approved_polls_through_outbox():
    w = World(RailResult(Outcome.PENDING), RailResult(Outcome.PENDING), flow=Flow.COLLECT)
    assert w.run().disposition is Disposition.SCHEDULED
    store = w.uow.store
    assert len(store.outbox) == 2 and store.outbox[-1].available_at == w.clock.now() + timedelta(seconds=2)
    assert w.payment.status is S.PROCESSING and w.payment.lease_owner is None
    assert w.run().disposition is Disposition.SCHEDULED
    w.rail.charged[str(w.pid)] = 1
    assert w.run().disposition is Disposition.DONE
    p = w.payment
    assert p.status is S.COMPLETED and len(p.attempts) == 1  # polls continue the same attempt
    assert [h.to_status for h in p.history] == [S.REQUESTED, S.PROCESSING, S.COMPLETED]


@pytest.mark.parametrize(("outcome", "status"), [(Outcome.PAYER_DECLINED, S.DECLINED), (Outcome.EXPIRED, S.EXPIRED)])
def test_collect_payer_outcomes(outcome, status):
    w = World(
        RailResult(outcome, "ZA" if outcome is Outcome.PAYER_DECLINED else "U69", "payer said no"), flow=Flow.COLLECT
    )
    assert w.run().disposition is Disposition.DONE
    assert w.payment.status is status and w.payment.failure_code in ("ZA", "U69")


@pytest.mark.parametrize(("outcome", "status"), [(Outcome.PAYER_DECLINED, S.DECLINED), (Outcome.EXPIRED, S.EXPIRED)])
def test_payer_outcomes_on_a_push_payment_end_it_declined_or_expired(outcome, status):
    w = World(RailResult(outcome, "CUSTOMER_DECLINED", "no"))
    w.run()
    assert w.payment.status is status and w.payment.failure_code == "CUSTOMER_DECLINED"
    assert [h.to_status for h in w.payment.history] == [S.QUEUED, S.PROCESSING, status]


@pytest.mark.parametrize(("outcome", "status"), [(Outcome.PAYER_DECLINED, S.DECLINED), (Outcome.EXPIRED, S.EXPIRED)])
def test_a_customer_who_was_sent_to_act_declines_or_never_answers(outcome, status):
    """A redirect flow (net banking): ACTION_REQUIRED, then the customer's answer settles it by status query."""
    w = World(RailResult(Outcome.ACTION_REQUIRED, "PENDING", "at the bank"), RailResult(outcome, "SESSION", "no"))
    assert w.run().disposition is Disposition.SCHEDULED
    assert w.payment.status is S.ACTION_REQUIRED
    assert w.run().disposition is Disposition.DONE
    assert w.payment.status is status and w.payment.failure_code == "SESSION"
    assert [h.to_status for h in w.payment.history] == [S.QUEUED, S.PROCESSING, S.ACTION_REQUIRED, S.PROCESSING, status]


def test_collect_expires_when_payer_never_answers():
    w = World(*[RailResult(Outcome.PENDING)] * 5, flow=Flow.COLLECT)
    assert w.run().disposition is Disposition.SCHEDULED
    w.clock.advance(30 * 60 + 11)
    assert w.run().disposition is Disposition.DONE
    assert w.payment.status is S.EXPIRED and w.payment.failure_code == "EXPIRED"


def test_action_required_then_completed():
    w = World(RailResult(Outcome.ACTION_REQUIRED, "3DS", "3-D Secure required"))
    assert w.run().disposition is Disposition.SCHEDULED
    assert w.payment.status is S.ACTION_REQUIRED
    w.rail.charged[str(w.pid)] = 1
    assert w.run().disposition is Disposition.DONE
    assert [h.to_status for h in w.payment.history] == [
        S.QUEUED,
        S.PROCESSING,
        S.ACTION_REQUIRED,
        S.PROCESSING,
        S.COMPLETED,
    ]


def test_relay_moves_due_messages_once():
    w = World()
    queue = FakeQueue()
    assert relay_outbox(uow_factory=w.uow, queue=queue, clock=w.clock) == 1
    assert [m.payment_id for m in queue.messages] == [w.pid]
    assert relay_outbox(uow_factory=w.uow, queue=queue, clock=w.clock) == 0


def test_relay_keeps_messages_when_broker_down():
    w = World()
    with pytest.raises(ConnectionError):
        relay_outbox(uow_factory=w.uow, queue=FakeQueue(fail=True), clock=w.clock)
    queue = FakeQueue()
    assert relay_outbox(uow_factory=w.uow, queue=queue, clock=w.clock) == 1


def test_relay_waits_for_scheduled_messages():
    w = World(RailResult(Outcome.PENDING), flow=Flow.COLLECT)
    queue = FakeQueue()
    relay_outbox(uow_factory=w.uow, queue=queue, clock=w.clock)
    w.run()
    assert relay_outbox(uow_factory=w.uow, queue=queue, clock=w.clock) == 0
    w.clock.advance(2)
    assert relay_outbox(uow_factory=w.uow, queue=queue, clock=w.clock) == 1


def test_lost_message_is_rescheduled_after_idle_period():
    w = World()
    relay_outbox(uow_factory=w.uow, queue=FakeQueue(), clock=w.clock)  # the message is then lost
    assert recover_stalled(uow_factory=w.uow, clock=w.clock, idle_after=timedelta(minutes=5)) == 0
    w.clock.advance(5 * 60 + 1)
    assert recover_stalled(uow_factory=w.uow, clock=w.clock, idle_after=timedelta(minutes=5)) == 1
    assert recover_stalled(uow_factory=w.uow, clock=w.clock, idle_after=timedelta(minutes=5)) == 0


def test_restart_of_in_process_queue_reschedules_every_unfinished_payment():
    w = World()
    relay_outbox(uow_factory=w.uow, queue=FakeQueue(), clock=w.clock)
    w.clock.advance(0.001)
    assert recover_stalled(uow_factory=w.uow, clock=w.clock, idle_after=timedelta(0)) == 1
    w.run()
    w.clock.advance(3600)
    assert recover_stalled(uow_factory=w.uow, clock=w.clock, idle_after=timedelta(0)) == 0  # final now


class _Meddling:
    """A rail that lets ``meddle`` change the payment while the rail call is in flight."""

    def __init__(self, world: World, meddle) -> None:
        self.world, self.meddle, self.inner = world, meddle, world.rail

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def execute(self, request):
        meddle, self.meddle = self.meddle, None
        if meddle is not None:
            meddle()
        return self.inner.execute(request)


def _with_rail(w: World, rail) -> None:
    w.rails = FakeRailRegistry(rail)


def test_a_payment_taken_over_while_the_rail_answered_is_left_to_its_new_owner():
    w = World()

    def take_over():  # the lease lapses; another worker claims it and finishes it first
        w.clock.advance(31)
        assert w.run("w2").disposition is Disposition.DONE

    _with_rail(w, _Meddling(w, take_over))
    result = w.run("w1")
    assert result.disposition is Disposition.SKIPPED and "lease lost" in result.detail
    p = w.payment
    assert p.status is S.COMPLETED and [h.to_status for h in p.history] == [S.QUEUED, S.PROCESSING, S.COMPLETED]
    assert len(w.uow.store.entries) == 1  # one journal entry: the new owner's


def test_a_payment_changed_but_still_leased_to_us_is_read_again_and_recorded():
    w = World()

    def touch():  # someone saves the payment (a new version) without taking the lease
        with w.uow() as uow:
            stored = uow.payments.get(w.pid)
            assert stored is not None and stored.lease_owner == "w1"
            uow.payments.save(stored)
            uow.commit()

    _with_rail(w, _Meddling(w, touch))
    result = w.run("w1")
    assert result.disposition is Disposition.DONE
    p = w.payment
    assert p.status is S.COMPLETED and p.version == 4 and len(w.uow.store.entries) == 1
    assert [(a.number, a.outcome) for a in p.attempts] == [(1, AttemptOutcome.COMPLETED)]
