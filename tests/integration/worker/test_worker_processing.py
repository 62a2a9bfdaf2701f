"""The process_payment actor on a real Redis broker: retries, final failures, dead letters, requeue."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta

import pytest

from flosspay.adapters.worker.dead_letters import list_dead_letters, requeue_dead_letters
from flosspay.adapters.worker.runner import EmbeddedWorker
from flosspay.application.relay import recover_stalled, relay_outbox
from flosspay.domain.payment import AttemptOutcome, PaymentStatus
from flosspay.domain.rail import Outcome, RailResult
from tests.fakes import FakeClock, FakeRail, FakeUnitOfWork, FakeUnitOfWorkFactory

from .support import RedisSetup, accept, make_services, running, stored, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.redis]

TRANSIENT = RailResult(Outcome.TRANSIENT, "91", "issuer timed out")
DECLINED = RailResult(Outcome.DECLINED, "U30", "debit failed at the remitter bank")
SECRET = "hunter2-secret"


class FlakyUnitOfWorkFactory:
    """A database that is down for the next ``failures`` transactions (raises like a driver would)."""

    def __init__(self, inner: FakeUnitOfWorkFactory, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.lock = threading.Lock()

    def __call__(self) -> FakeUnitOfWork:
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                raise ConnectionError(f"could not connect to postgresql://flosspay:{SECRET}@db/flosspay")
        return self.inner()


def _settled(rq: RedisSetup) -> bool:
    return rq.pending_count() == 0


def test_transient_twice_then_success_completes_on_the_third_attempt(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(TRANSIENT, TRANSIENT)
    services = make_services(uow, rail, max_attempts=3)
    payment_id = accept(uow, rail)

    with running(services, rq.broker(services)):
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: _settled(rq), what="the message to be acknowledged")

    payment = stored(uow, payment_id)
    assert payment.status is PaymentStatus.COMPLETED
    assert [a.outcome for a in payment.attempts] == [
        AttemptOutcome.TRANSIENT,
        AttemptOutcome.TRANSIENT,
        AttemptOutcome.COMPLETED,
    ]
    assert rail.charged == {payment_id: 1}
    assert rq.dead_letter_count() == 0


def test_permanent_decline_fails_at_once_with_the_rail_code(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(DECLINED)
    services = make_services(uow, rail, max_attempts=3)
    payment_id = accept(uow, rail)

    with running(services, rq.broker(services)):
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: _settled(rq), what="the message to be acknowledged")

    payment = stored(uow, payment_id)
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure_code == "U30"
    assert [a.outcome for a in payment.attempts] == [AttemptOutcome.DECLINED]
    assert rail.calls == [("execute", payment_id)]
    assert rq.dead_letter_count() == 0


def test_always_transient_fails_the_payment_and_dead_letters_the_message(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(*[TRANSIENT] * 10)
    services = make_services(uow, rail, max_attempts=3)
    payment_id = accept(uow, rail)

    with running(services, rq.broker(services)):
        wait_for(lambda: rq.dead_letter_count() == 1, what="the message to be dead-lettered")
        wait_for(lambda: _settled(rq), what="the queue to drain")

    payment = stored(uow, payment_id)
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure_code == "91"
    assert len(payment.attempts) == 3
    assert all(a.outcome is AttemptOutcome.TRANSIENT for a in payment.attempts)
    assert len(rail.calls) == 3

    broker = rq.broker(services)
    [letter] = list_dead_letters(broker)
    assert letter.payment_id == payment_id
    assert letter.retries == 2
    assert letter.died_at is not None

    # Requeue: the message leaves the dead-letter set and is acknowledged without a rail call.
    assert requeue_dead_letters(broker, payment_id) == 1
    assert rq.dead_letter_count() == 0
    assert rq.client.llen(f"{rq.namespace}:payments") == 1
    with running(services, rq.broker(services)):
        wait_for(lambda: _settled(rq), what="the requeued message to be acknowledged")
    assert rq.dead_letter_count() == 0
    assert len(rail.calls) == 3
    assert stored(uow, payment_id).status is PaymentStatus.FAILED


def test_database_outage_is_retried_and_never_logs_the_error_text(
    rq: RedisSetup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    payment_id = accept(uow, rail)
    services = make_services(FlakyUnitOfWorkFactory(uow, failures=2), rail, max_attempts=3)

    with running(services, rq.broker(services), relay=False) as worker:
        worker.actor.send(payment_id)
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: _settled(rq), what="the message to be acknowledged")

    assert stored(uow, payment_id).status is PaymentStatus.COMPLETED
    assert rail.charged == {payment_id: 1}
    assert "ConnectionError while processing, will retry" in caplog.text
    assert SECRET not in caplog.text


def test_database_down_for_every_delivery_leaves_the_payment_to_the_stalled_sweep(rq: RedisSetup) -> None:
    """An outage spends the message's deliveries, not the payment's budget (CI, fault case 4).

    The last delivery is acknowledged rather than dead-lettered; the payment stays as it was, with
    no attempt used, and the stalled sweep hands it back once the database answers again.
    """
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    payment_id = accept(uow, rail)
    flaky = FlakyUnitOfWorkFactory(uow, failures=3)
    services = make_services(flaky, rail, max_attempts=3)

    with running(services, rq.broker(services), relay=False) as worker:
        assert relay_outbox(uow_factory=uow, queue=worker.queue, clock=services.clock) == 1
        wait_for(lambda: flaky.failures == 0 and _settled(rq), what="three deliveries to meet the outage")
        assert rq.dead_letter_count() == 0
        payment = stored(uow, payment_id)
        assert payment.status is PaymentStatus.QUEUED and payment.attempts == [] and not payment.is_parked

        # The database is back: the sweep reschedules it and the payment goes through, once.
        assert recover_stalled(uow_factory=uow, clock=services.clock, idle_after=timedelta(0)) == 1
        assert relay_outbox(uow_factory=uow, queue=worker.queue, clock=services.clock) == 1
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: _settled(rq), what="the message to be acknowledged")

    assert stored(uow, payment_id).status is PaymentStatus.COMPLETED
    assert rail.charged == {payment_id: 1}
    assert rq.dead_letter_count() == 0


def test_message_for_a_final_payment_is_acknowledged_without_calling_the_rail(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = make_services(uow, rail)
    payment_id = accept(uow, rail)

    with running(services, rq.broker(services)) as worker:
        wait_for(lambda: stored(uow, payment_id).is_final, what="the payment to finish")
        wait_for(lambda: _settled(rq), what="the first message to be acknowledged")
        calls_before = list(rail.calls)
        version_before = stored(uow, payment_id).version

        worker.actor.send(payment_id)
        assert rq.pending_count() == 1
        wait_for(lambda: _settled(rq), what="the duplicate message to be acknowledged")

    assert rail.calls == calls_before == [("execute", payment_id)]
    assert stored(uow, payment_id).version == version_before
    assert rq.dead_letter_count() == 0


def test_a_message_without_a_payment_id_is_dead_lettered_without_retries(rq: RedisSetup) -> None:
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail()
    services = make_services(uow, rail)
    broker = rq.broker(services)
    worker = EmbeddedWorker(services, broker, threads=1, worker_timeout_ms=100, relay=False)

    worker.actor.send("not-a-uuid")
    worker.start()
    try:
        wait_for(lambda: rq.dead_letter_count() == 1, what="the message to be dead-lettered")
    finally:
        worker.stop(5)

    [letter] = list_dead_letters(broker)
    assert letter.payment_id == "not-a-uuid"
    assert letter.retries == 0
    assert rail.calls == []
    assert uuid.UUID(letter.message_id)


def test_a_transient_answer_on_the_last_delivery_leaves_the_payment_to_the_stalled_sweep(rq: RedisSetup) -> None:
    """Two deliveries met the outage, the third a transient answer: one attempt of three is spent.

    Not FAILED (the budget is the payment's own) and not left with nobody to retry it: the
    acknowledged payment is due back when its retry window lapses, and the sweep finds it then.
    """
    uow = FakeUnitOfWorkFactory()
    rail = FakeRail(TRANSIENT)
    payment_id = accept(uow, rail)
    services = make_services(FlakyUnitOfWorkFactory(uow, failures=2), rail, max_attempts=3)

    with running(services, rq.broker(services), relay=False) as worker:
        assert relay_outbox(uow_factory=uow, queue=worker.queue, clock=services.clock) == 1
        wait_for(lambda: len(stored(uow, payment_id).attempts) == 1 and _settled(rq), what="the third delivery")

    payment = stored(uow, payment_id)
    assert not payment.is_final and not payment.is_parked and rq.dead_letter_count() == 0
    assert [a.outcome for a in payment.attempts] == [AttemptOutcome.TRANSIENT]
    assert payment.lease_owner is None and payment.lease_expires_at is not None
    later = FakeClock(payment.lease_expires_at + timedelta(seconds=1))
    assert recover_stalled(uow_factory=uow, clock=later, idle_after=timedelta(minutes=5)) == 1
