"""The worker's actor on a Dramatiq StubBroker: an outage spends deliveries, never the payment's budget.

CI, fault case 4 (a PostgreSQL restart under load): nine deliveries of one message failed on the
database, the tenth met one UNCERTAIN answer, and the payment was parked as if its budget were spent.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from flosspay.adapters.http.payments import HTTP_INTAKE
from flosspay.adapters.worker.actors import declare_actors
from flosspay.adapters.worker.services import WorkerServices
from flosspay.application.accept_payment import PaymentIntent, accept_payment
from flosspay.application.policies import IntakePolicy, ProcessingPolicy
from flosspay.application.relay import recover_stalled, relay_outbox
from flosspay.domain.payment import Flow, PaymentStatus
from flosspay.domain.rail import Outcome, RailResult
from tests.fakes import FakeClock, FakeQueue, FakeRail, FakeRailRegistry, FakeUnitOfWorkFactory

pytestmark = pytest.mark.unit


class FlakyDatabase:
    """The fake unit of work, unreachable for the first ``down`` units of work asked for."""

    def __init__(self, inner: FakeUnitOfWorkFactory, down: int) -> None:
        self.inner = inner
        self.down = down

    def __call__(self):  # type: ignore[no-untyped-def]
        if self.down > 0:
            self.down -= 1
            raise OSError("database unavailable")
        return self.inner()


def _run(down: int, *script: RailResult, max_attempts: int = 5):  # type: ignore[no-untyped-def]
    store = FakeUnitOfWorkFactory()
    rail = FakeRail(*script)
    rails = FakeRailRegistry(rail)
    clock = FakeClock()
    intent = PaymentIntent(
        "c1", "k", "fp", "UPI", Flow.PAY, 100, "INR", {"senderUpi": "deemed@upi", "receiverUpi": "shop@upi"}
    )
    pid = uuid.UUID(
        accept_payment(
            intent, uow_factory=store, rails=rails, clock=clock, policy=IntakePolicy(), **HTTP_INTAKE
        ).payment_id
    )
    policy = ProcessingPolicy(
        max_attempts=max_attempts, lease=timedelta(seconds=30), poll_interval=timedelta(seconds=2)
    )
    services = WorkerServices(
        uow_factory=FlakyDatabase(store, down),
        rails=rails,
        clock=clock,
        policy=policy,
        worker_id="t",
        min_backoff_ms=1,
        max_backoff_ms=2,
    )
    relay_outbox(uow_factory=store, queue=FakeQueue(), clock=clock)  # the relay handed it to the broker
    broker = StubBroker()
    broker.emit_after("process_boot")
    actor = declare_actors(broker, services)
    worker = dramatiq.Worker(broker, worker_timeout=10, worker_threads=1)
    worker.start()
    try:
        actor.send(str(pid))
        broker.join(actor.queue_name, timeout=10_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()
    with store() as uow:
        payment = uow.payments.get(pid)
    return payment, broker, store, clock


def test_deliveries_spent_on_an_outage_do_not_park_a_payment_after_one_uncertain_answer() -> None:
    # 5 deliveries in all (4 retries); the first 4 meet the outage, the last one an UNCERTAIN answer.
    payment, broker, store, clock = _run(4, RailResult(Outcome.UNCERTAIN, "RB", "x"))
    assert payment is not None
    assert not payment.is_parked and not payment.is_final and len(payment.attempts) == 1
    # Acknowledged, not left in the broker's dead-letter set: the stalled sweep takes it from here.
    assert broker.dead_letters == []
    clock.advance(3600)
    assert recover_stalled(uow_factory=store, clock=clock, idle_after=timedelta(minutes=5)) == 1


def test_a_payment_whose_own_budget_is_spent_still_fails() -> None:
    transient = RailResult(Outcome.TRANSIENT, "UP", "psp timeout")
    payment, broker, _, _ = _run(0, *[transient] * 5, max_attempts=3)
    assert payment is not None and payment.status is PaymentStatus.FAILED
    assert "gave up after 3 attempts" in (payment.failure_reason or "")
    assert len(broker.dead_letters) == 1
